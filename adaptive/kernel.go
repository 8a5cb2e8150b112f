package adaptive

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"strconv"
	"strings"
	"time"
)

// Kernel is the kernel's view of TCP timing, read from /proc/sys by
// [ReadKernel]. Durations are whole seconds as the kernel prints them.
type Kernel struct {
	FinTimeout           time.Duration // net/ipv4/tcp_fin_timeout: how long an orphaned socket stays in FIN_WAIT2
	KeepaliveTime        time.Duration // net/ipv4/tcp_keepalive_time: system-wide keepalive idle time
	KeepaliveIntvl       time.Duration // net/ipv4/tcp_keepalive_intvl: system-wide keepalive probe interval
	KeepaliveProbes      int           // net/ipv4/tcp_keepalive_probes: system-wide keepalive probe count
	Retries2             int           // net/ipv4/tcp_retries2: retransmissions of unacknowledged data before giving up
	SynRetries           int           // net/ipv4/tcp_syn_retries: SYN retransmissions before a connect fails
	ConntrackEstablished time.Duration // net/netfilter/nf_conntrack_tcp_timeout_established; 0 when unknown (no conntrack, unreadable)
	PortRangeLow         int           // net/ipv4/ip_local_port_range, first ephemeral port
	PortRangeHigh        int           // net/ipv4/ip_local_port_range, last ephemeral port
}

// DefaultKernel returns the Linux defaults: tcp_fin_timeout 60 s,
// tcp_keepalive_time 7200 s, tcp_keepalive_intvl 75 s, tcp_keepalive_probes 9,
// tcp_retries2 15, tcp_syn_retries 6, conntrack timeout unknown (0), ephemeral
// ports 32768–60999. [ReadKernel] uses them for settings it cannot read.
func DefaultKernel() Kernel {
	return Kernel{
		FinTimeout:      60 * time.Second,
		KeepaliveTime:   7200 * time.Second,
		KeepaliveIntvl:  75 * time.Second,
		KeepaliveProbes: 9,
		Retries2:        15,
		SynRetries:      6,
		PortRangeLow:    32768,
		PortRangeHigh:   60999,
	}
}

// String returns k on one line, e.g. "fin_timeout=60s keepalive=7200s/75s/9
// retries2=15 syn_retries=6 conntrack_established=unknown ports=32768-60999".
func (k Kernel) String() string {
	ct := "unknown"
	if k.ConntrackEstablished > 0 {
		ct = seconds(k.ConntrackEstablished)
	}
	return fmt.Sprintf("fin_timeout=%s keepalive=%s/%s/%d retries2=%d syn_retries=%d conntrack_established=%s ports=%d-%d",
		seconds(k.FinTimeout), seconds(k.KeepaliveTime), seconds(k.KeepaliveIntvl), k.KeepaliveProbes,
		k.Retries2, k.SynRetries, ct, k.PortRangeLow, k.PortRangeHigh)
}

// seconds prints d the way sysctl values are written ("7200s"), or as a
// time.Duration when it is not a whole number of seconds.
func seconds(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	return d.String()
}

// ErrParse is wrapped by every problem [ReadKernel] reports: a kernel setting
// that could not be read or parsed, and was replaced by its fallback.
var ErrParse = errors.New("herz/adaptive: bad kernel setting")

// SettingError is one kernel setting [ReadKernel] could not use. It wraps
// [ErrParse] and the cause.
type SettingError struct {
	File     string // path below /proc/sys, e.g. "net/ipv4/tcp_fin_timeout"
	Content  string // what the file held (at most maxSettingBytes), empty when it could not be read
	Fallback string // the value used instead, as printed in the error
	Err      error  // the cause: an fs error or a parse/range error
}

// Error returns e.g. `herz/adaptive: net/ipv4/tcp_fin_timeout: bad content
// "abc\n": invalid syntax (using 60s)`.
func (e *SettingError) Error() string {
	if e.Content == "" {
		return fmt.Sprintf("herz/adaptive: %s: %v (using %s)", e.File, e.Err, e.Fallback)
	}
	return fmt.Sprintf("herz/adaptive: %s: bad content %q: %v (using %s)", e.File, e.Content, e.Err, e.Fallback)
}

// Unwrap returns [ErrParse] and the cause.
func (e *SettingError) Unwrap() []error { return []error{ErrParse, e.Err} }

// The sysctl files ReadKernel reads, relative to /proc/sys.
const (
	fileFinTimeout      = "net/ipv4/tcp_fin_timeout"
	fileKeepaliveTime   = "net/ipv4/tcp_keepalive_time"
	fileKeepaliveIntvl  = "net/ipv4/tcp_keepalive_intvl"
	fileKeepaliveProbes = "net/ipv4/tcp_keepalive_probes"
	fileRetries2        = "net/ipv4/tcp_retries2"
	fileSynRetries      = "net/ipv4/tcp_syn_retries"
	fileConntrack       = "net/netfilter/nf_conntrack_tcp_timeout_established"
	filePortRange       = "net/ipv4/ip_local_port_range"
)

// maxSettingBytes bounds what is read from one sysctl file: they hold a
// number or two, so anything longer is garbage and is not read further.
const maxSettingBytes = 64

