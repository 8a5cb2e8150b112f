package transport_test

import (
	"bytes"
	"io"
	"log"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herz-go/herz/internal/testenv"
	"github.com/herz-go/herz/transport"
)

// harden hardens a copy of http.DefaultTransport set up for srv (as
// stdlibFor: no proxy, srv's TLS trust) and cleans up after the test.
func harden(t *testing.T, srv *testenv.HTTPServer, p testenv.Protocol) (*http.Transport, *transport.Hardened) {
	t.Helper()
	tr := stdlibFor(t, srv, p)
	h, err := transport.Harden(tr, transport.HardenConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(); tr.CloseIdleConnections() })
	return tr, h
}

// TestHardenRoutesRequestsThroughHerz: a hardened transport's http and
// https requests go through herz (counted in its Stats), on the protocol
// net/http would use with that transport, with net/http's answers.
func TestHardenRoutesRequestsThroughHerz(t *testing.T) {
	for _, p := range []testenv.Protocol{testenv.HTTP1, testenv.HTTPS} {
		t.Run(p.String(), func(t *testing.T) {
			srv := testenv.NewHTTPServer(t, testenv.HTTPOptions{Protocol: p})
			std := stdlibFor(t, srv, p)
			std.ForceAttemptHTTP2 = true
			hardened := stdlibFor(t, srv, p)
			hardened.ForceAttemptHTTP2 = true
			h, err := transport.Harden(hardened, transport.HardenConfig{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { h.Close() })
			for _, rt := range []*http.Transport{std, hardened} {
				for range 3 {
					resp, err := rt.RoundTrip(mustGet(t, srv.URL()))
					if err != nil {
						t.Fatal(err)
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if want := map[testenv.Protocol]int{testenv.HTTP1: 1, testenv.HTTPS: 2}[p]; resp.StatusCode != 200 || resp.ProtoMajor != want {
						t.Errorf("%d over %s, want 200 over HTTP/%d", resp.StatusCode, resp.Proto, want)
					}
				}
			}
			if st := h.Stats(); st.Requests != 3 || st.Dials != 1 || srv.Conns() != 2 {
				t.Errorf("herz saw %d requests and %d dials, want 3 and 1; the server saw %d conns, want 2 (1 each): %v", st.Requests, st.Dials, srv.Conns(), st)
			}
		})
	}
}

// TestHardenTwiceIsAnError: the second Harden of a transport fails and
// changes nothing; the first keeps routing its requests.
func TestHardenTwiceIsAnError(t *testing.T) {
	srv := testenv.NewHTTPServer(t, testenv.HTTPOptions{})
	tr, h := harden(t, srv, testenv.HTTP1)
	dial := tr.DialContext
	if h2, err := transport.Harden(tr, transport.HardenConfig{}); err == nil || h2 != nil || !strings.Contains(err.Error(), "already hardened") {
		t.Fatalf("second Harden = %v, %v; want an error", h2, err)
	}
	if o := do(tr, http.MethodGet, srv.URL()); o.err != "" || o.status != 200 {
		t.Fatal(o)
	}
	if st := h.Stats(); st.Requests != 1 {
		t.Errorf("herz saw %d requests, want 1", st.Requests)
	}
	if strings.Contains(h.Stats().String(), "dials=2") || tr.DialContext == nil || dial == nil {
		t.Errorf("the second Harden changed the transport")
	}
}

// TestHardenAfterFirstUseIsAnError: once a transport set its HTTP/2 up
// (a request, or a library's Clone of it), herz can no longer take its
// https requests: Harden says so and changes nothing.
func TestHardenAfterFirstUseIsAnError(t *testing.T) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	_ = tr.Clone() // what a library does with http.DefaultTransport
	if h, err := transport.Harden(tr, transport.HardenConfig{}); err == nil || h != nil || !strings.Contains(err.Error(), "before its first use") {
		t.Fatalf("Harden after Clone = %v, %v; want an error", h, err)
	}
	if tr.HTTP2 != nil {
		t.Error("a failed Harden changed the transport")
	}
}

// TestHardenedCloseKeepsTheTransportWorking: closing what Harden returned
// never breaks the transport: its requests and its clones' keep working
// (net/http's own pool takes them), as net/http beside it.
func TestHardenedCloseKeepsTheTransportWorking(t *testing.T) {
	for _, p := range []testenv.Protocol{testenv.HTTP1, testenv.HTTPS} {
		t.Run(p.String(), func(t *testing.T) {
			srv := testenv.NewHTTPServer(t, testenv.HTTPOptions{Protocol: p})
			std := stdlibFor(t, srv, p)
			tr, h := harden(t, srv, p)
			if o := do(tr, http.MethodGet, srv.URL()); o.err != "" {
				t.Fatal(o)
			}
			if err := h.Close(); err != nil {
				t.Fatal(err)
			}
			clone := tr.Clone()
			t.Cleanup(clone.CloseIdleConnections)
			for _, rt := range []http.RoundTripper{std, tr, clone} {
				for range 2 {
					if o := do(rt, http.MethodGet, srv.URL()); o.err != "" || o.status != 200 {
						t.Errorf("%T after Close: %+v", rt, o)
					}
				}
			}
			if st := h.Stats(); st.Requests != 1 {
				t.Errorf("herz saw %d requests, want the 1 before Close", st.Requests)
			}
		})
	}
}

// TestHardenCloseIdleConnectionsReachesHerz: the hardened transport's
// CloseIdleConnections closes herz's idle connections too, so the next
// request dials, as with net/http.
func TestHardenCloseIdleConnectionsReachesHerz(t *testing.T) {
	for _, p := range []testenv.Protocol{testenv.HTTP1, testenv.HTTPS} {
		t.Run(p.String(), func(t *testing.T) {
			conns := map[string]int{}
			for _, name := range []string{"net/http", "hardened"} {
				srv := testenv.NewHTTPServer(t, testenv.HTTPOptions{Protocol: p})
				tr := stdlibFor(t, srv, p)
				if name == "hardened" {
					tr, _ = harden(t, srv, p)
				}
				for range 2 {
					if o := do(tr, http.MethodGet, srv.URL()); o.err != "" {
						t.Fatal(o)
					}
					tr.CloseIdleConnections()
				}
				conns[name] = srv.Conns()
			}
			if conns["hardened"] != conns["net/http"] || conns["net/http"] != 2 {
				t.Errorf("connections after CloseIdleConnections between 2 requests: hardened %d, net/http %d; want 2", conns["hardened"], conns["net/http"])
			}
		})
	}
}

// TestHardenSetsUpNoHTTP2OfItsOwn: the hardened transport does not set up
// its bundled HTTP/2 (herz's transport speaks it), so net/http logs no
// "Error enabling Transport HTTP/2 support" on the first request or Clone.
func TestHardenSetsUpNoHTTP2OfItsOwn(t *testing.T) {
	var buf syncBuffer
	prev, flags := log.Writer(), log.Flags()
	log.SetOutput(&buf)
	defer func() { log.SetOutput(prev); log.SetFlags(flags) }()
	srv := testenv.NewHTTPServer(t, testenv.HTTPOptions{Protocol: testenv.HTTPS})
	tr, _ := harden(t, srv, testenv.HTTPS)
	clone := tr.Clone()
	clone.CloseIdleConnections()
	if o := do(tr, http.MethodGet, srv.URL()); o.err != "" {
		t.Fatal(o)
	}
	if s := buf.String(); s != "" {
		t.Errorf("net/http logged %q", s)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestIdleCloseRaceThroughAHardenedTransport: the idle-close race (server
// idle timeout 30ms, POSTs spaced 0.8–1.2× it) through a hardened copy of
// http.DefaultTransport: no more errors than net/http beside it against an
// identical server, and 0 duplicates.
func TestIdleCloseRaceThroughAHardenedTransport(t *testing.T) {
	const (
		idle       = 30 * time.Millisecond
		goroutines = 4
		perG       = 120
	)
	if testing.Short() {
		t.Skip("4s soak; skipped in -short")
	}
	herzSrv := testenv.NewHTTPServer(t, testenv.HTTPOptions{IdleTimeout: idle})
	stdSrv := testenv.NewHTTPServer(t, testenv.HTTPOptions{IdleTimeout: idle})
	hardened, h := harden(t, herzSrv, testenv.HTTP1)
	std := stdlibFor(t, stdSrv, testenv.HTTP1)
	// Idle closes at three moments (a deadline acts once two agree), as
	// in TestIdleCloseRacePOSTsSeeNoErrorsAndNoDuplicates.
	warmUpUntil(t, hardened, herzSrv.URL(), func() (uint64, bool) {
		n := h.Stats().PeerCloses
		return n, n >= 3
	})
	warmUpUntil(t, std, stdSrv.URL(), nil)
	var herzErrs, stdErrs int64
	var herzFirst, stdFirst error
	var wg sync.WaitGroup
	wg.Go(func() { herzErrs, herzFirst = postRace(hardened, herzSrv.URL(), goroutines, perG, idle) })
	wg.Go(func() { stdErrs, stdFirst = postRace(std, stdSrv.URL(), goroutines, perG, idle) })
	wg.Wait()
	t.Logf("hardened: %d errors (first: %v), %d duplicates; %v", herzErrs, herzFirst, herzSrv.Duplicates(), h.Stats())
	t.Logf("net/http: %d errors (first: %v), %d duplicates", stdErrs, stdFirst, stdSrv.Duplicates())
	if herzSrv.Duplicates() != 0 {
		t.Errorf("hardened: server executed %d POSTs twice, want 0", herzSrv.Duplicates())
	}
	// No more errors than net/http, not a flat 0: see
	// TestIdleCloseRacePOSTsSeeNoErrorsAndNoDuplicates.
	if herzErrs > stdErrs {
		t.Errorf("hardened: %d errors, more than net/http's %d", herzErrs, stdErrs)
	}
}
