package testenv

import (
	"net"
	"strconv"
	"testing"
)

// Port returns the port of a "host:port" address such as
// [faultlab.HTTPServer.Addr] or [faultlab.Proxy.Addr], for [BlackholePort];
// a bad address fails the test.
func Port(t testing.TB, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("herz/testenv: Port(%q): %v", addr, err)
	}
	port, err := strconv.ParseUint(p, 10, 16)
	if err != nil {
		t.Fatalf("herz/testenv: Port(%q): %v", addr, err)
	}
	return int(port)
}

// ClosedAddr returns an address on 127.0.0.1 where nothing listens (a
// port that was just bound and released): a connect to it is refused.
func ClosedAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("herz/testenv: ClosedAddr: %v", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
