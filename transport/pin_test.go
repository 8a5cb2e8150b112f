package transport_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herz-go/herz/transport"
)

// scriptedConn is a client conn whose writes fail at once (failWrite) or
// succeed, and whose reads see EOF: the two ways a reused conn fails that
// net/http's pool tells apart with internal error types.
type scriptedConn struct {
	net.Conn
	failWrite bool
	wrote     chan struct{} // closed by the first successful write
	closed    chan struct{}
	once      sync.Once
}

func (c *scriptedConn) Write(p []byte) (int, error) {
	if c.failWrite {
		return 0, errors.New("scripted write failure")
	}
	c.once.Do(func() { close(c.wrote) })
	return len(p), nil
}

// Read sees EOF once the request was written (a server that closed the conn
// as the request arrived), never before.
func (c *scriptedConn) Read([]byte) (int, error) {
	select {
	case <-c.wrote:
		return 0, io.EOF
	case <-c.closed:
		return 0, net.ErrClosed
	}
}

func (c *scriptedConn) Close() error {
	select {
	case <-c.closed:
	default:
		close(c.closed)
	}
	return nil
}
func (c *scriptedConn) SetDeadline(time.Time) error      { return nil }
func (c *scriptedConn) SetReadDeadline(time.Time) error  { return nil }
func (c *scriptedConn) SetWriteDeadline(time.Time) error { return nil }
func (c *scriptedConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *scriptedConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }

// TestNetHTTPInternalErrorTypesArePinned pins the net/http internals herz's
// pool relies on: http.ClientConn.RoundTrip reports a request that wrote
// nothing as http.nothingWrittenError and a conn that read EOF before any
// response byte as http.transportReadFromServerError (the pool's re-send
// rule, persistConn.shouldRetryRequest), each wrapping the underlying
// error that net/http's Transport gives the caller; and http.DefaultTransport's
// DialContext is a net.Dialer's (Harden replaces only such a dial).
func TestNetHTTPInternalErrorTypesArePinned(t *testing.T) {
	for _, c := range []struct {
		failWrite bool
		typ       string
		inner     string
	}{
		{true, "http.nothingWrittenError", ""}, // the write's error or the read loop's, whichever net/http saw first
		{false, "http.transportReadFromServerError", "EOF"},
	} {
		tr := &http.Transport{DialContext: func(context.Context, string, string) (net.Conn, error) {
			return &scriptedConn{failWrite: c.failWrite, wrote: make(chan struct{}), closed: make(chan struct{})}, nil
		}}
		cc, err := tr.NewClientConn(context.Background(), "http", "example.test:80")
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(http.MethodGet, "http://example.test/", nil)
		_, err = cc.RoundTrip(req)
		cc.Close()
		if err == nil {
			t.Fatalf("%s: no error", c.typ)
		}
		if got := transport.TypeName(err); got != c.typ {
			t.Errorf("ClientConn.RoundTrip's error is %s (%v), want %s: herz's pool no longer recognises it", got, err, c.typ)
		}
		// net/http's Transport unwraps both for its caller (Go issue
		// 16465), in this order; so must herz.
		if c.inner == "" {
			// net/http itself unwraps one level, and may have nested a
			// nothingWrittenError in another (write loop, then the conn
			// found broken): herz gives what net/http would.
			if u := transport.UnwrapPoolError(err); u != errors.Unwrap(err) && transport.TypeName(errors.Unwrap(err)) != "http.transportReadFromServerError" {
				t.Errorf("unwrapped %s: %v, want net/http's one level: %v", c.typ, u, errors.Unwrap(err))
			}
			continue
		}
		if u := transport.UnwrapPoolError(err); strings.HasPrefix(transport.TypeName(u), "http.") || !strings.Contains(u.Error(), c.inner) {
			t.Errorf("unwrapped %s: %s %v, want the error inside (%q), no net/http internal type", c.typ, transport.TypeName(u), u, c.inner)
		}
	}
	std := http.DefaultTransport.(*http.Transport).Clone()
	hardened := http.DefaultTransport.(*http.Transport).Clone()
	h, err := transport.Harden(hardened, transport.HardenConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if std.DialContext == nil || hardened.DialContext == nil {
		t.Fatal("no DialContext")
	}
	if h.Stats().Dials != 0 {
		t.Fatal("dialed")
	}
	// Harden replaced DefaultTransport's DialContext (a net.Dialer's): the
	// clone idiom's conns are herz's (TestHardenKeepsTheCloneIdiom dials
	// through it); a user's own DialContext is kept (TestBaseUnixSocketDialContext).
	if f1, f2 := funcPtr(std.DialContext), funcPtr(hardened.DialContext); f1 == f2 {
		t.Error("Harden kept http.DefaultTransport's DialContext: it no longer recognises a net.Dialer's")
	}
}

func funcPtr(f func(context.Context, string, string) (net.Conn, error)) uintptr {
	return reflect.ValueOf(f).Pointer()
}
