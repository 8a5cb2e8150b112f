package transport_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/herz-go/herz/breaker"
	"github.com/herz-go/herz/dialer"
	"github.com/herz-go/herz/internal/testenv"
	"github.com/herz-go/herz/transport"
)

// pathServer answers /always503 with 503, /slow after 2s (or when the
// client goes away) and anything else with 200.
func pathServer(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/always503":
			w.WriteHeader(http.StatusServiceUnavailable)
		case "/slow":
			select {
			case <-r.Context().Done():
				return
			case <-time.After(2 * time.Second):
			}
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return srv
}

// get sends a GET (a POST when post) to url through rt within timeout and
// returns the status.
func get(rt http.RoundTripper, method, url string, timeout time.Duration) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// TestDefaultBreakerLeavesHealthyPathsAlone: with the default Config, a
// path answering 503 and a path the callers time out on do not open the
// host's breaker: the failing path's callers keep getting their 503
// responses (not errors), and a healthy path on the same host answers 200 —
// exactly what net/http gives, in the same test against the same server.
func TestDefaultBreakerLeavesHealthyPathsAlone(t *testing.T) {
	srv := pathServer(t)
	herz, err := transport.New(transport.Config{Proxy: transport.NoProxy})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { herz.Close() })
	std := http.DefaultTransport.(*http.Transport).Clone()
	std.Proxy = nil
	t.Cleanup(std.CloseIdleConnections)

	for _, rt := range []http.RoundTripper{std, herz} {
		name := map[bool]string{true: "herz", false: "net/http"}[rt == http.RoundTripper(herz)]
		// 503s: 3 GETs and 6 POSTs (none retried by default), well past the
		// breaker's 5 consecutive failures were they counted.
		for i := range 9 {
			method := http.MethodGet
			if i >= 3 {
				method = http.MethodPost
			}
			if code, err := get(rt, method, srv.URL+"/always503", 5*time.Second); err != nil || code != 503 {
				t.Errorf("%s: %s /always503 #%d: %d, %v; want the 503 response", name, method, i, code, err)
			}
		}
		// Caller timeouts on a slow path.
		for i := range 8 {
			if _, err := get(rt, http.MethodGet, srv.URL+"/slow", 20*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("%s: GET /slow #%d with a 20ms deadline: %v, want context.DeadlineExceeded", name, i, err)
			}
		}
		if code, err := get(rt, http.MethodGet, srv.URL+"/ok", 5*time.Second); err != nil || code != 200 {
			t.Errorf("%s: GET /ok after the other paths failed: %d, %v; want 200", name, code, err)
		}
		if code, err := get(rt, http.MethodGet, srv.URL+"/always503", 5*time.Second); err != nil || code != 503 {
			t.Errorf("%s: GET /always503 again: %d, %v; want the 503 response", name, code, err)
		}
	}
	st := herz.Stats()
	if st.BreakerRejects != 0 || st.Breakers[srv.Listener.Addr().String()] != breaker.StateClosed {
		t.Errorf("herz's breaker: %d rejects, state %v; want 0, closed", st.BreakerRejects, st.Breakers)
	}
	t.Logf("%v", st)
}

