package main

import (
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestInspectHTTPServer inspects a local net/http server that idle-closes
// connections after 150ms: the dial, TCP_INFO and probes show a healthy
// connection, and with -http -wait herz learns the idle timeout.
func TestInspectHTTPServer(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	srv.Config.IdleTimeout = 150 * time.Millisecond
	srv.Start()
	defer srv.Close()
	var out bytes.Buffer
	err := run(&out, srv.Listener.Addr().String(), options{http: true, path: "/", n: 2, wait: 3 * time.Second, probeAfter: 10 * time.Millisecond})
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		"kernel-derived profile", "keepalive:", "   ok in ", "state ESTABLISHED",
		"at once:            alive", "1: HTTP/1.1 200 OK", "2: HTTP/1.1 200 OK",
		"the server closed the idle connection", "server idle timeout 1", "transport: open=",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// TestInspectGreetingAndRefused: a server that speaks first shows as
// data_pending, and a port nobody listens on fails with the dial's kind.
func TestInspectGreetingAndRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.Write([]byte("220 hello\r\n"))
		time.Sleep(200 * time.Millisecond)
		c.Close()
	}()
	var out bytes.Buffer
	if err := run(&out, ln.Addr().String(), options{probeAfter: 50 * time.Millisecond}); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	<-done
	addr := ln.Addr().String()
	ln.Close()
	if !strings.Contains(out.String(), "data_pending (the server spoke first") {
		t.Errorf("greeting not shown as data pending:\n%s", out.String())
	}
	out.Reset()
	if err := run(&out, addr, options{probeAfter: time.Millisecond}); err == nil {
		t.Fatalf("dial to a closed port succeeded:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "FAILED (refused") {
		t.Errorf("refused dial not reported:\n%s", out.String())
	}
}
