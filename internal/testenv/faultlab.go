package testenv

import (
	"testing"
	"time"

	"github.com/herz-go/herz/faultlab"
)

// The fault lab moved to the public package faultlab; these names keep
// herz's own tests short: constructors that fail the test instead of
// returning an error and close what they start in t.Cleanup, and namespace
// helpers that fail instead of skipping under [CI].
type (
	// Protocol is [faultlab.Protocol].
	Protocol = faultlab.Protocol
	// HTTPOptions is [faultlab.HTTPOptions].
	HTTPOptions = faultlab.HTTPOptions
	// Fault is [faultlab.Fault].
	Fault = faultlab.Fault
	// Proxy is [faultlab.Proxy].
	Proxy = faultlab.Proxy
	// EchoServer is [faultlab.EchoServer].
	EchoServer = faultlab.EchoServer
)

// The protocols of [faultlab.HTTPServer].
const (
	HTTP1 = faultlab.HTTP1
	HTTPS = faultlab.HTTPS
	H2C   = faultlab.H2C
)

// RequestIDHeader is [faultlab.RequestIDHeader].
const RequestIDHeader = faultlab.RequestIDHeader

// HTTPServer is a [faultlab.HTTPServer] whose Restart and GoAway report a
// failure to re-bind the port with t.Errorf (safe from any goroutine).
type HTTPServer struct {
	*faultlab.HTTPServer
	t testing.TB
}

// NewHTTPServer starts a [faultlab.HTTPServer] and closes it in t.Cleanup;
// a bad option fails the test.
func NewHTTPServer(t testing.TB, opts HTTPOptions) *HTTPServer {
	t.Helper()
	s, err := faultlab.NewHTTPServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return &HTTPServer{HTTPServer: s, t: t}
}

// Restart is [faultlab.HTTPServer.Restart], failing the test on error.
func (s *HTTPServer) Restart() {
	if err := s.HTTPServer.Restart(); err != nil {
		s.t.Errorf("herz/testenv: %v", err)
	}
}

// GoAway is [faultlab.HTTPServer.GoAway], failing the test on error.
func (s *HTTPServer) GoAway() {
	if err := s.HTTPServer.GoAway(); err != nil {
		s.t.Errorf("herz/testenv: %v", err)
	}
}

// NewProxy starts a [faultlab.Proxy] in front of target and closes it in
// t.Cleanup.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	p, err := faultlab.NewProxy(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// NewEchoServer starts a [faultlab.EchoServer] and closes it in t.Cleanup.
func NewEchoServer(t testing.TB) *EchoServer {
	t.Helper()
	e, err := faultlab.NewEchoServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

// InNetns is [faultlab.InNetns], except that a machine that cannot run it
// fails the test under [CI] instead of skipping it. herz's namespace tests
// make their faults with iptables (blackholes, NAT expiry), so a machine
// without it cannot run them either (ip alone is what faultlab checks).
func InNetns(t *testing.T, body func(t *testing.T)) {
	t.Helper()
	if err := faultlab.NetnsAvailable(); err != nil {
		SkipOrFail(t, "%v", err)
	}
	if _, err := faultlab.LookCommand("iptables"); err != nil {
		SkipOrFail(t, "herz's network-namespace tests need iptables: %v", err)
	}
	faultlab.InNetns(t, body)
}

// BlackholePort is [faultlab.BlackholePort], failing the test on error.
func BlackholePort(t testing.TB, port int) {
	t.Helper()
	must(t, faultlab.BlackholePort(port))
}

// UnblackholePort is [faultlab.UnblackholePort], failing the test on error.
func UnblackholePort(t testing.TB, port int) {
	t.Helper()
	must(t, faultlab.UnblackholePort(port))
}

// ConntrackExpiry is [faultlab.ConntrackExpiry], failing the test on error.
func ConntrackExpiry(t testing.TB, timeout time.Duration) {
	t.Helper()
	must(t, faultlab.ConntrackExpiry(timeout))
}

// Sysctl is [faultlab.Sysctl], failing the test on error.
func Sysctl(t testing.TB, key, value string) {
	t.Helper()
	must(t, faultlab.Sysctl(key, value))
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
