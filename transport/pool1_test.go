package transport_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herz-go/herz/internal/testenv"
	"github.com/herz-go/herz/transport"
)

// Tests of herz's own HTTP/1.1 pool (plain http:// requests), each against
// net/http's pool in the same test with the same server.

// countingDial wraps std's dialing so that the test sees when its conns close.
type countingDial struct{ open atomic.Int64 }

type countedConn struct {
	net.Conn
	once sync.Once
	d    *countingDial
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.d.open.Add(-1) })
	return c.Conn.Close()
}

func (d *countingDial) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	d.open.Add(1)
	return &countedConn{Conn: c, d: d}, nil
}

// waitFor polls cond every 10 ms for up to limit and reports whether it held.
func waitFor(limit time.Duration, cond func() bool) bool {
	for end := time.Now().Add(limit); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// roundTrip sends a request without a body through rt and returns the
// response, failing the test on an error.
func roundTrip(t *testing.T, rt http.RoundTripper, method, url string) *http.Response {
	t.Helper()
	return roundTripCtx(t, context.Background(), rt, method, url)
}

func roundTripCtx(t *testing.T, ctx context.Context, rt http.RoundTripper, method, url string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// getOnce sends a GET through rt and reads and closes the response.
func getOnce(t *testing.T, rt http.RoundTripper, url string) {
	t.Helper()
	resp := roundTrip(t, rt, http.MethodGet, url)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

// TestPoolClosesConnsIdleForIdleConnTimeout: an idle conn is closed once it
// has been idle for IdleConnTimeout, as net/http's pool does, with no
// request coming to find it.
func TestPoolClosesConnsIdleForIdleConnTimeout(t *testing.T) {
	const idle = 100 * time.Millisecond
	srv := testenv.NewHTTPServer(t, testenv.HTTPOptions{})
	herz := newHerz(t, srv, testenv.HTTP1, transport.Config{IdleConnTimeout: idle})
	var cd countingDial
	std := stdlibFor(t, srv, testenv.HTTP1)
	std.IdleConnTimeout = idle
	std.DialContext = cd.dial

	getOnce(t, herz, srv.URL())
	getOnce(t, std, srv.URL())
	if open := herz.Stats().Open; open != 1 {
		t.Fatalf("herz has %d open conns after one request; want 1", open)
	}
	stdClosed := waitFor(2*time.Second, func() bool { return cd.open.Load() == 0 })
	herzClosed := waitFor(2*time.Second, func() bool { return herz.Stats().Open == 0 })
	if !stdClosed {
		t.Fatal("net/http did not close its idle conn within 2 s: the test's premise is wrong")
	}
	if !herzClosed {
		t.Fatalf("herz still has %d conns open 2 s after IdleConnTimeout %v; net/http closed its one", herz.Stats().Open, idle)
	}
}

// TestPoolKeepsAtMostMaxIdleConnsPerHost: after a burst of concurrent
// requests, the pool keeps MaxIdleConnsPerHost conns and closes the rest, so
// a second burst dials as many new conns as net/http's would, not more.
func TestPoolKeepsAtMostMaxIdleConnsPerHost(t *testing.T) {
	const burst, keep = 6, 2
	srv := testenv.NewHTTPServer(t, testenv.HTTPOptions{Delay: 50 * time.Millisecond})
	herz := newHerz(t, srv, testenv.HTTP1, transport.Config{MaxIdleConnsPerHost: keep})
	std := stdlibFor(t, srv, testenv.HTTP1)
	std.MaxIdleConnsPerHost = keep
	newConns := func(rt http.RoundTripper) int {
		before := srv.Conns()
		var wg sync.WaitGroup
		for range burst {
			wg.Go(func() { getOnce(t, rt, srv.URL()) })
		}
		wg.Wait()
		return srv.Conns() - before
	}
	second := map[string]int{}
	for _, c := range []struct {
		name string
		rt   http.RoundTripper
	}{{"stdlib", std}, {"herz", herz}} {
		first := newConns(c.rt)
		second[c.name] = newConns(c.rt)
		t.Logf("%s: %d new conns in the first burst, %d in the second", c.name, first, second[c.name])
	}
	if idle := herz.Stats().Idle; idle > keep {
		t.Fatalf("herz keeps %d idle conns; MaxIdleConnsPerHost is %d", idle, keep)
	}
	if n := second["herz"]; n > burst-keep || n > second["stdlib"] {
		t.Fatalf("herz dialed %d new conns in the second burst of %d (net/http %d); with %d kept idle, at most %d", n, burst, second["stdlib"], keep, burst-keep)
	}
}

// TestPoolTracedRequestsShareConnsWithHooksInNetHTTPsOrder: requests with
// the caller's httptrace hooks go through herz's pool: traced and untraced
// requests share one conn, and each traced request sees the hooks net/http
// calls, in net/http's order, for a dial and for a reuse.
func TestPoolTracedRequestsShareConnsWithHooksInNetHTTPsOrder(t *testing.T) {
	seqs := map[string][]string{}
	for _, name := range []string{"net/http", "herz"} {
		srv := testenv.NewHTTPServer(t, testenv.HTTPOptions{})
		var rt http.RoundTripper = stdlibFor(t, srv, testenv.HTTP1)
		if name == "herz" {
			rt = newHerz(t, srv, testenv.HTTP1, transport.Config{})
		}
		var mu sync.Mutex
		var seq []string
		add := func(s string) { mu.Lock(); seq = append(seq, s); mu.Unlock() }
		trace := &httptrace.ClientTrace{
			GetConn:      func(string) { add("GetConn") },
			ConnectStart: func(string, string) { add("ConnectStart") },
			ConnectDone:  func(string, string, error) { add("ConnectDone") },
			GotConn: func(i httptrace.GotConnInfo) {
				add(fmt.Sprintf("GotConn(reused=%v,idle=%v)", i.Reused, i.WasIdle))
			},
			WroteHeaders:         func() { add("WroteHeaders") },
			WroteRequest:         func(httptrace.WroteRequestInfo) { add("WroteRequest") },
			GotFirstResponseByte: func() { add("GotFirstResponseByte") },
			PutIdleConn:          func(error) { add("PutIdleConn") },
		}
		for i, traced := range []bool{true, false, true} {
			ctx := context.Background()
			if traced {
				ctx = httptrace.WithClientTrace(ctx, trace)
			}
			resp := roundTripCtx(t, ctx, rt, http.MethodGet, srv.URL())
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if !waitFor(time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return !traced || seq[len(seq)-1] == "PutIdleConn" }) {
				t.Fatalf("%s: request %d: no PutIdleConn: %v", name, i, seq)
			}
			add("|")
		}
		if n := srv.Conns(); n != 1 {
			t.Errorf("%s: 3 requests (2 traced) took %d conns, want 1", name, n)
		}
		mu.Lock()
		seqs[name] = seq
		mu.Unlock()
	}
	if got, want := strings.Join(seqs["herz"], " "), strings.Join(seqs["net/http"], " "); got != want {
		t.Errorf("hooks:\nherz:     %s\nnet/http: %s", got, want)
	}
}

// TestPoolCloseClosesConnsReturnedLater: a conn whose response is still
// being read when the Transport is closed is closed when it comes back, not
// kept idle; net/http does the same after CloseIdleConnections.
func TestPoolCloseClosesConnsReturnedLater(t *testing.T) {
	srv := testenv.NewHTTPServer(t, testenv.HTTPOptions{})
	herz, err := transport.New(transport.Config{Proxy: transport.NoProxy})
	if err != nil {
		t.Fatal(err)
	}
	defer herz.Close()
	var cd countingDial
	std := stdlibFor(t, srv, testenv.HTTP1)
	std.DialContext = cd.dial
	closeDuring := func(rt http.RoundTripper, closeIt func()) {
		resp := roundTrip(t, rt, http.MethodGet, srv.URL())
		closeIt()
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	closeDuring(std, std.CloseIdleConnections)
	closeDuring(herz, func() { herz.Close() })
	if !waitFor(2*time.Second, func() bool { return herz.Stats().Open == 0 }) {
		t.Fatalf("%d conns open 2 s after the closed Transport's last response was read (net/http: %d)", herz.Stats().Open, cd.open.Load())
	}
}

// TestPoolReusesConnsAfterResponsesWithoutBody: a response with no body
// (HEAD, 204, an empty 503) leaves its conn reusable at once; the pool must
// take it back although the ClientConn's state hook reports no change for
// it, or every such request would leave a conn behind and dial a new one.
func TestPoolReusesConnsAfterResponsesWithoutBody(t *testing.T) {
	srv := testenv.NewHTTPServer(t, testenv.HTTPOptions{BodySize: -1})
	herz := newHerz(t, srv, testenv.HTTP1, transport.Config{})
	std := stdlibFor(t, srv, testenv.HTTP1)
	conns := map[string]int{}
	for _, c := range []struct {
		name string
		rt   http.RoundTripper
	}{{"stdlib", std}, {"herz", herz}} {
		before := srv.Conns()
		for _, method := range []string{http.MethodHead, http.MethodGet, http.MethodHead, http.MethodGet, http.MethodGet} {
			resp := roundTrip(t, c.rt, method, srv.URL())
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		conns[c.name] = srv.Conns() - before
	}
	if conns["herz"] > conns["stdlib"] {
		t.Fatalf("5 requests with empty responses took %d conns with herz, %d with net/http", conns["herz"], conns["stdlib"])
	}
	if open := herz.Stats().Open; open != conns["herz"] {
		t.Fatalf("herz has %d conns open after dialing %d: a conn was lost by the pool", open, conns["herz"])
	}
}
