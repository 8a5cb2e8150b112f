package keepalive_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/herz-go/herz/keepalive"
)

var errPing = errors.New("ping failed")

func TestNewHeartbeatRejectsInvalidConfigNamingTheField(t *testing.T) {
	ok := func(context.Context) error { return nil }
	tests := []struct {
		name    string
		cfg     keepalive.HeartbeatConfig
		wantErr string
	}{
		{"negative interval", keepalive.HeartbeatConfig{Interval: -1}, "HeartbeatConfig.Interval must be >= 0"},
		{"negative jitter", keepalive.HeartbeatConfig{Jitter: -0.1}, "HeartbeatConfig.Jitter must be in [0,1), got -0.1"},
		{"jitter one", keepalive.HeartbeatConfig{Jitter: 1}, "HeartbeatConfig.Jitter"},
		{"jitter NaN", keepalive.HeartbeatConfig{Jitter: nan()}, "HeartbeatConfig.Jitter"},
		{"negative timeout", keepalive.HeartbeatConfig{Timeout: -time.Second}, "HeartbeatConfig.Timeout must be >= 0"},
		{"negative misses", keepalive.HeartbeatConfig{Misses: -3}, "HeartbeatConfig.Misses must be >= 0, got -3"},
		{"negative backoff", keepalive.HeartbeatConfig{Backoff: -1}, "HeartbeatConfig.Backoff must be >= 0"},
		{"negative max backoff", keepalive.HeartbeatConfig{MaxBackoff: -1}, "HeartbeatConfig.MaxBackoff must be >= 0"},
		{"max backoff below backoff", keepalive.HeartbeatConfig{Backoff: 2 * time.Second, MaxBackoff: time.Second}, "HeartbeatConfig.MaxBackoff (1s) must be >= Backoff (2s)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := keepalive.NewHeartbeat(tt.cfg, ok)
			if err == nil || h != nil || !strings.HasPrefix(err.Error(), "herz/keepalive: ") || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("NewHeartbeat() = %v, %v; want error containing %q", h, err, tt.wantErr)
			}
		})
	}
	t.Run("nil ping", func(t *testing.T) {
		if _, err := keepalive.NewHeartbeat(keepalive.HeartbeatConfig{}, nil); err == nil || !strings.Contains(err.Error(), "ping function is nil") {
			t.Fatalf("NewHeartbeat(nil ping) error = %v", err)
		}
	})
}

func nan() float64 { var z float64; return z / z }

