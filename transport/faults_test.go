package transport_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/herz-go/herz/breaker"
	"github.com/herz-go/herz/dialer"
	"github.com/herz-go/herz/internal/testenv"
	"github.com/herz-go/herz/transport"
)

func ctx10s(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestResetMidPoolGETsSucceedPOSTsAreNeverDuplicated: every 5th request's
// connection is reset after the server executed it. GETs are retried and all
// succeed; a POST that met a reset gets the error (its side effect happened)
// and no POST ever runs twice.
func TestResetMidPoolGETsSucceedPOSTsAreNeverDuplicated(t *testing.T) {
	for _, p := range protocols {
		t.Run(p.String(), func(t *testing.T) {
			srv := testenv.NewHTTPServer(t, testenv.HTTPOptions{Protocol: p, ResetEvery: 5})
			tr := newHerz(t, srv, p, transport.Config{DisableBreaker: true})
			ctx := ctx10s(t)
			for i := range 60 {
				if code, _, err := send(ctx, tr, http.MethodGet, srv.URL()); err != nil || code != 200 {
					t.Fatalf("GET %d: %d, %v", i, code, err)
				}
			}
			var postErrs int
			for i := range 60 {
				_, id, err := send(ctx, tr, http.MethodPost, srv.URL())
				if err != nil {
					postErrs++
				}
				if n := srv.Executions(id); n > 1 {
					t.Errorf("POST %d (%s) executed %d times", i, id, n)
				}
			}
			st := tr.Stats()
			t.Logf("POST errors (reset after execution, correctly not retried): %d/60; %v", postErrs, st)
			if postErrs == 0 {
				t.Error("no POST saw a reset: the fault did not happen")
			}
		})
	}
}

// TestStorm503WithRetryAfter: during a 503 storm with Retry-After: 1, a GET
// waits as told and succeeds once the storm ends; a POST gets the 503 back
// at once, sent once.
func TestStorm503WithRetryAfter(t *testing.T) {
	for _, p := range protocols {
		t.Run(p.String(), func(t *testing.T) {
			srv := testenv.NewHTTPServer(t, testenv.HTTPOptions{Protocol: p})
			tr := newHerz(t, srv, p, transport.Config{DisableBreaker: true, Retry: transport.RetryConfig{RetryStatus: transport.RetryUnavailable}})
			ctx := ctx10s(t)

			srv.SetStatus(http.StatusServiceUnavailable, "1")
			before := srv.Requests()
			code, _, err := send(ctx, tr, http.MethodPost, srv.URL())
			if err != nil || code != http.StatusServiceUnavailable {
				t.Fatalf("POST in a storm: %d, %v; want the 503 itself", code, err)
			}
			if n := srv.Requests() - before; n != 1 {
				t.Errorf("POST in a storm reached the server %d times, want 1", n)
			}

			timer := time.AfterFunc(300*time.Millisecond, func() { srv.SetStatus(0, "") })
			defer timer.Stop()
			start := time.Now()
			code, id, err := send(ctx, tr, http.MethodGet, srv.URL())
			if err != nil || code != http.StatusOK {
				t.Fatalf("GET across a storm: %d, %v; want 200", code, err)
			}
			if took := time.Since(start); took < 900*time.Millisecond {
				t.Errorf("GET succeeded after %v: Retry-After: 1 was not honoured", took)
			}
			if srv.Executions(id) != 1 || srv.Duplicates() != 0 {
				t.Errorf("executions %d, duplicates %d; want 1, 0", srv.Executions(id), srv.Duplicates())
			}
			if st := tr.Stats(); st.Retries["status_503"] == 0 {
				t.Errorf("Stats.Retries = %v, want status_503 counted", st.Retries)
			}
		})
	}
}

// TestRetryAfterBeyondTheCapReturnsTheResponse: a Retry-After longer than
// MaxRetryAfter, or past the deadline, gives the caller the 503 at once.
func TestRetryAfterBeyondTheCapReturnsTheResponse(t *testing.T) {
	srv := testenv.NewHTTPServer(t, testenv.HTTPOptions{})
	tr := newHerz(t, srv, testenv.HTTP1, transport.Config{DisableBreaker: true, Retry: transport.RetryConfig{MaxRetryAfter: 2 * time.Second, RetryStatus: transport.RetryUnavailable}})
	for _, ra := range []string{"120", "5"} {
		srv.SetStatus(http.StatusServiceUnavailable, ra)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		before := srv.Requests()
		start := time.Now()
		code, _, err := send(ctx, tr, http.MethodGet, srv.URL())
		cancel()
		if err != nil || code != http.StatusServiceUnavailable {
			t.Errorf("Retry-After %s: %d, %v; want the 503", ra, code, err)
		}
		if n := srv.Requests() - before; n != 1 || time.Since(start) > time.Second {
			t.Errorf("Retry-After %s: %d attempts in %v, want 1 at once", ra, n, time.Since(start))
		}
	}
	// Within the cap but past the request's deadline: same.
	srv.SetStatus(http.StatusServiceUnavailable, "1")
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if code, _, err := send(ctx, tr, http.MethodGet, srv.URL()); err != nil || code != http.StatusServiceUnavailable {
		t.Errorf("Retry-After past the deadline: %d, %v; want the 503", code, err)
	}
}

// TestServerRestartOnTheSamePort: pooled connections die with the server;
// GETs after a restart, and a GET sent while the server is down and
// restarted shortly after, succeed. Retries happen in one layer (the
// dialer does not retry under the Transport's): the default 2 retries back
// off 75–225ms in all, which need not span the 100ms outage, so the test
// allows 4 (≥ 375ms).
func TestServerRestartOnTheSamePort(t *testing.T) {
	for _, p := range protocols {
		t.Run(p.String(), func(t *testing.T) {
			srv := testenv.NewHTTPServer(t, testenv.HTTPOptions{Protocol: p})
			tr := newHerz(t, srv, p, transport.Config{Retry: transport.RetryConfig{MaxRetries: 4}})
			ctx := ctx10s(t)
			for range 3 {
				if code, _, err := send(ctx, tr, http.MethodGet, srv.URL()); err != nil || code != 200 {
					t.Fatalf("warm-up GET: %d, %v", code, err)
				}
			}
			srv.Restart()
			for i := range 5 {
				if code, _, err := send(ctx, tr, http.MethodGet, srv.URL()); err != nil || code != 200 {
					t.Fatalf("GET %d after restart: %d, %v", i, code, err)
				}
			}
			srv.Stop()
			timer := time.AfterFunc(100*time.Millisecond, srv.Restart)
			defer timer.Stop()
			if code, _, err := send(ctx, tr, http.MethodGet, srv.URL()); err != nil || code != 200 {
				t.Fatalf("GET across a 100ms outage: %d, %v", code, err)
			}
			t.Logf("%v", tr.Stats())
		})
	}
}

// TestGoAwayRequestsSucceed: graceful restarts (GOAWAY on HTTP/2) under
// concurrent GETs and POSTs: every request succeeds, none runs twice.
func TestGoAwayRequestsSucceed(t *testing.T) {
	for _, p := range []testenv.Protocol{testenv.HTTPS, testenv.H2C} {
		t.Run(p.String(), func(t *testing.T) {
			srv := testenv.NewHTTPServer(t, testenv.HTTPOptions{Protocol: p, Delay: 2 * time.Millisecond})
			tr := newHerz(t, srv, p, transport.Config{})
			ctx := ctx10s(t)
			stop := make(chan struct{})
			var wg sync.WaitGroup
			var mu sync.Mutex
			var errs []error
			for g := range 4 {
				method := http.MethodGet
				if g%2 == 1 {
					method = http.MethodPost
				}
				wg.Go(func() {
					for {
						select {
						case <-stop:
							return
						default:
						}
						if code, _, err := send(ctx, tr, method, srv.URL()); err != nil || code != 200 {
							mu.Lock()
							errs = append(errs, errors.Join(err, &statusErr{code}))
							mu.Unlock()
						}
					}
				})
			}
			for range 5 {
				time.Sleep(50 * time.Millisecond)
				srv.GoAway()
			}
			time.Sleep(50 * time.Millisecond)
			close(stop)
			wg.Wait()
			t.Logf("%d requests, %v", srv.Requests(), tr.Stats())
			if len(errs) > 0 {
				t.Errorf("%d requests failed across GOAWAYs, first: %v", len(errs), errs[0])
			}
			if d := srv.Duplicates(); d != 0 {
				t.Errorf("%d requests executed twice", d)
			}
		})
	}
}

// TestBreakerOpensOnADeadHostAndFailsFast: with the host down, requests
// fail, the host's breaker opens, and the next request fails at once with
// an error wrapping breaker.ErrOpen that names the host.
// TestBreakerOpensOnADeadHostAndFailsFast: a host whose every connection is
// reset opens the breaker; requests then fail at once without reaching it.
// (A refused connect does not count: see TestRefusedConnectsNeverOpenTheBreaker.)
func TestBreakerOpensOnADeadHostAndFailsFast(t *testing.T) {
	srv := testenv.NewHTTPServer(t, testenv.HTTPOptions{ResetEvery: 1})
	tr := newHerz(t, srv, testenv.HTTP1, transport.Config{
		Retry:  transport.RetryConfig{MaxRetries: transport.NoRetries},
		Dialer: dialer.Config{DialRetries: -1, DisableBreaker: true},
	})
	ctx := ctx10s(t)
	var err error
	for i := 0; i < 10 && !errors.Is(err, breaker.ErrOpen); i++ {
		_, _, err = send(ctx, tr, http.MethodGet, srv.URL())
		if err == nil {
			t.Fatal("GET to a resetting server succeeded")
		}
	}
	if !errors.Is(err, breaker.ErrOpen) {
		t.Fatalf("after 10 failures: %v, want breaker.ErrOpen", err)
	}
	var oe *breaker.OpenError
	if !errors.As(err, &oe) || oe.Key != srv.Addr() {
		t.Errorf("error %v does not name the host %s", err, srv.Addr())
	}
	before := srv.Requests()
	start := time.Now()
	_, _, err = send(ctx, tr, http.MethodGet, srv.URL())
	took := time.Since(start)
	if !errors.Is(err, breaker.ErrOpen) {
		t.Errorf("with the breaker open: %v, want breaker.ErrOpen", err)
	}
	t.Logf("open breaker rejected in %v: %v; %v", took, err, tr.Stats())
	if srv.Requests() != before {
		t.Error("an open breaker let a request through")
	}
	if st := tr.Stats(); st.Breakers[srv.Addr()] != breaker.StateOpen {
		t.Errorf("Stats.Breakers = %v, want %s open", st.Breakers, srv.Addr())
	}
}

// TestRetryBudgetBoundsRetriesInAnOutage is P9: N requests during a total
// outage add at most Ratio × N + floor retries, not MaxRetries × N.
func TestRetryBudgetBoundsRetriesInAnOutage(t *testing.T) {
	const n = 200
	budget := transport.BudgetConfig{Ratio: 0.2, MinPerSecond: 1, TTL: 10 * time.Second}
	allowed := int(0.2*n) + 10 // ratio × requests + MinPerSecond × TTL
	for _, outage := range []string{"503", "stopped"} {
		t.Run(outage, func(t *testing.T) {
			srv := testenv.NewHTTPServer(t, testenv.HTTPOptions{})
			tr := newHerz(t, srv, testenv.HTTP1, transport.Config{
				DisableBreaker: true,
				Retry:          transport.RetryConfig{MaxRetries: 3, Initial: time.Millisecond, Max: 2 * time.Millisecond, RetryStatus: transport.RetryUnavailable},
				Budget:         budget,
				Dialer:         dialer.Config{DialRetries: -1, DisableBreaker: true},
			})
			if outage == "503" {
				srv.SetStatus(http.StatusServiceUnavailable, "")
			} else {
				srv.Stop()
			}
			ctx := ctx10s(t)
			for range n {
				send(ctx, tr, http.MethodGet, srv.URL())
			}
			st := tr.Stats()
			var retries uint64
			for _, v := range st.Retries {
				retries += v
			}
			t.Logf("%d requests in a total outage (%s): %d retries (budget %d, without it %d), %d refused; %v",
				n, outage, retries, allowed, 3*n, st.RetriesRefused, st)
			if retries > uint64(allowed) {
				t.Errorf("%d retries, want at most %d", retries, allowed)
			}
			if st.RetriesRefused == 0 {
				t.Error("the budget refused no retry")
			}
			if outage == "503" && srv.Requests() > n+allowed {
				t.Errorf("server saw %d requests, want at most %d", srv.Requests(), n+allowed)
			}
		})
	}
}

// TestCanceledRequestIsNotRetried: the caller's own cancellation ends the
// request at once, without retries.
func TestCanceledRequestIsNotRetried(t *testing.T) {
	srv := testenv.NewHTTPServer(t, testenv.HTTPOptions{})
	tr := newHerz(t, srv, testenv.HTTP1, transport.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	_, _, err := send(ctx, tr, http.MethodGet, srv.URL()+"/?sleep=2s")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled GET: %v, want context.Canceled", err)
	}
	if st := tr.Stats(); len(st.Retries) != 0 || srv.Requests() != 1 {
		t.Errorf("canceled GET was retried: %v, server saw %d", st.Retries, srv.Requests())
	}
}

// TestAttemptTimeoutRetriesAHungGETAndKeepsTheBodyReadable: an attempt
// with no headers within AttemptTimeout is retried for a GET; the context
// of the attempt that answered stays alive while its body is read.
func TestAttemptTimeoutRetriesAHungGETAndKeepsTheBodyReadable(t *testing.T) {
	srv := testenv.NewHTTPServer(t, testenv.HTTPOptions{BodySize: 1 << 20})
	tr := newHerz(t, srv, testenv.HTTP1, transport.Config{AttemptTimeout: 100 * time.Millisecond, DisableBreaker: true})
	ctx := ctx10s(t)
	code, _, err := send(ctx, tr, http.MethodGet, srv.URL()+"/?sleep=300ms")
	var ate *transport.AttemptTimeoutError
	if !errors.As(err, &ate) {
		t.Errorf("always-slow GET: %d, %v; want an AttemptTimeoutError", code, err)
	}
	if st := tr.Stats(); st.Retries["attempt_timeout"] != 2 {
		t.Errorf("Stats.Retries = %v, want attempt_timeout=2", st.Retries)
	}
	code, _, err = send(ctx, tr, http.MethodGet, srv.URL())
	if err != nil || code != 200 {
		t.Errorf("fast GET with a 1 MiB body: %d, %v", code, err)
	}
	code, _, err = send(ctx, tr, http.MethodPost, srv.URL()+"/?sleep=300ms")
	if !errors.As(err, &ate) {
		t.Errorf("slow POST: %d, %v; want an AttemptTimeoutError", code, err)
	}
	if st := tr.Stats(); st.Retries["attempt_timeout"] != 2 {
		t.Errorf("a POST was retried after an attempt timeout: %v", st.Retries)
	}
}

// TestRefusedConnectsNeverOpenTheBreaker: a server that restarts (refused
// connects for a moment) must not leave callers failing after it is back,
// as an open breaker would: herz's callers see no more errors than
// net/http's on the same server.
func TestRefusedConnectsNeverOpenTheBreaker(t *testing.T) {
	srv := testenv.NewHTTPServer(t, testenv.HTTPOptions{})
	tr := newHerz(t, srv, testenv.HTTP1, transport.Config{Retry: transport.RetryConfig{MaxRetries: transport.NoRetries}})
	std := stdlibFor(t, srv, testenv.HTTP1)
	srv.Stop()
	ctx := ctx10s(t)
	for range 20 {
		if _, _, err := send(ctx, tr, http.MethodGet, srv.URL()); errors.Is(err, breaker.ErrOpen) {
			t.Fatalf("refused connects opened the breaker: %v", err)
		}
	}
	srv.Restart()
	for _, rt := range []http.RoundTripper{std, tr} {
		if code, _, err := send(ctx, rt, http.MethodGet, srv.URL()); err != nil || code != 200 {
			t.Fatalf("first request after the restart: %d, %v", code, err)
		}
	}
}
