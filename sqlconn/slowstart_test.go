package sqlconn_test

import (
	"context"
	"database/sql/driver"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herz-go/herz/breaker"
	"github.com/herz-go/herz/sqlconn"
)

// flakyConnector fails while down; up, each connect takes 20ms and records
// how many were in flight when it started.
type flakyConnector struct {
	down      atomic.Bool
	inflight  atomic.Int64
	calls     atomic.Int64
	mu        sync.Mutex
	succeeded atomic.Int64
	starts    []start // each connect while up
}

// start is one connect: how many were in flight with it, and how many had
// succeeded before it began.
type start struct{ inflight, succeeded int64 }

func (f *flakyConnector) Connect(ctx context.Context) (driver.Conn, error) {
	f.calls.Add(1)
	if f.down.Load() {
		return nil, errors.New("connection refused")
	}
	n := f.inflight.Add(1)
	defer f.inflight.Add(-1)
	f.mu.Lock()
	f.starts = append(f.starts, start{n, f.succeeded.Load()})
	f.mu.Unlock()
	time.Sleep(20 * time.Millisecond)
	f.succeeded.Add(1)
	return &fakeConn{f: &fakeConnector{}}, nil
}
func (f *flakyConnector) Driver() driver.Driver { return nil }

// TestConnectBreakerAndSlowStart: while the server is down, callers are
// refused through the open breaker, each after waiting at most about as
// long as its connect retries would have for the recovery probe; only the
// probe (one connect at a time, at least 7.5ms apart) reaches the driver.
// When the server is back, the probe's connect comes first and alone, then
// the pool refills 1, 2, 4, … at a time (the limit doubles with each
// success) instead of all callers connecting at once.
func TestConnectBreakerAndSlowStart(t *testing.T) {
	f := &flakyConnector{}
	f.down.Store(true)
	c, err := sqlconn.New(f, sqlconn.Config{
		ConnectRetries: -1, ConnectBackoff: 20 * time.Millisecond,
		Breaker: breaker.Config{ConsecutiveFailures: 3, OpenBase: 50 * time.Millisecond, OpenMax: 50 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	var open int
	start := time.Now()
	const callers = 30
	for range callers {
		_, err := c.Connect(ctx)
		if errors.Is(err, breaker.ErrOpen) {
			open++
		}
	}
	elapsed := time.Since(start)
	// The probe waits at least 7.5ms (10ms -25%) between connects; the
	// breaker's half-open tickets add one connect per 40ms open interval.
	maxCalls := 3 + int64(elapsed/(7500*time.Microsecond)) + int64(elapsed/(40*time.Millisecond)) + 1
	t.Logf("while down: %d callers in %v, %d refused by the breaker, %d connects reached the driver (bound %d)", callers, elapsed, open, f.calls.Load(), maxCalls)
	if calls := f.calls.Load(); calls > maxCalls || open < callers/2 {
		t.Fatalf("while down: %d connects reached the driver and %d callers were refused by the breaker; want ≤ %d and ≥ %d", calls, open, maxCalls, callers/2)
	}

	f.down.Store(false)
	time.Sleep(70 * time.Millisecond) // past the open interval (50ms ±20%)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 2000 {
				conn, err := c.Connect(ctx)
				if err == nil {
					conn.Close()
					return
				}
				time.Sleep(time.Millisecond)
			}
			t.Error("never connected")
		})
	}
	wg.Wait()
	f.mu.Lock()
	starts := f.starts
	f.mu.Unlock()
	t.Logf("in flight at each connect after the return: %v", starts)
	if len(starts) < 7 || starts[0].inflight != 1 {
		t.Fatalf("refill %v: want a first connect alone, then more", starts)
	}
	for i, s := range starts {
		// Before n successes the limit is 2ⁿ (the gate doubles it as each
		// success is released, after the count here went up).
		if s.succeeded < 6 && s.inflight > 1<<s.succeeded {
			t.Errorf("connect %d started with %d in flight after %d successes; the slow start allows %d", i, s.inflight, s.succeeded, 1<<s.succeeded)
		}
	}
}
