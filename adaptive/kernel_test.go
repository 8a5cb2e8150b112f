package adaptive_test

import (
	"errors"
	"io/fs"
	"math"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/herz-go/herz/adaptive"
)

// linuxFS returns a /proc/sys fixture with the given files overriding the
// values of a typical Linux host (conntrack loaded with its 5-day default).
func linuxFS(override map[string]string) fstest.MapFS {
	files := map[string]string{
		adaptive.FileFinTimeout:      "60\n",
		adaptive.FileKeepaliveTime:   "7200\n",
		adaptive.FileKeepaliveIntvl:  "75\n",
		adaptive.FileKeepaliveProbes: "9\n",
		adaptive.FileRetries2:        "15\n",
		adaptive.FileSynRetries:      "6\n",
		adaptive.FileConntrack:       "432000\n",
		adaptive.FilePortRange:       "32768\t60999\n",
	}
	for k, v := range override {
		files[k] = v
	}
	m := fstest.MapFS{}
	for k, v := range files {
		if v != "<missing>" {
			m[k] = &fstest.MapFile{Data: []byte(v), Mode: 0o444}
		}
	}
	return m
}

// natFS is a network namespace with a 5 s conntrack established timeout, as
// in the conntrack-expiry fault herz is tested against.
func natFS() fstest.MapFS {
	return linuxFS(map[string]string{adaptive.FileConntrack: "5\n"})
}

func typicalKernel() adaptive.Kernel {
	k := adaptive.DefaultKernel()
	k.ConntrackEstablished = 432000 * time.Second
	return k
}

func TestDefaultKernelIsLinuxDefaults(t *testing.T) {
	want := adaptive.Kernel{
		FinTimeout: 60 * time.Second, KeepaliveTime: 7200 * time.Second, KeepaliveIntvl: 75 * time.Second,
		KeepaliveProbes: 9, Retries2: 15, SynRetries: 6, ConntrackEstablished: 0,
		PortRangeLow: 32768, PortRangeHigh: 60999,
	}
	if got := adaptive.DefaultKernel(); got != want {
		t.Fatalf("DefaultKernel() = %+v, want %+v", got, want)
	}
	if got, want := want.String(), "fin_timeout=60s keepalive=7200s/75s/9 retries2=15 syn_retries=6 conntrack_established=unknown ports=32768-60999"; got != want {
		t.Fatalf("String() = %q, want %q", got, want)
	}
}

