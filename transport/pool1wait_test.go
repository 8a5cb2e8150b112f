package transport_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herz-go/herz/dialer"
	"github.com/herz-go/herz/transport"
)

// slowConnServer answers /slow after 90ms and anything else at once, and
// counts the connections it accepted.
func slowConnServer(t *testing.T) (*httptest.Server, *atomic.Int64) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(90 * time.Millisecond)
		}
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "ok")
	}))
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &conns
}

// slowDials returns a DialContext whose first connect is immediate and
// whose later ones hang for hang (or until their context ends).
func slowDials(hang time.Duration) func(ctx context.Context, network, addr string) (net.Conn, error) {
	var n atomic.Int64
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if n.Add(1) > 1 {
			select {
			case <-time.After(hang):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
}

func getCtx(rt http.RoundTripper, ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}

// TestPoolWaiterTakesAConnReturnedMeanwhile: with new connects hanging, a
// request that finds no idle conn takes the busy conn freed 80ms later,
// as net/http's pool does, instead of waiting for its own dial (1.5s).
func TestPoolWaiterTakesAConnReturnedMeanwhile(t *testing.T) {
	t.Parallel()
	const hang = 1500 * time.Millisecond
	lat := map[string]time.Duration{}
	for _, name := range []string{"net/http", "herz"} {
		srv, _ := slowConnServer(t)
		base := &http.Transport{DialContext: slowDials(hang)}
		var rt http.RoundTripper = base
		if name == "herz" {
			h := transport.Must(transport.Config{Base: base})
			t.Cleanup(func() { h.Close() })
			rt = h
		} else {
			t.Cleanup(base.CloseIdleConnections)
		}
		if err := getCtx(rt, context.Background(), srv.URL); err != nil { // the one fast connect
			t.Fatal(err)
		}
		busy := make(chan error, 1)
		go func() { busy <- getCtx(rt, context.Background(), srv.URL+"/slow") }()
		time.Sleep(10 * time.Millisecond) // /slow has the conn
		start := time.Now()
		if err := getCtx(rt, context.Background(), srv.URL); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		lat[name] = time.Since(start)
		if err := <-busy; err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("waiting request: herz %v, net/http %v (the conn frees after ~80ms; a new connect takes %v)", lat["herz"], lat["net/http"], hang)
	// End-to-end bound with headroom: ~80ms expected, 600ms is 7x that and
	// well below the 1.5s of waiting for the hanging dial.
	if lat["net/http"] > 600*time.Millisecond {
		t.Fatalf("net/http took %v: the test's premise (it reuses the freed conn) failed", lat["net/http"])
	}
	if lat["herz"] > 600*time.Millisecond {
		t.Errorf("herz took %v, want the freed conn (~80ms) as net/http (%v)", lat["herz"], lat["net/http"])
	}
}

// TestPoolMaxConnsPerHostWaitsCancellably: with MaxConnsPerHost 1 and the
// conn busy, a request whose context ends while it waits gets the
// context's error at once, and a request without a deadline gets the conn
// when it is freed: one conn in all, as with net/http.
func TestPoolMaxConnsPerHostWaitsCancellably(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"net/http", "herz"} {
		srv, conns := slowConnServer(t)
		base := &http.Transport{MaxConnsPerHost: 1}
		var rt http.RoundTripper = base
		if name == "herz" {
			h := transport.Must(transport.Config{Base: base})
			t.Cleanup(func() { h.Close() })
			rt = h
		} else {
			t.Cleanup(base.CloseIdleConnections)
		}
		busy := make(chan error, 1)
		go func() { busy <- getCtx(rt, context.Background(), srv.URL+"/slow") }()
		time.Sleep(10 * time.Millisecond)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		start := time.Now()
		err := getCtx(rt, ctx, srv.URL)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 60*time.Millisecond {
			// End-to-end bound: 20ms deadline, 60ms is the conn's 80ms minus margin.
			t.Errorf("%s: waiting request ended after %v with %v, want context.DeadlineExceeded at its 20ms deadline", name, time.Since(start), err)
		}
		waiter := make(chan error, 1)
		go func() { waiter <- getCtx(rt, context.Background(), srv.URL) }()
		if err := <-busy; err != nil {
			t.Fatal(err)
		}
		if err := <-waiter; err != nil {
			t.Errorf("%s: waiter: %v", name, err)
		}
		if n := conns.Load(); n != 1 {
			t.Errorf("%s: %d connections, want 1 (MaxConnsPerHost)", name, n)
		}
	}
}

// TestPoolGlobalIdleLimitEvictsTheOldest: with MaxIdleConns 1, returning
// a conn to a second host evicts the older idle conn (net/http's LRU), so
// the second host's next request reuses its conn.
func TestPoolGlobalIdleLimitEvictsTheOldest(t *testing.T) {
	got := map[string][2]int64{}
	for _, name := range []string{"net/http", "herz"} {
		s1, c1 := slowConnServer(t)
		s2, c2 := slowConnServer(t)
		base := &http.Transport{MaxIdleConns: 1}
		var rt http.RoundTripper = base
		if name == "herz" {
			h := transport.Must(transport.Config{Base: base})
			t.Cleanup(func() { h.Close() })
			rt = h
		} else {
			t.Cleanup(base.CloseIdleConnections)
		}
		for _, u := range []string{s1.URL, s2.URL, s2.URL, s1.URL} {
			if err := getCtx(rt, context.Background(), u); err != nil {
				t.Fatal(err)
			}
		}
		got[name] = [2]int64{c1.Load(), c2.Load()}
	}
	if got["herz"] != got["net/http"] || got["net/http"] != [2]int64{2, 1} {
		t.Errorf("connections per host: herz %v, net/http %v; want [2 1] (host 1's older conn evicted)", got["herz"], got["net/http"])
	}
}

// TestPoolHandOutChecksLifetimeForUnreplayableRequests: a POST whose body
// cannot be replayed (no GetBody) is never sent on an idle conn past its
// lifetime (no refusal at its first write could save it): the hand-out
// runs the dialer's idle check. net/http, beside it, has no lifetime and
// succeeds too.
func TestPoolHandOutChecksLifetimeForUnreplayableRequests(t *testing.T) {
	srv, conns := slowConnServer(t)
	stdSrv, _ := slowConnServer(t)
	std := &http.Transport{}
	t.Cleanup(std.CloseIdleConnections)
	herz := transport.Must(transport.Config{Proxy: transport.NoProxy, MaxLifetime: 100 * time.Millisecond, Dialer: dialer.Config{DisableEvictor: true}})
	t.Cleanup(func() { herz.Close() })
	for _, c := range []struct {
		rt  http.RoundTripper
		url string
	}{{std, stdSrv.URL}, {herz, srv.URL}} {
		if err := getCtx(c.rt, context.Background(), c.url); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(150 * time.Millisecond) // herz's conn is past its lifetime
	for _, c := range []struct {
		rt  http.RoundTripper
		url string
	}{{std, stdSrv.URL}, {herz, srv.URL}} {
		req, _ := http.NewRequest(http.MethodPost, c.url, io.NopCloser(strings.NewReader("once")))
		resp, err := c.rt.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("herz: %d connections, want 2 (the POST on a new one, not the expired one): %v", n, herz.Stats())
	}
}
