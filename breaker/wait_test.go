package breaker_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/herz-go/herz/breaker"
)

// TestAllowWaitQueuesBehindTheProbe: with a breaker open for 1s, Allow
// (fail fast) rejects at once, while AllowWait callers with a 5s deadline
// wait: the first is admitted as the half-open probe when the interval
// ends, the others right when that probe succeeds (the breaker closes), and
// none is refused.
func TestAllowWaitQueuesBehindTheProbe(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRegistry(t, breaker.Config{OpenBase: time.Second, Jitter: -1})
		report(t, r, "k", 5, errBoom)
		openError(t, r, "k") // plain fail-fast Allow

		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var mu sync.Mutex
		var admitted []time.Duration
		var wg sync.WaitGroup
		for i := range 3 {
			wg.Go(func() {
				tk, err := r.AllowWait(ctx, "k")
				if err != nil {
					t.Errorf("waiter %d: %v", i, err)
					return
				}
				mu.Lock()
				admitted = append(admitted, time.Since(start))
				first := len(admitted) == 1
				mu.Unlock()
				if first {
					time.Sleep(100 * time.Millisecond) // the probe call takes 100ms
				}
				tk.Done(nil)
			})
		}
		wg.Wait()
		want := []time.Duration{time.Second, 1100 * time.Millisecond, 1100 * time.Millisecond}
		if len(admitted) != 3 || admitted[0] != want[0] || admitted[1] != want[1] || admitted[2] != want[2] {
			t.Fatalf("admitted at %v; want %v", admitted, want)
		}
		wantState(t, r, "k", breaker.StateClosed)
	})
}

// TestAllowWaitWithProbe: a Config.Probe that finds the peer back at 300ms
// admits an AllowWait caller then, not at the end of the 10s interval.
func TestAllowWaitWithProbe(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var p peer
		r := newRegistry(t, breaker.Config{OpenBase: 10 * time.Second, Jitter: -1, ProbeInterval: 100 * time.Millisecond, ProbeMaxInterval: 100 * time.Millisecond, Probe: p.probe})
		defer r.Close()
		report(t, r, "k", 5, errBoom)
		start := time.Now()
		go func() {
			time.Sleep(250 * time.Millisecond)
			p.up.Store(true)
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		tk, err := r.AllowWait(ctx, "k")
		if err != nil {
			t.Fatal(err)
		}
		tk.Done(nil)
		if took := time.Since(start); took != 300*time.Millisecond {
			t.Fatalf("admitted after %v; want 300ms (the first probe after the peer is back)", took)
		}
	})
}

// TestAllowWaitDeadline: a caller whose deadline ends before the breaker
// lets calls through gets the OpenError wrapped with its ctx's error, at
// its deadline; a ctx that can never end gets Allow's answer at once; a
// closed breaker admits without waiting.
func TestAllowWaitDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRegistry(t, breaker.Config{OpenBase: time.Second, Jitter: -1})
		if tk, err := r.AllowWait(context.Background(), "k"); err != nil {
			t.Fatal(err)
		} else {
			tk.Done(nil)
		}
		report(t, r, "k", 5, errBoom)
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		_, err := r.AllowWait(ctx, "k")
		if !errors.Is(err, breaker.ErrOpen) || !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != 300*time.Millisecond {
			t.Fatalf("after %v: %v; want ErrOpen and DeadlineExceeded at 300ms", time.Since(start), err)
		}
		if got, want := err.Error(), "herz/breaker: circuit open for k (context deadline exceeded)"; got != want {
			t.Fatalf("Error() = %q; want %q", got, want)
		}
		start = time.Now()
		if _, err := r.AllowWait(context.Background(), "k"); !errors.Is(err, breaker.ErrOpen) || time.Since(start) != 0 {
			t.Fatalf("Background ctx: %v after %v; want an at-once rejection", err, time.Since(start))
		}
	})
}