func TestReadKernel(t *testing.T) {
	withField := func(f func(k *adaptive.Kernel)) adaptive.Kernel {
		k := typicalKernel()
		f(&k)
		return k
	}
	tests := []struct {
		name    string
		fsys    fs.FS
		want    adaptive.Kernel
		wantErr []string // substrings of the error, in order of the files; nil = no error
	}{
		{"typical Linux", linuxFS(nil), typicalKernel(), nil},
		{"NAT box with conntrack 5s", natFS(), withField(func(k *adaptive.Kernel) { k.ConntrackEstablished = 5 * time.Second }), nil},
		{"tuned host", linuxFS(map[string]string{
			adaptive.FileFinTimeout: "30", adaptive.FileKeepaliveTime: "600\n", adaptive.FileKeepaliveIntvl: " 30 ",
			adaptive.FileKeepaliveProbes: "5\n", adaptive.FileRetries2: "8\n", adaptive.FileSynRetries: "3\n",
			adaptive.FileConntrack: "3600\n", adaptive.FilePortRange: "1024 65535\n",
		}), adaptive.Kernel{
			FinTimeout: 30 * time.Second, KeepaliveTime: 600 * time.Second, KeepaliveIntvl: 30 * time.Second,
			KeepaliveProbes: 5, Retries2: 8, SynRetries: 3, ConntrackEstablished: 3600 * time.Second,
			PortRangeLow: 1024, PortRangeHigh: 65535,
		}, nil},
		{"no conntrack module is not an error", linuxFS(map[string]string{adaptive.FileConntrack: "<missing>"}),
			adaptive.DefaultKernel(), nil},
		{"empty fs: every file but conntrack reported", fstest.MapFS{}, adaptive.DefaultKernel(), []string{
			"net/ipv4/tcp_fin_timeout: open net/ipv4/tcp_fin_timeout: file does not exist (using 60s)",
			"net/ipv4/tcp_keepalive_time", "net/ipv4/tcp_keepalive_intvl", "net/ipv4/tcp_keepalive_probes",
			"net/ipv4/tcp_retries2", "net/ipv4/tcp_syn_retries", "net/ipv4/ip_local_port_range",
		}},
		{"garbage", linuxFS(map[string]string{adaptive.FileFinTimeout: "sixty\n"}), typicalKernel(),
			[]string{`herz/adaptive: net/ipv4/tcp_fin_timeout: bad content "sixty\n": invalid syntax (using 60s)`}},
		{"empty file", linuxFS(map[string]string{adaptive.FileRetries2: ""}), typicalKernel(),
			[]string{"net/ipv4/tcp_retries2: empty (using 15)"}},
		{"blank file", linuxFS(map[string]string{adaptive.FileRetries2: " \n"}), typicalKernel(),
			[]string{`net/ipv4/tcp_retries2: bad content " \n": empty (using 15)`}},
		{"two numbers where one is expected", linuxFS(map[string]string{adaptive.FileSynRetries: "6 7\n"}), typicalKernel(),
			[]string{`net/ipv4/tcp_syn_retries: bad content "6 7\n": invalid syntax (using 6)`}},
		{"negative", linuxFS(map[string]string{adaptive.FileKeepaliveTime: "-1\n"}), typicalKernel(),
			[]string{`net/ipv4/tcp_keepalive_time: bad content "-1\n": -1 out of range [1, 2147483647] (using 7200s)`}},
		{"zero duration", linuxFS(map[string]string{adaptive.FileKeepaliveIntvl: "0\n"}), typicalKernel(),
			[]string{"tcp_keepalive_intvl", "0 out of range [1, 2147483647] (using 75s)"}},
		{"largest int32 is accepted", linuxFS(map[string]string{adaptive.FileKeepaliveTime: "2147483647\n"}),
			withField(func(k *adaptive.Kernel) { k.KeepaliveTime = math.MaxInt32 * time.Second }), nil},
		{"above int32", linuxFS(map[string]string{adaptive.FileKeepaliveTime: "2147483648\n"}), typicalKernel(),
			[]string{"2147483648 out of range"}},
		{"huge", linuxFS(map[string]string{adaptive.FileFinTimeout: "99999999999999999999999\n"}), typicalKernel(),
			[]string{"tcp_fin_timeout", "value out of range (using 60s)"}},
		{"count above kernel range", linuxFS(map[string]string{adaptive.FileKeepaliveProbes: "256\n"}), typicalKernel(),
			[]string{"tcp_keepalive_probes", "256 out of range [0, 255] (using 9)"}},
		{"syn retries above kernel max", linuxFS(map[string]string{adaptive.FileSynRetries: "128\n"}), typicalKernel(),
			[]string{"tcp_syn_retries", "out of range [1, 127]"}},
		{"zero probes and retries2 accepted", linuxFS(map[string]string{adaptive.FileKeepaliveProbes: "0\n", adaptive.FileRetries2: "0"}),
			withField(func(k *adaptive.Kernel) { k.KeepaliveProbes, k.Retries2 = 0, 0 }), nil},
		{"hex is not decimal", linuxFS(map[string]string{adaptive.FileFinTimeout: "0x3c\n"}), typicalKernel(),
			[]string{"invalid syntax"}},
		{"too long", linuxFS(map[string]string{adaptive.FileFinTimeout: strings.Repeat("6", 1000)}), typicalKernel(),
			[]string{"tcp_fin_timeout", "longer than 64 bytes"}},
		{"conntrack garbage reported, stays unknown", linuxFS(map[string]string{adaptive.FileConntrack: "five\n"}),
			adaptive.DefaultKernel(), []string{`nf_conntrack_tcp_timeout_established: bad content "five\n": invalid syntax (using unknown)`}},
		{"conntrack zero", linuxFS(map[string]string{adaptive.FileConntrack: "0\n"}),
			adaptive.DefaultKernel(), []string{"nf_conntrack_tcp_timeout_established", "0 out of range"}},
		{"port range with spaces", linuxFS(map[string]string{adaptive.FilePortRange: "  1024   65000  \n"}),
			withField(func(k *adaptive.Kernel) { k.PortRangeLow, k.PortRangeHigh = 1024, 65000 }), nil},
		{"port range single port", linuxFS(map[string]string{adaptive.FilePortRange: "40000\t40000\n"}),
			withField(func(k *adaptive.Kernel) { k.PortRangeLow, k.PortRangeHigh = 40000, 40000 }), nil},
		{"port range with comma", linuxFS(map[string]string{adaptive.FilePortRange: "1024,65000\n"}), typicalKernel(),
			[]string{`ip_local_port_range: bad content "1024,65000\n": want two port numbers, got 1 fields (using 32768-60999)`}},
		{"port range reversed", linuxFS(map[string]string{adaptive.FilePortRange: "60999 32768"}), typicalKernel(),
			[]string{"low port 60999 above high port 32768"}},
		{"port range out of range", linuxFS(map[string]string{adaptive.FilePortRange: "1 65536"}), typicalKernel(),
			[]string{"high port: 65536 out of range [1, 65535]"}},
		{"port range zero", linuxFS(map[string]string{adaptive.FilePortRange: "0 10"}), typicalKernel(),
			[]string{"low port: 0 out of range"}},
		{"port range three numbers", linuxFS(map[string]string{adaptive.FilePortRange: "1 2 3"}), typicalKernel(),
			[]string{"got 3 fields"}},
		{"several problems joined", linuxFS(map[string]string{adaptive.FileFinTimeout: "x", adaptive.FilePortRange: "y"}), typicalKernel(),
			[]string{"tcp_fin_timeout", "ip_local_port_range"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := adaptive.ReadKernel(tt.fsys)
			if got != tt.want {
				t.Errorf("ReadKernel() kernel = %+v\nwant %+v", got, tt.want)
			}
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("ReadKernel() error = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("ReadKernel() error = nil, want %q", tt.wantErr)
			}
			if !errors.Is(err, adaptive.ErrParse) {
				t.Errorf("error %v does not wrap ErrParse", err)
			}
			var se *adaptive.SettingError
			if !errors.As(err, &se) || se.File == "" {
				t.Errorf("error %v carries no *SettingError naming the file", err)
			}
			msg, at := err.Error(), 0
			for _, w := range tt.wantErr {
				i := strings.Index(msg[at:], w)
				if i < 0 {
					t.Fatalf("error %q does not contain %q (in order)", msg, w)
				}
				at += i + len(w)
			}
			for line := range strings.SplitSeq(msg, "\n") {
				if !strings.HasPrefix(line, "herz/adaptive: ") {
					t.Errorf("error line %q lacks the package prefix", line)
				}
			}
		})
	}
}

