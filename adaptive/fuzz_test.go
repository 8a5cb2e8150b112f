package adaptive_test

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/herz-go/herz/adaptive"
)

// FuzzReadKernel feeds arbitrary content to every sysctl file: ReadKernel must
// not panic, must return a usable Kernel, and must report exactly the files it
// could not use.
func FuzzReadKernel(f *testing.F) {
	f.Add("60\n", "7200\n", "75\n", "9\n", "15\n", "6\n", "432000\n", "32768\t60999\n")
	f.Add("60\n", "7200\n", "75\n", "9\n", "15\n", "6\n", "5\n", "32768\t60999\n")
	f.Add("30", "600\n", " 30 ", "5\n", "8\n", "3\n", "3600\n", "1024 65535\n")
	f.Add("sixty\n", "-1\n", "0\n", "256\n", "", " \n", "five\n", "1024,65000\n")
	f.Add("99999999999999999999999\n", "2147483648\n", "2147483647\n", "0", "0", "128\n", "0\n", "60999 32768")
	f.Add("0x3c\n", strings.Repeat("6", 100), "1e3", "+5", "٣", "6 7\n", "-5", "  1024   65000  \n")
	for _, tt := range portRangeTests {
		f.Add("60\n", "7200\n", "75\n", "9\n", "15\n", "6\n", "\x00", tt.in)
	}
	f.Fuzz(func(t *testing.T, fin, kaTime, kaIntvl, kaProbes, retries2, synRetries, conntrack, ports string) {
		files := map[string]string{
			adaptive.FileFinTimeout: fin, adaptive.FileKeepaliveTime: kaTime, adaptive.FileKeepaliveIntvl: kaIntvl,
			adaptive.FileKeepaliveProbes: kaProbes, adaptive.FileRetries2: retries2, adaptive.FileSynRetries: synRetries,
			adaptive.FileConntrack: conntrack, adaptive.FilePortRange: ports,
		}
		fsys := fstest.MapFS{}
		for name, content := range files {
			if content != "\x00" { // "\x00" alone stands for a missing file
				fsys[name] = &fstest.MapFile{Data: []byte(content)}
			}
		}
		k, err := adaptive.ReadKernel(fsys)
		if k.FinTimeout < s || k.KeepaliveTime < s || k.KeepaliveIntvl < s || k.KeepaliveProbes < 0 || k.Retries2 < 0 ||
			k.SynRetries < 1 || k.ConntrackEstablished < 0 || k.PortRangeLow < 1 || k.PortRangeLow > k.PortRangeHigh || k.PortRangeHigh > 65535 {
			t.Fatalf("ReadKernel returned an unusable Kernel %+v", k)
		}
		bad := map[string]bool{}
		for _, e := range unjoin(err) {
			var se *adaptive.SettingError
			if !errors.As(e, &se) || !errors.Is(e, adaptive.ErrParse) || !strings.HasPrefix(e.Error(), "herz/adaptive: "+se.File+": ") {
				t.Fatalf("problem %v is not a SettingError wrapping ErrParse", e)
			}
			bad[se.File] = true
		}
		// Every file is reported iff it is present and not a number (two for
		// the port range) in the kernel's own range; a missing conntrack
		// file is not reported.
		ranges := map[string][2]int64{
			adaptive.FileFinTimeout: {1, math.MaxInt32}, adaptive.FileKeepaliveTime: {1, math.MaxInt32},
			adaptive.FileKeepaliveIntvl: {1, math.MaxInt32}, adaptive.FileConntrack: {1, math.MaxInt32},
			adaptive.FileKeepaliveProbes: {0, 255}, adaptive.FileRetries2: {0, 255}, adaptive.FileSynRetries: {1, 127},
		}
		for name, content := range files {
			var perr error
			switch {
			case content == "\x00":
				perr = errors.New("missing")
			case len(content) > 64:
				perr = errors.New("too long")
			case name == adaptive.FilePortRange:
				_, _, perr = adaptive.ParsePortRange(content)
			default:
				_, perr = adaptive.ParseInt(content, ranges[name][0], ranges[name][1])
			}
			wantBad := perr != nil && !(name == adaptive.FileConntrack && content == "\x00")
			if bad[name] != wantBad {
				t.Fatalf("%s = %q: reported %v, want %v; error: %v", name, content, bad[name], wantBad, err)
			}
		}
		checkProfile(t, adaptive.Derive(k))
	})
}

// unjoin returns the problems joined in err.
func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// FuzzParseInt checks parseInt against strconv and its range contract.
func FuzzParseInt(f *testing.F) {
	for _, in := range []string{"60\n", "  7200\t\n", "+5", "0", "255", "-1", "", "1.5", "1_000", "٣", "9223372036854775808", "0x10"} {
		f.Add(in, int64(0), int64(math.MaxInt32))
	}
	f.Fuzz(func(t *testing.T, in string, lo, hi int64) {
		v, err := adaptive.ParseInt(in, lo, hi)
		want, serr := strconv.ParseInt(strings.TrimSpace(in), 10, 64)
		switch {
		case err == nil && (v < lo || v > hi || serr != nil || v != want):
			t.Fatalf("parseInt(%q, %d, %d) = %d, accepted; strconv: %d, %v", in, lo, hi, v, want, serr)
		case err != nil && serr == nil && want >= lo && want <= hi:
			t.Fatalf("parseInt(%q, %d, %d) rejected a valid number: %v", in, lo, hi, err)
		}
	})
}

// FuzzParsePortRange checks parsePortRange's contract on arbitrary input.
func FuzzParsePortRange(f *testing.F) {
	for _, tt := range portRangeTests {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		low, high, err := adaptive.ParsePortRange(in)
		if err != nil {
			if low != 0 || high != 0 {
				t.Fatalf("parsePortRange(%q) = %d, %d with error %v", in, low, high, err)
			}
			return
		}
		if low < 1 || low > high || high > 65535 || len(strings.Fields(in)) != 2 {
			t.Fatalf("parsePortRange(%q) accepted %d-%d", in, low, high)
		}
	})
}

// FuzzDerive checks Derive's properties for arbitrary kernels.
func FuzzDerive(f *testing.F) {
	d := adaptive.DefaultKernel()
	f.Add(int64(d.FinTimeout), int64(d.KeepaliveTime), int64(d.KeepaliveIntvl), d.KeepaliveProbes, d.Retries2, d.SynRetries, int64(0))
	f.Add(int64(d.FinTimeout), int64(d.KeepaliveTime), int64(d.KeepaliveIntvl), d.KeepaliveProbes, d.Retries2, d.SynRetries, int64(5*time.Second))
	f.Add(int64(-1), int64(0), int64(math.MaxInt64), -1, math.MaxInt, 0, int64(math.MinInt64))
	f.Add(int64(1), int64(1), int64(1), 1, 1, 1, int64(1))
	f.Fuzz(func(t *testing.T, fin, kaTime, kaIntvl int64, probes, retries2, syn int, conntrack int64) {
		checkProfile(t, adaptive.Derive(adaptive.Kernel{
			FinTimeout: time.Duration(fin), KeepaliveTime: time.Duration(kaTime), KeepaliveIntvl: time.Duration(kaIntvl),
			KeepaliveProbes: probes, Retries2: retries2, SynRetries: syn, ConntrackEstablished: time.Duration(conntrack),
		}))
	})
}
