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
	down     atomic.Bool
	inflight atomic.Int64
	calls    atomic.Int64
	mu       sync.Mutex
	starts   []int64 // in-flight count at the start of each connect while up
}

func (f *flakyConnector) Connect(ctx context.Context) (driver.Conn, error) {
	f.calls.Add(1)
	if f.down.Load() {
		return nil, errors.New("connection refused")
	}
	n := f.inflight.Add(1)
	defer f.inflight.Add(-1)
	f.mu.Lock()
	f.starts = append(f.starts, n)
	f.mu.Unlock()
	time.Sleep(20 * time.Millisecond)
	return &fakeConn{f: &fakeConnector{}}, nil
}
func (f *flakyConnector) Driver() driver.Driver { return nil }

// TestConnectBreakerAndSlowStart: while the server is down, connects fail
// at once through the open breaker (few reach the driver); when it is
// back, one probing connect, then the pool refills 1, 2, 4, … at a time
// instead of all callers connecting at once.
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
	if len(starts) < 7 || starts[0] != 1 || max(starts[1], starts[2]) > 2 || max(starts[3], starts[4], starts[5], starts[6]) > 4 {
		t.Errorf("refill %v: want 1, then at most 2, then at most 4 connects at once", starts)
	}
}