func TestReadKernelMissingFileWrapsErrNotExist(t *testing.T) {
	_, err := adaptive.ReadKernel(fstest.MapFS{})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("error %v does not wrap fs.ErrNotExist", err)
	}
}

func TestReadKernelOfThisHostNeverFails(t *testing.T) {
	// Whatever this machine has (Linux or not): usable values, no panic.
	k, err := adaptive.ReadKernel(nil)
	if k.FinTimeout <= 0 || k.KeepaliveTime <= 0 || k.KeepaliveIntvl <= 0 || k.SynRetries <= 0 || k.PortRangeLow <= 0 {
		t.Fatalf("ReadKernel(nil) = %+v, %v", k, err)
	}
	t.Logf("this host: %v (err: %v)", k, err)
}

func TestParseInt(t *testing.T) {
	tests := []struct {
		in      string
		lo, hi  int64
		want    int64
		wantErr string
	}{
		{"60\n", 1, math.MaxInt32, 60, ""},
		{"  7200\t\n", 1, math.MaxInt32, 7200, ""},
		{"+5", 0, 10, 5, ""},
		{"0", 0, 255, 0, ""},
		{"255", 0, 255, 255, ""},
		{"256", 0, 255, 0, "256 out of range [0, 255]"},
		{"-1", 0, 255, 0, "-1 out of range"},
		{"", 0, 1, 0, "empty"},
		{"\n\t ", 0, 1, 0, "empty"},
		{"1.5", 0, 10, 0, "invalid syntax"},
		{"1e3", 0, 10000, 0, "invalid syntax"},
		{"1_000", 0, 10000, 0, "invalid syntax"},
		{"٣", 0, 10, 0, "invalid syntax"},
		{"9223372036854775808", 0, math.MaxInt64, 0, "value out of range"},
		{"-9223372036854775809", math.MinInt64, 0, 0, "value out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := adaptive.ParseInt(tt.in, tt.lo, tt.hi)
			if tt.wantErr == "" {
				if err != nil || got != tt.want {
					t.Fatalf("parseInt(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("parseInt(%q) = %d, %v; want error %q", tt.in, got, err, tt.wantErr)
			}
		})
	}
}

// portRangeTests is shared with FuzzParsePortRange as its seed corpus.
var portRangeTests = []struct {
	in        string
	low, high int
	wantErr   string
}{
	{"32768\t60999\n", 32768, 60999, ""},
	{"32768 60999", 32768, 60999, ""},
	{"  1024   65535  \n", 1024, 65535, ""},
	{"1\t1", 1, 1, ""},
	{"1024\n65000\n", 1024, 65000, ""},
	{"", 0, 0, "got 0 fields"},
	{"32768", 0, 0, "got 1 fields"},
	{"1 2 3", 0, 0, "got 3 fields"},
	{"1024,65000", 0, 0, "got 1 fields"},
	{"60999 32768", 0, 0, "low port 60999 above high port 32768"},
	{"0 100", 0, 0, "low port: 0 out of range"},
	{"100 70000", 0, 0, "high port: 70000 out of range"},
	{"-5 10", 0, 0, "low port: -5 out of range"},
	{"a b", 0, 0, "low port: invalid syntax"},
}

func TestParsePortRange(t *testing.T) {
	for _, tt := range portRangeTests {
		t.Run(tt.in, func(t *testing.T) {
			low, high, err := adaptive.ParsePortRange(tt.in)
			if tt.wantErr == "" {
				if err != nil || low != tt.low || high != tt.high {
					t.Fatalf("parsePortRange(%q) = %d, %d, %v; want %d, %d", tt.in, low, high, err, tt.low, tt.high)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("parsePortRange(%q) = %d, %d, %v; want error %q", tt.in, low, high, err, tt.wantErr)
			}
		})
	}
}
