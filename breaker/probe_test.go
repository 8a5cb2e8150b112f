package breaker_test

import (
	"context"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/herz-go/herz/breaker"
)

// peer is a fake peer for Config.Probe: down until up is set.
type peer struct {
	up     atomic.Bool
	probes atomic.Int64
}

func (p *peer) probe(ctx context.Context, key string) error {
	p.probes.Add(1)
	if !p.up.Load() {
		return errBoom
	}
	return ctx.Err()
}

// TestProbeFindsRecovery: with Config.Probe, a breaker tripped with a 10s
// open interval closes as soon as a probe finds the peer back (within one
// probe wait, at most ProbeMaxInterval), while the same Registry without a
// Probe keeps refusing for its open interval; the probes back off while the
// peer stays down (50ms doubling to 400ms: 7 probes in 2s, not 40).
func TestProbeFindsRecovery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var p peer
		var tr transitions
		cfg := breaker.Config{OpenBase: 10 * time.Second, Jitter: -1, ProbeMaxInterval: 400 * time.Millisecond}
		plain := newRegistry(t, cfg)
		cfg.Probe, cfg.OnStateChange = p.probe, tr.record
		r := newRegistry(t, cfg)
		defer r.Close()
		report(t, r, "k", 5, errBoom)
		report(t, plain, "k", 5, errBoom)
		wantState(t, r, "k", breaker.StateOpen)

		time.Sleep(2 * time.Second) // down: probes at 50, 150, 350, 750, 1150, 1550, 1950ms
		if n := p.probes.Load(); n != 7 {
			t.Fatalf("%d probes in 2s while down; want 7 (50ms doubling up to 400ms)", n)
		}
		openError(t, r, "k")

		p.up.Store(true)
		back := time.Now()
		for r.State("k") != breaker.StateClosed {
			if time.Since(back) > time.Second {
				t.Fatalf("still %v 1s after the peer was back", r.State("k"))
			}
			time.Sleep(time.Millisecond)
		}
		if took := time.Since(back); took > 400*time.Millisecond {
			t.Fatalf("closed %v after the peer was back; want ≤ ProbeMaxInterval (400ms)", took)
		}
		report(t, r, "k", 1, nil)
		openError(t, plain, "k") // without a probe: refused until the 10s interval ends
		synctest.Wait()
		if got, want := tr.list(), []string{"k: closed -> open", "k: open -> closed"}; !equal(got, want) {
			t.Fatalf("transitions %v; want %v", got, want)
		}
		n := p.probes.Load()
		time.Sleep(time.Second)
		if p.probes.Load() != n {
			t.Fatal("probes went on after the breaker closed")
		}

		// A trip soon after the probe's recovery is a second one in a row
		// (20s), as after a half-open recovery; the probe still ends it.
		report(t, r, "k", 5, errBoom)
		if oe := openError(t, r, "k"); oe.RetryIn != 20*time.Second {
			t.Fatalf("second trip held %v; want 20s", oe.RetryIn)
		}
		time.Sleep(100 * time.Millisecond)
		wantState(t, r, "k", breaker.StateClosed)
	})
}

// TestProbeResultOfEarlierCallCountsForNothing: a probe closes a half-open
// breaker whose probe call is still in flight; that call's late failure
// does not reopen it.
func TestProbeResultOfEarlierCallCountsForNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var p peer
		r := newRegistry(t, breaker.Config{OpenBase: time.Second, Jitter: -1, ProbeInterval: 2 * time.Second, Probe: p.probe})
		defer r.Close()
		report(t, r, "k", 5, errBoom)
		time.Sleep(time.Second)
		done, err := r.Allow("k") // the half-open call
		if err != nil {
			t.Fatal(err)
		}
		p.up.Store(true)
		time.Sleep(time.Second + time.Millisecond) // the first probe, at 2s, succeeds
		wantState(t, r, "k", breaker.StateClosed)
		done(errBoom)
		wantState(t, r, "k", breaker.StateClosed)
	})
}

// TestCloseStopsProbes: Close ends a probe in flight (its ctx), waits for
// it, and no probe starts after it; the Registry still works.
func TestCloseStopsProbes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var started, ended atomic.Int64
		r := newRegistry(t, breaker.Config{Probe: func(ctx context.Context, key string) error {
			started.Add(1)
			<-ctx.Done()
			ended.Add(1)
			return ctx.Err()
		}, ProbeTimeout: time.Hour, Jitter: -1})
		report(t, r, "a", 5, errBoom)
		time.Sleep(100 * time.Millisecond)
		if started.Load() != 1 {
			t.Fatalf("%d probes started; want 1", started.Load())
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		if ended.Load() != 1 {
			t.Fatal("Close returned before the probe in flight")
		}
		report(t, r, "b", 5, errBoom)
		time.Sleep(time.Second)
		if started.Load() != 1 {
			t.Fatalf("%d probes started after Close; want none", started.Load()-1)
		}
		wantState(t, r, "b", breaker.StateHalfOpen) // the open interval still works
		r.Close()                                   // idempotent
	})
}

// TestTCPProbeFindsListenerBack: a Registry with TCPProbe, its key a real
// 127.0.0.1 port, is closed again within a probe wait of a listener coming
// back on that port, while a plain connect (net.Dial, the baseline) is
// refused before and succeeds after, just as the probe says.
func TestTCPProbeFindsListenerBack(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Skip("port reused meanwhile")
	}
	r := newRegistry(t, breaker.Config{Probe: breaker.TCPProbe, ProbeInterval: 10 * time.Millisecond, ProbeMaxInterval: 20 * time.Millisecond, OpenBase: time.Minute, OpenMax: time.Minute})
	defer r.Close()
	report(t, r, addr, 5, errBoom)
	time.Sleep(50 * time.Millisecond) // a few refused probes
	wantState(t, r, addr, breaker.StateOpen)
	if err := breaker.TCPProbe(context.Background(), addr); err == nil || !strings.HasPrefix(err.Error(), "herz/breaker: probe "+addr+": ") {
		t.Fatalf("TCPProbe to a closed port: %v", err)
	}

	l, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("port %s taken meanwhile: %v", addr, err)
	}
	defer l.Close()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("plain connect to the listener: %v", err)
	}
	c.Close()
	// End-to-end bound with headroom (probes every 20ms ±20%; 1s ≫ 3×).
	if !waitState(r, addr, breaker.StateClosed, time.Second) {
		t.Fatalf("still %v 1s after the listener came back", r.State(addr))
	}
}

func waitState(r *breaker.Registry, key string, want breaker.State, limit time.Duration) bool {
	for end := time.Now().Add(limit); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if r.State(key) == want {
			return true
		}
	}
	return false
}
