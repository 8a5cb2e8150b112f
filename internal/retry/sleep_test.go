package retry_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/herz-go/herz/internal/retry"
)

func TestSleepWaitsTheFullDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		start := time.Now()
		if err := retry.Sleep(ctx, 3*time.Second); err != nil {
			t.Fatalf("Sleep = %v, want nil", err)
		}
		if got := time.Since(start); got != 3*time.Second {
			t.Fatalf("slept %v, want 3s", got)
		}
	})
}

func TestSleepNeverSleepsPastTheDeadlineAndReturnsAtOnce(t *testing.T) {
	for _, tt := range []struct {
		name           string
		timeout, delay time.Duration
	}{
		{"deadline sooner", time.Second, 5 * time.Second},
		{"deadline exactly at the end of the delay", 2 * time.Second, 2 * time.Second},
		{"deadline just before the end", 2*time.Second - time.Nanosecond, 2 * time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(t.Context(), tt.timeout)
				defer cancel()
				start := time.Now()
				err := retry.Sleep(ctx, tt.delay)
				if got := time.Since(start); got != 0 {
					t.Fatalf("Sleep took %v, want it to return at once", got)
				}
				if !errors.Is(err, retry.ErrDeadline) || !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("Sleep = %v, want it to wrap ErrDeadline and context.DeadlineExceeded", err)
				}
				if ctx.Err() != nil {
					t.Fatal("the context itself is not done yet: only the backoff would pass it")
				}
			})
		})
	}
}

func TestSleepHonoursCancelWhileSleeping(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(time.Second, cancel)
		start := time.Now()
		err := retry.Sleep(ctx, time.Hour)
		if got := time.Since(start); got != time.Second {
			t.Fatalf("Sleep returned after %v, want 1s (the cancel)", got)
		}
		if !errors.Is(err, context.Canceled) || errors.Is(err, retry.ErrDeadline) {
			t.Fatalf("Sleep = %v, want context.Canceled and not ErrDeadline", err)
		}
	})
}

func TestSleepReportsTheCancelCause(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cause := errors.New("shutting down")
		ctx, cancel := context.WithCancelCause(t.Context())
		time.AfterFunc(time.Second, func() { cancel(cause) })
		err := retry.Sleep(ctx, time.Minute)
		if !errors.Is(err, context.Canceled) || !errors.Is(err, cause) {
			t.Fatalf("Sleep = %v, want it to wrap context.Canceled and the cause", err)
		}
	})
}

func TestSleepWithADoneContextReturnsAtOnceEvenForNoDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		for _, d := range []time.Duration{0, -time.Second, time.Second} {
			if err := retry.Sleep(ctx, d); !errors.Is(err, context.Canceled) {
				t.Fatalf("Sleep(done ctx, %v) = %v, want context.Canceled", d, err)
			}
		}
		expired, cancel2 := context.WithTimeout(t.Context(), time.Second)
		defer cancel2()
		time.Sleep(2 * time.Second)
		if err := retry.Sleep(expired, time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Sleep(expired ctx) = %v, want context.DeadlineExceeded", err)
		}
	})
}

func TestSleepWithNoDelayReturnsNil(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		for _, d := range []time.Duration{0, -time.Hour} {
			if err := retry.Sleep(t.Context(), d); err != nil {
				t.Fatalf("Sleep(%v) = %v, want nil", d, err)
			}
		}
		if time.Since(start) != 0 {
			t.Fatal("Sleep(≤0) slept")
		}
	})
}

func TestSleepWithoutDeadlineSleeps(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		if err := retry.Sleep(context.Background(), 90*time.Minute); err != nil {
			t.Fatalf("Sleep = %v", err)
		}
		if got := time.Since(start); got != 90*time.Minute {
			t.Fatalf("slept %v, want 90m", got)
		}
	})
}