// ReadKernel reads the kernel's TCP timing settings from fsys, a file system
// rooted at /proc/sys (in production os.DirFS("/proc/sys"), which is also
// what a nil fsys means).
//
// Every setting that is missing, unreadable, garbled or out of the kernel's
// own range keeps its [DefaultKernel] value and contributes a [*SettingError]
// naming the file and its content; the returned error is the errors.Join of
// all of them (it wraps [ErrParse]) and nil when everything was read. The
// conntrack timeout is optional: when its file does not exist or cannot be
// opened (no nf_conntrack module, a container) the field is 0 ("unknown") and
// no error is reported; garbage in it is reported. ReadKernel never panics and
// the Kernel it returns is always usable.
//
// Accepted ranges (what the kernel itself accepts, so anything else is a
// misread): durations 1..2147483647 s, tcp_keepalive_probes and tcp_retries2
// 0..255, tcp_syn_retries 1..127, ports 1..65535 with low ≤ high. Numbers may
// be surrounded by white space; the two ports may be separated by any white
// space (the kernel prints a tab).
func ReadKernel(fsys fs.FS) (Kernel, error) {
	return readKernel(fsys, DefaultKernel())
}

// readKernel is ReadKernel with the fallback for unusable settings given:
// [Source] passes the previous reading so that a setting that becomes
// unreadable keeps its last good value.
func readKernel(fsys fs.FS, fallback Kernel) (Kernel, error) {
	if fsys == nil {
		fsys = os.DirFS("/proc/sys")
	}
	r := kernelReader{fsys: fsys}
	k := fallback
	r.seconds(fileFinTimeout, &k.FinTimeout)
	r.seconds(fileKeepaliveTime, &k.KeepaliveTime)
	r.seconds(fileKeepaliveIntvl, &k.KeepaliveIntvl)
	r.integer(fileKeepaliveProbes, &k.KeepaliveProbes, 0, 255)
	r.integer(fileRetries2, &k.Retries2, 0, 255)
	r.integer(fileSynRetries, &k.SynRetries, 1, 127)
	r.conntrack(fileConntrack, &k.ConntrackEstablished)
	r.portRange(filePortRange, &k.PortRangeLow, &k.PortRangeHigh)
	return k, errors.Join(r.errs...)
}

// kernelReader collects the problems of one ReadKernel call.
type kernelReader struct {
	fsys fs.FS
	errs []error
}

// read returns the content of file, at most maxSettingBytes long.
func (r *kernelReader) read(file string) (string, error) {
	f, err := r.fsys.Open(file)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSettingBytes+1))
	if err != nil {
		return "", err
	}
	if len(b) > maxSettingBytes {
		return string(b[:maxSettingBytes]), fmt.Errorf("longer than %d bytes", maxSettingBytes)
	}
	return string(b), nil
}

func (r *kernelReader) fail(file, content, fallback string, err error) {
	r.errs = append(r.errs, &SettingError{File: file, Content: content, Fallback: fallback, Err: err})
}

// seconds reads a duration in whole seconds into *d; *d is kept on failure.
func (r *kernelReader) seconds(file string, d *time.Duration) {
	s, err := r.read(file)
	if err == nil {
		var v int64
		if v, err = parseInt(s, 1, math.MaxInt32); err == nil {
			*d = time.Duration(v) * time.Second
			return
		}
	}
	r.fail(file, s, seconds(*d), err)
}

// integer reads a count in [lo, hi] into *n; *n is kept on failure.
func (r *kernelReader) integer(file string, n *int, lo, hi int64) {
	s, err := r.read(file)
	if err == nil {
		var v int64
		if v, err = parseInt(s, lo, hi); err == nil {
			*n = int(v)
			return
		}
	}
	r.fail(file, s, strconv.Itoa(*n), err)
}

// conntrack reads the optional conntrack timeout into *d: a file that does
// not exist or cannot be opened means "unknown" (0) and is not an error.
func (r *kernelReader) conntrack(file string, d *time.Duration) {
	s, err := r.read(file)
	if err != nil && s == "" && (errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission)) {
		*d = 0
		return
	}
	if err == nil {
		var v int64
		if v, err = parseInt(s, 1, math.MaxInt32); err == nil {
			*d = time.Duration(v) * time.Second
			return
		}
	}
	fallback := "unknown"
	if *d > 0 {
		fallback = seconds(*d)
	}
	r.fail(file, s, fallback, err)
}

// portRange reads "low<white space>high" into *lo and *hi; both are kept on
// failure.
func (r *kernelReader) portRange(file string, lo, hi *int) {
	s, err := r.read(file)
	if err == nil {
		var l, h int
		if l, h, err = parsePortRange(s); err == nil {
			*lo, *hi = l, h
			return
		}
	}
	r.fail(file, s, fmt.Sprintf("%d-%d", *lo, *hi), err)
}

// parseInt parses one decimal integer surrounded by optional white space and
// checks it is in [lo, hi].
func parseInt(s string, lo, hi int64) (int64, error) {
	f := strings.TrimSpace(s)
	if f == "" {
		return 0, errors.New("empty")
	}
	v, err := strconv.ParseInt(f, 10, 64)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) {
			err = ne.Err // "invalid syntax" or "value out of range", without repeating the input
		}
		return 0, err
	}
	if v < lo || v > hi {
		return 0, fmt.Errorf("%d out of range [%d, %d]", v, lo, hi)
	}
	return v, nil
}

// parsePortRange parses ip_local_port_range: two port numbers separated by
// white space, 1 ≤ low ≤ high ≤ 65535.
func parsePortRange(s string) (low, high int, err error) {
	f := strings.Fields(s)
	if len(f) != 2 {
		return 0, 0, fmt.Errorf("want two port numbers, got %d fields", len(f))
	}
	l, err := parseInt(f[0], 1, 65535)
	if err != nil {
		return 0, 0, fmt.Errorf("low port: %w", err)
	}
	h, err := parseInt(f[1], 1, 65535)
	if err != nil {
		return 0, 0, fmt.Errorf("high port: %w", err)
	}
	if l > h {
		return 0, 0, fmt.Errorf("low port %d above high port %d", l, h)
	}
	return int(l), int(h), nil
}