func TestHeartbeatConfigDefaults(t *testing.T) {
	tests := []struct {
		name string
		in   keepalive.HeartbeatConfig
		want keepalive.HeartbeatConfig
	}{
		{"zero", keepalive.HeartbeatConfig{}, keepalive.HeartbeatConfig{
			Interval: 15 * time.Second, Jitter: 0.1, Timeout: 5 * time.Second, Misses: 3,
			Backoff: 3750 * time.Millisecond, MaxBackoff: 15 * time.Second}},
		{"short interval: timeout is half of it", keepalive.HeartbeatConfig{Interval: time.Second}, keepalive.HeartbeatConfig{
			Interval: time.Second, Jitter: 0.1, Timeout: 500 * time.Millisecond, Misses: 3,
			Backoff: 250 * time.Millisecond, MaxBackoff: time.Second}},
		{"backoff above interval raises the default cap", keepalive.HeartbeatConfig{Interval: time.Second, Backoff: 3 * time.Second}, keepalive.HeartbeatConfig{
			Interval: time.Second, Jitter: 0.1, Timeout: 500 * time.Millisecond, Misses: 3,
			Backoff: 3 * time.Second, MaxBackoff: 3 * time.Second}},
		{"explicit values kept", keepalive.HeartbeatConfig{Interval: time.Minute, Jitter: 0.5, Timeout: time.Second, Misses: 7, Backoff: time.Second, MaxBackoff: time.Hour},
			keepalive.HeartbeatConfig{Interval: time.Minute, Jitter: 0.5, Timeout: time.Second, Misses: 7, Backoff: time.Second, MaxBackoff: time.Hour}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := keepalive.NewHeartbeat(tt.in, func(context.Context) error { return nil })
			if err != nil {
				t.Fatal(err)
			}
			got := h.Config()
			if got.Interval != tt.want.Interval || got.Jitter != tt.want.Jitter || got.Timeout != tt.want.Timeout ||
				got.Misses != tt.want.Misses || got.Backoff != tt.want.Backoff || got.MaxBackoff != tt.want.MaxBackoff {
				t.Fatalf("Config() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestJitterStaysWithinBoundsAndNeverOverflows(t *testing.T) {
	tests := []struct {
		d    time.Duration
		j, r float64
		want time.Duration
	}{
		{10 * time.Second, 0.1, 0, 9 * time.Second},
		{10 * time.Second, 0.1, 0.5, 10 * time.Second},
		{10 * time.Second, 0.1, 0.75, 10500 * time.Millisecond},
		{1, 0.9, 0, 1},
		{1<<63 - 1, 0.5, 0.99, 1<<63 - 1},
	}
	for _, tt := range tests {
		if got := keepalive.Jitter(tt.d, tt.j, tt.r); got != tt.want {
			t.Errorf("jitter(%v, %v, %v) = %v, want %v", tt.d, tt.j, tt.r, got, tt.want)
		}
	}
}

// run starts h.Run in a goroutine of the current bubble and returns a function
// that cancels it and returns Run's error.
func run(ctx context.Context, h *keepalive.Heartbeat) (stop func() error, done <-chan error) {
	ctx, cancel := context.WithCancel(ctx)
	ch := make(chan error, 1)
	go func() { ch <- h.Run(ctx) }()
	return func() error { cancel(); return <-ch }, ch
}

func TestHeartbeatPingsAtTheJitteredInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const interval, jit = 10 * time.Second, 0.2
		var starts []time.Time
		h, err := keepalive.NewHeartbeat(keepalive.HeartbeatConfig{Interval: interval, Jitter: jit}, func(context.Context) error {
			starts = append(starts, time.Now())
			time.Sleep(100 * time.Millisecond) // rtt
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		begin := time.Now()
		stop, _ := run(t.Context(), h)
		time.Sleep(200 * interval)
		if err := stop(); !errors.Is(err, context.Canceled) {
			t.Fatalf("Run() = %v, want context.Canceled", err)
		}
		if len(starts) < 150 {
			t.Fatalf("only %d pings in %v", len(starts), 200*interval)
		}
		lo, hi := time.Duration(float64(interval)*(1-jit)), time.Duration(float64(interval)*(1+jit))
		prevEnd := begin
		distinct := map[time.Duration]bool{}
		for i, s := range starts {
			gap := s.Sub(prevEnd) // measured from the end of the previous ping
			if gap < lo || gap >= hi {
				t.Fatalf("ping %d came %v after the previous one ended, want [%v, %v)", i, gap, lo, hi)
			}
			distinct[gap] = true
			prevEnd = s.Add(100 * time.Millisecond)
		}
		if len(distinct) < len(starts)/2 {
			t.Fatalf("only %d distinct gaps among %d pings: jitter not applied", len(distinct), len(starts))
		}
	})
}

func TestHeartbeatTimeoutCancelsAHangingPing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		type result struct {
			rtt time.Duration
			err error
		}
		var results []result
		var pingErrs []error
		h, err := keepalive.NewHeartbeat(keepalive.HeartbeatConfig{
			Interval: 10 * time.Second, Timeout: 2 * time.Second, Misses: 1,
			OnPing: func(rtt time.Duration, err error) { results = append(results, result{rtt, err}) },
		}, func(ctx context.Context) error {
			<-ctx.Done() // hangs until cancelled
			pingErrs = append(pingErrs, ctx.Err())
			return ctx.Err()
		})
		if err != nil {
			t.Fatal(err)
		}
		err = h.Run(t.Context())
		if !errors.Is(err, keepalive.ErrDead) || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "ping timed out after 2s") {
			t.Fatalf("Run() = %v, want ErrDead wrapping a 2s ping timeout", err)
		}
		if len(results) != 1 || results[0].rtt != 2*time.Second || len(pingErrs) != 1 || !errors.Is(pingErrs[0], context.DeadlineExceeded) {
			t.Fatalf("OnPing saw %+v, ping saw %v; want one ping cancelled after 2s", results, pingErrs)
		}
	})
}

func TestHeartbeatLateSuccessCountsAsAMiss(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var errs []error
		h, _ := keepalive.NewHeartbeat(keepalive.HeartbeatConfig{
			Interval: time.Second, Timeout: 100 * time.Millisecond, Misses: 2,
			OnPing: func(_ time.Duration, err error) { errs = append(errs, err) },
		}, func(context.Context) error {
			time.Sleep(time.Second) // ignores its context, then "succeeds"
			return nil
		})
		err := h.Run(t.Context())
		if !errors.Is(err, keepalive.ErrDead) || !errors.Is(err, context.DeadlineExceeded) || len(errs) != 2 {
			t.Fatalf("Run() = %v after %d pings, want dead after 2 late pings", err, len(errs))
		}
	})
}

