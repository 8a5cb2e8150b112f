package faultlab_test

import (
	"testing"

	"github.com/herz-go/herz/faultlab"
)

// newHTTPServer starts a server closed in t.Cleanup.
func newHTTPServer(t testing.TB, opts faultlab.HTTPOptions) *faultlab.HTTPServer {
	t.Helper()
	s, err := faultlab.NewHTTPServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// newProxy starts a proxy in front of target, closed in t.Cleanup.
func newProxy(t testing.TB, target string) *faultlab.Proxy {
	t.Helper()
	p, err := faultlab.NewProxy(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// newEcho starts an echo server closed in t.Cleanup.
func newEcho(t testing.TB) *faultlab.EchoServer {
	t.Helper()
	e, err := faultlab.NewEchoServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

// must fails the test on err.
func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
