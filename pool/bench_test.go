package pool_test

import (
	"context"
	"testing"

	"github.com/herz-go/herz/internal/testenv"
	"github.com/herz-go/herz/pool"
)

// BenchmarkAcquireRelease measures Acquire+Release of one idle conn to
// Redis: the herz pool (hand-out check: limits, the Dialer's rules and a
// MSG_PEEK probe, then Lend/Return) against bare puddle with the same
// constructor, in the same run.
func BenchmarkAcquireRelease(b *testing.B) {
	addr := testenv.RequireRedis(b)
	ctx := context.Background()
	d := newDialer(b, nil, nil)
	herz := func(b *testing.B, cfg pool.Config) {
		p := newHerz(b, cfg)
		c, err := p.Acquire(ctx)
		if err != nil {
			b.Fatal(err)
		}
		c.Release()
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			c, err := p.Acquire(ctx)
			if err != nil {
				b.Fatal(err)
			}
			c.Release()
		}
		b.StopTimer()
		if s := p.Stat(); s.Dials != 1 {
			b.Errorf("herz dialed %d times, want 1", s.Dials)
		}
	}
	b.Run("herz", func(b *testing.B) { herz(b, pool.Config{Addr: addr, Dialer: d, MaxConns: 1}) })
	// Without AcquireTimeout's timer (a caller context with its own deadline
	// costs the same): the hand-out check alone.
	b.Run("herz-no-acquire-timeout", func(b *testing.B) {
		herz(b, pool.Config{Addr: addr, Dialer: d, MaxConns: 1, AcquireTimeout: -1})
	})
	b.Run("puddle", func(b *testing.B) {
		p := newBare(b, addr, 1, d.DialContext)
		r, err := p.Acquire(ctx)
		if err != nil {
			b.Fatal(err)
		}
		r.Release()
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			r, err := p.Acquire(ctx)
			if err != nil {
				b.Fatal(err)
			}
			r.Release()
		}
	})
}
