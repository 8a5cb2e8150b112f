package dialer_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herz-go/herz/adaptive"
	"github.com/herz-go/herz/dialer"
	"github.com/herz-go/herz/internal/testenv"
	"github.com/herz-go/herz/transport"
)

// TestGracefulRestartIsNotAnIdleTimeout: a client making
// one GET every 50 ms on one connection, through herz's Transport (which
// feeds the Dialer's learner) and through net/http beside it, same server;
// the server restarts gracefully, closing the idle conns at whatever idle
// age they have. That one close at an odd age must not become a learned
// idle deadline: in the 2 s after the restart herz dials at most 3 more
// conns than net/http's one. (It used to learn ~40 ms and then dial for
// every request.) Takes ~3 s.
func TestGracefulRestartIsNotAnIdleTimeout(t *testing.T) {
	t.Parallel()
	srv := testenv.NewHTTPServer(t, testenv.HTTPOptions{Protocol: testenv.HTTP1})
	herz, err := transport.New(transport.Config{Proxy: transport.NoProxy, MaxIdleConnsPerHost: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { herz.Close() })
	var stdDials atomic.Int64
	std := &http.Transport{MaxIdleConnsPerHost: 1, DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		stdDials.Add(1)
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
	t.Cleanup(std.CloseIdleConnections)
	get := func(rt http.RoundTripper) error {
		req, _ := http.NewRequest(http.MethodGet, srv.URL(), nil)
		resp, err := rt.RoundTrip(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		return resp.Body.Close()
	}
	run := func(d time.Duration) (errs int) {
		for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
			for _, rt := range []http.RoundTripper{herz, std} {
				if get(rt) != nil {
					errs++
				}
			}
		}
		return errs
	}
	run(500 * time.Millisecond)
	herz0, std0 := herz.Stats().Dials, stdDials.Load()
	get(herz)
	get(std)
	time.Sleep(40 * time.Millisecond) // the restart comes mid-gap
	srv.Restart()
	time.Sleep(10 * time.Millisecond)
	errs := run(2 * time.Second)
	herzExtra, stdExtra := int64(herz.Stats().Dials-herz0), stdDials.Load()-std0
	t.Logf("2 s after a graceful restart: herz dialed %d, net/http %d; %d errors; herz %v", herzExtra, stdExtra, errs, herz.Stats())
	if herzExtra > stdExtra+3 {
		t.Errorf("herz dialed %d conns in the 2 s after a graceful restart, net/http %d: want ≤ 3 extra", herzExtra, stdExtra)
	}
}

// TestWrongDeadlineCostsAFewDials: "a wrong deadline costs at most
// a few dials": herz's Transport starts with a learned idle deadline that is
// wrong (two agreeing closes at 38 ms, as two restarts could give; the
// server's idle timeout is net/http's default, minutes), and a single-conn
// client GETs every 50 ms: the requests that keep hitting the deadline
// re-test it, and within 2 s herz dials at most 3 more conns than net/http
// beside it, same server. (It used to re-test at most every 5 s.)
func TestWrongDeadlineCostsAFewDials(t *testing.T) {
	t.Parallel()
	srv := testenv.NewHTTPServer(t, testenv.HTTPOptions{Protocol: testenv.HTTP1})
	l, err := adaptive.NewLearner(adaptive.LearnerConfig{MinSamples: 1})
	if err != nil {
		t.Fatal(err)
	}
	l.Observe(srv.Addr(), 38*time.Millisecond)
	time.Sleep(50 * time.Millisecond) // not one burst
	l.Observe(srv.Addr(), 38*time.Millisecond)
	if _, ok := l.IdleDeadline(srv.Addr()); !ok {
		t.Fatal("no deadline learned from two agreeing closes")
	}
	herz, err := transport.New(transport.Config{Proxy: transport.NoProxy, MaxIdleConnsPerHost: 1, Dialer: dialer.Config{Learner: l}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { herz.Close() })
	var stdDials atomic.Int64
	std := &http.Transport{MaxIdleConnsPerHost: 1, DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		stdDials.Add(1)
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
	t.Cleanup(std.CloseIdleConnections)
	errs := 0
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		for _, rt := range []http.RoundTripper{herz, std} {
			req, _ := http.NewRequest(http.MethodGet, srv.URL(), nil)
			resp, err := rt.RoundTrip(req)
			if err != nil {
				errs++
				continue
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	herzDials, stdN := int64(herz.Stats().Dials), stdDials.Load()
	t.Logf("2 s with a wrong 38 ms deadline, GETs every 50 ms: herz dialed %d, net/http %d; %d errors; herz %v", herzDials, stdN, errs, herz.Stats())
	if errs != 0 {
		t.Errorf("%d errors, want 0", errs)
	}
	if herzDials > stdN+3 {
		t.Errorf("herz dialed %d conns, net/http %d: want ≤ 3 more", herzDials, stdN)
	}
}