func TestHeartbeatDeclaresThePeerDeadAfterMissesConsecutiveFailures(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pings, onPing, dead := 0, 0, []error{}
		h, _ := keepalive.NewHeartbeat(keepalive.HeartbeatConfig{
			Interval: time.Second, Misses: 4,
			OnPing: func(_ time.Duration, err error) {
				onPing++
				if !errors.Is(err, errPing) {
					t.Errorf("OnPing err = %v, want errPing", err)
				}
			},
			OnDead: func(err error) { dead = append(dead, err) },
		}, func(context.Context) error { pings++; return errPing })
		err := h.Run(t.Context())
		if !errors.Is(err, keepalive.ErrDead) || !errors.Is(err, errPing) {
			t.Fatalf("Run() = %v, want an error wrapping ErrDead and the last ping error", err)
		}
		if want := "herz/keepalive: peer declared dead after 4 consecutive failed pings: ping failed"; err.Error() != want {
			t.Fatalf("Run() error text = %q, want %q", err, want)
		}
		if pings != 4 || onPing != 4 || len(dead) != 1 || dead[0] != err {
			t.Fatalf("pings=%d OnPing=%d OnDead=%v, want 4, 4 and once with Run's error", pings, onPing, dead)
		}
	})
}

func TestHeartbeatSuccessResetsTheMissCount(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Two failures then one success, forever: with Misses 3 the peer is never dead.
		n := 0
		h, _ := keepalive.NewHeartbeat(keepalive.HeartbeatConfig{
			Interval: time.Second, Misses: 3,
			OnDead: func(err error) { t.Errorf("OnDead(%v) called", err) },
		}, func(context.Context) error {
			n++
			if n%3 == 0 {
				return nil
			}
			return errPing
		})
		stop, done := run(t.Context(), h)
		time.Sleep(time.Minute)
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("Run returned %v while the peer recovers after every second failure", err)
		default:
		}
		if err := stop(); !errors.Is(err, context.Canceled) || n < 30 {
			t.Fatalf("Run() = %v after %d pings", err, n)
		}
	})
}

func TestHeartbeatBacksOffExponentiallyAfterFailures(t *testing.T) {
	tests := []struct {
		name string
		cfg  keepalive.HeartbeatConfig
		want []time.Duration // nominal gaps between consecutive pings (before jitter)
	}{
		{"defaults: Interval/4 doubling up to Interval",
			keepalive.HeartbeatConfig{Interval: 100 * time.Second, Misses: 7},
			[]time.Duration{100 * time.Second, 25 * time.Second, 50 * time.Second, 100 * time.Second, 100 * time.Second, 100 * time.Second, 100 * time.Second}},
		{"explicit backoff and cap above the interval",
			keepalive.HeartbeatConfig{Interval: 10 * time.Second, Backoff: time.Second, MaxBackoff: 20 * time.Second, Misses: 8},
			[]time.Duration{10 * time.Second, 1 * time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 20 * time.Second, 20 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var starts []time.Time
				tt.cfg.Jitter = 0.05
				h, _ := keepalive.NewHeartbeat(tt.cfg, func(context.Context) error {
					starts = append(starts, time.Now())
					return errPing
				})
				begin := time.Now()
				if err := h.Run(t.Context()); !errors.Is(err, keepalive.ErrDead) {
					t.Fatalf("Run() = %v", err)
				}
				if len(starts) != len(tt.want) {
					t.Fatalf("%d pings, want %d", len(starts), len(tt.want))
				}
				prev := begin
				for i, s := range starts {
					gap, want := s.Sub(prev), tt.want[i]
					if lo, hi := want*95/100, want*105/100; gap < lo || gap >= hi {
						t.Errorf("gap before ping %d = %v, want %v ± 5%%", i, gap, want)
					}
					prev = s
				}
			})
		})
	}
}

func TestHeartbeatStopsWithItsContext(t *testing.T) {
	t.Run("while waiting", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			h, _ := keepalive.NewHeartbeat(keepalive.HeartbeatConfig{}, func(context.Context) error { return nil })
			stop, _ := run(t.Context(), h)
			time.Sleep(time.Second)
			if err := stop(); !errors.Is(err, context.Canceled) {
				t.Fatalf("Run() = %v, want context.Canceled", err)
			}
		})
	})
	t.Run("during a ping, which counts neither way", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			called := false
			h, _ := keepalive.NewHeartbeat(keepalive.HeartbeatConfig{
				Interval: time.Second, Timeout: time.Hour,
				OnPing: func(time.Duration, error) { called = true },
				OnDead: func(error) { called = true },
			}, func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
			ctx, cancel := context.WithTimeout(t.Context(), 1500*time.Millisecond)
			defer cancel()
			if err := h.Run(ctx); !errors.Is(err, context.DeadlineExceeded) || called {
				t.Fatalf("Run() = %v, callbacks called: %v", err, called)
			}
			if now := time.Since(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)); now != 1500*time.Millisecond {
				t.Fatalf("Run returned at %v, want at 1.5s", now)
			}
		})
	})
	t.Run("already cancelled", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			h, _ := keepalive.NewHeartbeat(keepalive.HeartbeatConfig{}, func(context.Context) error {
				t.Error("ping called")
				return nil
			})
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			if err := h.Run(ctx); !errors.Is(err, context.Canceled) {
				t.Fatalf("Run() = %v", err)
			}
		})
	})
}
