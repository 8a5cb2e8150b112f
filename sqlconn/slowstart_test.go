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

// TestConnectBreakerAndSlowStart: while the server is down, connects fail
// at once through the open breaker (few reach the driver); when it is
// back, one probing connect, then the pool refills 1, 2, 4, … at a time
// (the limit doubles with each success) instead of all callers connecting
// at once.
func TestConnectBreakerAndSlowStart(t *testing.T) {
	f := &flakyConnector{}
	f.down.Store(true)
	c, err := sqlconn.New(f, sqlconn.Config{Breaker: breaker.Config{ConsecutiveFailures: 3, OpenBase: 50 * time.Millisecond, OpenMax: 50 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	var open int
	for range 100 {
		_, err := c.Connect(ctx)
		if errors.Is(err, breaker.ErrOpen) {
			open++
		}
	}
	if calls := f.calls.Load(); calls > 3 || open < 97 {
		t.Fatalf("while down: %d connects reached the driver and %d were refused by the breaker; want 3 and 97", calls, open)
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
