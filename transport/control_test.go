package transport_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/herz-go/herz/internal/testenv"
	"github.com/herz-go/herz/transport"
)

// TestWithoutRetriesSendsOnce: during a 503 storm a GET is sent once and
// its 503 returned by default, as net/http does; under the RetryUnavailable
// policy it is retried, and under WithoutRetries sent once again.
func TestWithoutRetriesSendsOnce(t *testing.T) {
	srv := testenv.NewHTTPServer(t, testenv.HTTPOptions{})
	def := newHerz(t, srv, testenv.HTTP1, transport.Config{Retry: transport.RetryConfig{Initial: time.Millisecond, Max: 2 * time.Millisecond}})
	tr := newHerz(t, srv, testenv.HTTP1, transport.Config{Retry: transport.RetryConfig{Initial: time.Millisecond, Max: 2 * time.Millisecond, RetryStatus: transport.RetryUnavailable}})
	std := stdlibFor(t, srv, testenv.HTTP1)
	srv.SetStatus(http.StatusServiceUnavailable, "")
	for _, tc := range []struct {
		name string
		rt   http.RoundTripper
		ctx  context.Context
		want int
	}{
		{"net/http", std, context.Background(), 1},
		{"herz default", def, context.Background(), 1},
		{"herz RetryUnavailable", tr, context.Background(), 3},
		{"herz WithoutRetries", tr, transport.WithoutRetries(context.Background()), 1},
	} {
		before := srv.Requests()
		code, _, err := send(tc.ctx, tc.rt, http.MethodGet, srv.URL())
		if err != nil || code != http.StatusServiceUnavailable {
			t.Errorf("%s: %d, %v; want the 503", tc.name, code, err)
		}
		if n := srv.Requests() - before; n != tc.want {
			t.Errorf("%s: the server saw %d attempts, want %d", tc.name, n, tc.want)
		}
	}
}

// TestOnRetryObservesEachRetry: the hook sees every retry, in order, with
// its attempt, reason, status and delay.
func TestOnRetryObservesEachRetry(t *testing.T) {
	srv := testenv.NewHTTPServer(t, testenv.HTTPOptions{})
	var mu sync.Mutex
	var seen []transport.RetryInfo
	tr := newHerz(t, srv, testenv.HTTP1, transport.Config{
		Retry: transport.RetryConfig{Initial: time.Millisecond, Max: 2 * time.Millisecond, RetryStatus: transport.RetryUnavailable},
		OnRetry: func(ri transport.RetryInfo) {
			mu.Lock()
			seen = append(seen, ri)
			mu.Unlock()
		},
	})
	srv.SetStatus(http.StatusServiceUnavailable, "")
	if code, _, err := send(ctx10s(t), tr, http.MethodGet, srv.URL()); err != nil || code != 503 {
		t.Fatalf("GET in a storm: %d, %v", code, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 2 {
		t.Fatalf("OnRetry called %d times, want 2: %+v", len(seen), seen)
	}
	for i, ri := range seen {
		if ri.Attempt != i+1 || ri.Reason != "status_503" || ri.StatusCode != 503 || ri.Err != nil || ri.Request == nil || ri.Delay <= 0 {
			t.Errorf("retry %d: %+v", i, ri)
		}
	}
}

// TestRetryStatusCannotMakeAnUnsafeRequestRetryable: a policy retrying every
// status retries a GET's 500 but is never asked about a POST, whose 500 is
// returned after one attempt, as net/http does.
func TestRetryStatusCannotMakeAnUnsafeRequestRetryable(t *testing.T) {
	srv := testenv.NewHTTPServer(t, testenv.HTTPOptions{})
	var asked sync.Map
	tr := newHerz(t, srv, testenv.HTTP1, transport.Config{Retry: transport.RetryConfig{
		Initial: time.Millisecond, Max: 2 * time.Millisecond,
		RetryStatus: func(resp *http.Response) bool {
			asked.Store(resp.Request.Method, true)
			return true
		},
	}})
	srv.SetStatus(http.StatusInternalServerError, "")
	ctx := ctx10s(t)
	for _, tc := range []struct {
		method string
		want   int
	}{{http.MethodGet, 3}, {http.MethodPost, 1}} {
		before := srv.Requests()
		code, id, err := send(ctx, tr, tc.method, srv.URL())
		if err != nil || code != 500 {
			t.Errorf("%s: %d, %v; want the 500", tc.method, code, err)
		}
		if n := srv.Requests() - before; n != tc.want {
			t.Errorf("%s: %d attempts, want %d", tc.method, n, tc.want)
		}
		if srv.Executions(id) > 1 {
			t.Errorf("%s executed %d times", tc.method, srv.Executions(id))
		}
	}
	if _, ok := asked.Load(http.MethodPost); ok {
		t.Error("RetryStatus was asked about a POST")
	}
	if st := tr.Stats(); st.Retries["status_other"] != 2 {
		t.Errorf("Stats.Retries = %v, want status_other=2", st.Retries)
	}

	// A policy saying no: a GET's 503 is returned at once.
	no := newHerz(t, srv, testenv.HTTP1, transport.Config{Retry: transport.RetryConfig{RetryStatus: func(*http.Response) bool { return false }}})
	srv.SetStatus(http.StatusServiceUnavailable, "")
	before := srv.Requests()
	if code, _, err := send(ctx, no, http.MethodGet, srv.URL()); err != nil || code != 503 || srv.Requests()-before != 1 {
		t.Errorf("GET under a policy retrying nothing: %d, %v, %d attempts; want the 503 after 1", code, err, srv.Requests()-before)
	}
}

// TestStatsInFlightWaitsAndLimits: Stats reports the requests in flight,
// the attempts that waited for a connection and the limits in effect.
func TestStatsInFlightWaitsAndLimits(t *testing.T) {
	srv := testenv.NewHTTPServer(t, testenv.HTTPOptions{})
	tr := newHerz(t, srv, testenv.HTTP1, transport.Config{})
	ctx := ctx10s(t)
	done := make(chan struct{})
	go func() {
		defer close(done)
		send(ctx, tr, http.MethodGet, srv.URL()+"/?sleep=300ms")
	}()
	var inFlight int64
	for i := 0; i < 100 && inFlight == 0; i++ {
		time.Sleep(2 * time.Millisecond)
		inFlight = tr.Stats().InFlight
	}
	if inFlight != 1 {
		t.Errorf("InFlight during a slow request = %d, want 1", inFlight)
	}
	<-done
	if code, _, err := send(ctx, tr, http.MethodGet, srv.URL()); err != nil || code != 200 {
		t.Fatalf("GET: %d, %v", code, err)
	}
	st := tr.Stats()
	if st.InFlight != 0 || st.WaitCount != 1 || st.WaitDuration <= 0 {
		t.Errorf("after 2 sequential GETs: in_flight=%d waits=%d wait_time=%v; want 0, 1 (the first dial), > 0", st.InFlight, st.WaitCount, st.WaitDuration)
	}
	want := transport.Limits{MaxIdleConns: 100, MaxIdleConnsPerHost: 100, MaxRetries: 2, RetryWindow: 10 * time.Second, MaxLifetime: 10 * time.Minute}
	if st.Limits != want {
		t.Errorf("Limits = %+v, want %+v", st.Limits, want)
	}
	t.Logf("%v", st)
}
