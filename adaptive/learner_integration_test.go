package adaptive_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/herz-go/herz/adaptive"
)

// idleTrackingConn records when it last read and wrote, and reports the idle
// age when the peer closes it (EOF or RST) with no request in flight: the
// last write (a request) is older than the last read (its response). This is
// the mechanism ARCHITECTURE.md §4 gives the herz dialer; it lives here
// because this test uses a plain net.Dialer.
type idleTrackingConn struct {
	net.Conn
	start       time.Time
	lastRead    atomic.Int64 // ns since start, 0 = never
	lastWrite   atomic.Int64
	reported    atomic.Bool
	onIdleClose func(idle time.Duration)
}

func (c *idleTrackingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	now := int64(time.Since(c.start))
	if n > 0 {
		c.lastRead.Store(now)
	}
	if n == 0 && (errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)) {
		lr, lw := c.lastRead.Load(), c.lastWrite.Load()
		if lw > 0 && lw < lr && c.reported.CompareAndSwap(false, true) {
			c.onIdleClose(time.Duration(now - lr))
		}
	}
	return n, err
}

// Write records the time a write starts, not when it returns: the response
// can be read (by net/http's readLoop) before the writing goroutine is
// scheduled again after the write syscall, and a write time taken afterwards
// would then look like a request in flight.
func (c *idleTrackingConn) Write(b []byte) (int, error) {
	if len(b) > 0 {
		c.lastWrite.Store(int64(time.Since(c.start)))
	}
	return c.Conn.Write(b)
}

func TestLearnerLearnsTheIdleTimeoutOfARealNetHTTPServer(t *testing.T) {
	const serverIdle = 300 * time.Millisecond
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "ok")
	}))
	srv.Config.IdleTimeout = serverIdle
	srv.Start()
	defer srv.Close()

	l := newLearner(t, adaptive.LearnerConfig{})
	samples := make(chan time.Duration, 16)
	var dialer net.Dialer
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dialer.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &idleTrackingConn{Conn: c, start: time.Now(), onIdleClose: func(idle time.Duration) {
			l.Observe(addr, idle)
			samples <- idle
		}}, nil
	}}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 2 * time.Second}
	peer := srv.Listener.Addr().String()

	// Each request leaves an idle connection that the server closes after
	// 300 ms; wait for that close (no fixed sleep) before the next request.
	for i := range 4 {
		resp, err := client.Get(srv.URL)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		select {
		case d := <-samples:
			t.Logf("request %d: server closed the idle connection after %v", i, d)
		case <-time.After(2 * time.Second):
			t.Fatalf("request %d: the server did not close the idle connection within 2s", i)
		}
	}

	got, ok := l.Estimate(peer)
	if !ok {
		t.Fatalf("no estimate for %s after 4 idle closes", peer)
	}
	if lo, hi := serverIdle*80/100, serverIdle*120/100; got < lo || got > hi {
		t.Fatalf("estimate %v, want within ±20%% of %v", got, serverIdle)
	}
	d, _ := l.IdleDeadline(peer)
	t.Logf("estimate %v, idle deadline %v", got, d)
}