// TestBreakerStatusesAreOptIn: with BreakerStatuses, the listed statuses
// open the host's breaker.
func TestBreakerStatusesAreOptIn(t *testing.T) {
	srv := pathServer(t)
	herz := transport.Must(transport.Config{Proxy: transport.NoProxy, BreakerStatuses: []int{503}, Retry: transport.RetryConfig{MaxRetries: transport.NoRetries}})
	t.Cleanup(func() { herz.Close() })
	var err error
	for i := 0; i < 10 && err == nil; i++ {
		_, err = get(herz, http.MethodGet, srv.URL+"/always503", 5*time.Second)
	}
	if !errors.Is(err, breaker.ErrOpen) {
		t.Fatalf("10 503s with BreakerStatuses [503]: %v, want breaker.ErrOpen", err)
	}
	// The per-request opt-out reaches the host anyway.
	ctx := transport.WithoutBreaker(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/ok", nil)
	resp, err := herz.RoundTrip(req)
	if err != nil {
		t.Fatalf("GET WithoutBreaker while the breaker is open: %v", err)
	}
	resp.Body.Close()
	if st := herz.Stats(); st.BreakerRejects == 0 {
		t.Errorf("Stats.BreakerRejects = 0 after a rejection")
	}
	if _, err := transport.New(transport.Config{BreakerStatuses: []int{99}}); err == nil {
		t.Error("BreakerStatuses [99] accepted")
	}
}

// TestConnectsPerRequestToARefusedPort: retries happen in one layer — a
// GET to a refused port makes at most 1 + MaxRetries connects (the dialer
// does not retry under the Transport's retries), one under WithoutRetries
// as net/http; counted at the socket (Dialer.Control / net.Dialer.Control).
func TestConnectsPerRequestToARefusedPort(t *testing.T) {
	url := "http://" + testenv.ClosedAddr(t) + "/"
	var stdConnects, herzConnects atomic.Int64
	std := http.DefaultTransport.(*http.Transport).Clone()
	std.Proxy = nil
	std.DialContext = (&net.Dialer{Control: func(string, string, syscall.RawConn) error { stdConnects.Add(1); return nil }}).DialContext
	t.Cleanup(std.CloseIdleConnections)
	herz := transport.Must(transport.Config{Proxy: transport.NoProxy, Dialer: dialer.Config{
		Control: func(string, string, syscall.RawConn) error { herzConnects.Add(1); return nil },
	}})
	t.Cleanup(func() { herz.Close() })

	start := time.Now()
	_, stdErr := get(std, http.MethodGet, url, 5*time.Second)
	stdTook := time.Since(start)
	start = time.Now()
	_, herzErr := get(herz, http.MethodGet, url, 5*time.Second)
	herzTook := time.Since(start)
	t.Logf("refused port: net/http %d connect(s) in %v (%v); herz %d in %v (%v)", stdConnects.Load(), stdTook, stdErr, herzConnects.Load(), herzTook, herzErr)
	if stdErr == nil || herzErr == nil {
		t.Fatal("a GET to a refused port succeeded")
	}
	if !errors.Is(herzErr, syscall.ECONNREFUSED) {
		t.Errorf("herz's error %v does not wrap ECONNREFUSED", herzErr)
	}
	if n, max := herzConnects.Load(), int64(1+2); n > max || n < stdConnects.Load() {
		t.Errorf("herz made %d connects for one GET, want %d..%d (1 + MaxRetries)", n, stdConnects.Load(), max)
	}

	herzConnects.Store(0)
	req, _ := http.NewRequestWithContext(transport.WithoutRetries(context.Background()), http.MethodGet, url, nil)
	if _, err := herz.RoundTrip(req); err == nil {
		t.Fatal("a GET to a refused port succeeded")
	}
	if n := herzConnects.Load(); n != 1 {
		t.Errorf("WithoutRetries: %d connects, want 1 (as net/http)", n)
	}
}

// TestFirstSuccessWithinASecondAfterAnOutage is P14: callers keep sending
// GETs while the server is down for 1.5s; once it is back, the first
// success comes within 1s, through herz's Transport (whose request breaker
// ignores refused connects) and through a hardened http.Transport (whose dial
// breaker opens and must recover). net/http, in the same run, is the
// reference.
func TestFirstSuccessWithinASecondAfterAnOutage(t *testing.T) {
	for _, p := range []testenv.Protocol{testenv.HTTP1, testenv.HTTPS} {
		t.Run(p.String(), func(t *testing.T) {
			srv := testenv.NewHTTPServer(t, testenv.HTTPOptions{Protocol: p})
			var mu sync.Mutex
			var transitions []string
			t0 := time.Now()
			herz := newHerz(t, srv, p, transport.Config{Breaker: breaker.Config{OnStateChange: func(_ string, _, to breaker.State) {
				mu.Lock()
				transitions = append(transitions, fmt.Sprintf("%v@%v", to, time.Since(t0).Round(time.Millisecond)))
				mu.Unlock()
			}}})
			std := stdlibFor(t, srv, p)
			hardened := stdlibFor(t, srv, p)
			d, err := transport.Harden(hardened, transport.HardenConfig{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { d.Close() })
			rts := []http.RoundTripper{herz, hardened, std}
			names := []string{"herz", "hardened net/http", "net/http"}
			for _, rt := range rts {
				if code, err := get(rt, http.MethodGet, srv.URL(), 5*time.Second); err != nil || code != 200 {
					t.Fatalf("warm-up: %d, %v", code, err)
				}
			}
			srv.Stop()
			var back atomic.Int64 // UnixNano of the restart
			var wg sync.WaitGroup
			firsts := make([]time.Duration, len(rts))
			for i, rt := range rts {
				wg.Go(func() {
					deadline := time.Now().Add(6 * time.Second)
					for time.Now().Before(deadline) {
						code, err := get(rt, http.MethodGet, srv.URL(), time.Second)
						if err == nil && code == 200 {
							if b := back.Load(); b != 0 {
								firsts[i] = time.Since(time.Unix(0, b))
								return
							}
							t.Errorf("%s: success while the server was down", names[i])
							return
						}
						time.Sleep(2 * time.Millisecond)
					}
					firsts[i] = -1
				})
			}
			time.Sleep(1500 * time.Millisecond)
			back.Store(time.Now().UnixNano())
			serverBack := time.Since(t0)
			srv.Restart()
			wg.Wait()
			st := herz.Stats()
			mu.Lock()
			t.Logf("server back at %v; herz's breaker: %v", serverBack.Round(time.Millisecond), transitions)
			mu.Unlock()
			t.Logf("first success after the outage: herz %v, hardened %v, net/http %v; herz %v; hardened dialer %v", firsts[0], firsts[1], firsts[2], st, d.Stats())
			if firsts[2] < 0 {
				t.Fatal("net/http never recovered: the outage did not end")
			}
			for i := range 2 {
				if firsts[i] < 0 || firsts[i] > time.Second {
					t.Errorf("%s: first success %v after the outage ended, want ≤ 1s", names[i], firsts[i])
				}
			}
			// herz's request breaker ignores refused connects (they fail fast
			// by themselves); the hardened transport's requests go through
			// herz too, with the same rule.
			if st.BreakerRejects != 0 {
				t.Errorf("herz's request breaker rejected %d requests for refused connects", st.BreakerRejects)
			}
			if hs := d.Stats(); hs.BreakerRejects != 0 || hs.Requests == 0 {
				t.Errorf("hardened: %d breaker rejects for refused connects, %d requests through herz; want 0 and > 0", hs.BreakerRejects, hs.Requests)
			}
		})
	}
}
