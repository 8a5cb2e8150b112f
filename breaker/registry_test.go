package breaker_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/herz-go/herz/breaker"
)

var errBoom = errors.New("connection refused")

func newRegistry(t *testing.T, cfg breaker.Config) *breaker.Registry {
	t.Helper()
	r, err := breaker.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// report makes n calls to key, each allowed and reported with err.
func report(t *testing.T, r *breaker.Registry, key string, n int, err error) {
	t.Helper()
	for i := range n {
		done, aerr := r.Allow(key)
		if aerr != nil {
			t.Fatalf("call %d/%d to %s rejected: %v", i+1, n, key, aerr)
		}
		done(err)
	}
}

func wantState(t *testing.T, r *breaker.Registry, key string, want breaker.State) {
	t.Helper()
	if got := r.State(key); got != want {
		t.Fatalf("State(%q) = %v; want %v", key, got, want)
	}
}

// openError asserts that Allow(key) is rejected and returns the error.
func openError(t *testing.T, r *breaker.Registry, key string) *breaker.OpenError {
	t.Helper()
	done, err := r.Allow(key)
	if err == nil {
		done(nil)
		t.Fatalf("Allow(%q) allowed; want a rejection", key)
	}
	if done != nil {
		t.Fatalf("Allow(%q) returned a done function with error %v", key, err)
	}
	if !errors.Is(err, breaker.ErrOpen) {
		t.Fatalf("Allow(%q) error %v does not wrap ErrOpen", key, err)
	}
	var oe *breaker.OpenError
	if !errors.As(err, &oe) {
		t.Fatalf("Allow(%q) error %T is not an *OpenError", key, err)
	}
	if oe.Key != key {
		t.Fatalf("OpenError.Key = %q; want %q", oe.Key, key)
	}
	return oe
}

// transitions records OnStateChange calls.
type transitions struct {
	mu  sync.Mutex
	got []string
}

func (tr *transitions) record(key string, from, to breaker.State) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.got = append(tr.got, fmt.Sprintf("%s: %v -> %v", key, from, to))
}

func (tr *transitions) list() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([]string(nil), tr.got...)
}

func equal(a, b []string) bool {
	return fmt.Sprint(a) == fmt.Sprint(b)
}

func TestRegistryTripsAfterConsecutiveFailures(t *testing.T) {
	for _, n := range []uint32{0, 1, 3} {
		t.Run(fmt.Sprintf("ConsecutiveFailures=%d", n), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := newRegistry(t, breaker.Config{ConsecutiveFailures: n})
				want := int(n)
				if want == 0 {
					want = 5 // the default
				}
				const key = "10.0.0.1:443"
				if want > 1 {
					report(t, r, key, want-1, errBoom)
					wantState(t, r, key, breaker.StateClosed)
					report(t, r, key, 1, nil) // a success ends the run
					report(t, r, key, want-1, errBoom)
					wantState(t, r, key, breaker.StateClosed)
				}
				report(t, r, key, 1, errBoom)
				wantState(t, r, key, breaker.StateOpen)
				openError(t, r, key)
				wantState(t, r, "other:1", breaker.StateClosed)
			})
		})
	}
}

func TestRegistryConsecutiveFailuresAgeOutOfTheWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRegistry(t, breaker.Config{Window: 10 * time.Second})
		report(t, r, "k", 4, errBoom)
		time.Sleep(11 * time.Second)
		report(t, r, "k", 1, errBoom)
		wantState(t, r, "k", breaker.StateClosed)
	})
}

func TestRegistryTripsOnFailureRatioOverMinRequests(t *testing.T) {
	ratioOnly := breaker.Config{ConsecutiveFailures: math.MaxUint32, MinRequests: 20, FailureRatio: 0.5}

	t.Run("trips when the ratio is reached at the minimum volume", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			r := newRegistry(t, ratioOnly)
			for i := range 19 { // S F S F ... S: 9 failures in 19
				var err error
				if i%2 == 1 {
					err = errBoom
				}
				report(t, r, "k", 1, err)
			}
			wantState(t, r, "k", breaker.StateClosed)
			report(t, r, "k", 1, errBoom) // 10 failures in 20
			wantState(t, r, "k", breaker.StateOpen)
		})
	})
	t.Run("does not trip below the minimum volume", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			r := newRegistry(t, ratioOnly)
			report(t, r, "k", 19, errBoom)
			wantState(t, r, "k", breaker.StateClosed)
			report(t, r, "k", 1, errBoom)
			wantState(t, r, "k", breaker.StateOpen)
		})
	})
	t.Run("does not trip below the ratio", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			r := newRegistry(t, ratioOnly)
			for range 40 { // F S S: a third fail
				report(t, r, "k", 1, errBoom)
				report(t, r, "k", 2, nil)
			}
			wantState(t, r, "k", breaker.StateClosed)
		})
	})
	t.Run("counts only results within the window", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			cfg := ratioOnly
			cfg.Window = 10 * time.Second
			r := newRegistry(t, cfg)
			report(t, r, "k", 19, errBoom)
			time.Sleep(11 * time.Second)
			report(t, r, "k", 1, errBoom)
			wantState(t, r, "k", breaker.StateClosed)
		})
	})
}

func TestRegistryIgnoreOutcomesCountNeitherWay(t *testing.T) {
	t.Run("do not end a run of failures", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			r := newRegistry(t, breaker.Config{})
			report(t, r, "k", 4, errBoom)
			report(t, r, "k", 100, context.Canceled)
			wantState(t, r, "k", breaker.StateClosed)
			report(t, r, "k", 1, errBoom)
			wantState(t, r, "k", breaker.StateOpen)
		})
	})
	t.Run("do not add volume for the ratio", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			r := newRegistry(t, breaker.Config{ConsecutiveFailures: math.MaxUint32})
			report(t, r, "k", 10, nil)
			report(t, r, "k", 100, fmt.Errorf("request: %w", context.Canceled))
			report(t, r, "k", 9, errBoom)
			wantState(t, r, "k", breaker.StateClosed) // 9 of 19 counted
			report(t, r, "k", 1, errBoom)
			wantState(t, r, "k", breaker.StateOpen) // 10 of 20
		})
	})
	t.Run("never trip alone", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			r := newRegistry(t, breaker.Config{Classify: func(error) breaker.Outcome { return breaker.Ignore }})
			report(t, r, "k", 1000, errBoom)
			wantState(t, r, "k", breaker.StateClosed)
		})
	})
	t.Run("free a half-open probe slot", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			r := newRegistry(t, breaker.Config{ConsecutiveFailures: 1, Jitter: -1, OpenBase: time.Second})
			report(t, r, "k", 1, errBoom)
			time.Sleep(time.Second)
			probe, err := r.Allow("k")
			if err != nil {
				t.Fatal(err)
			}
			if oe := openError(t, r, "k"); oe.State != breaker.StateHalfOpen || oe.RetryIn != 0 {
				t.Fatalf("second call while probing: %+v", oe)
			}
			probe(context.Canceled)
			wantState(t, r, "k", breaker.StateHalfOpen)
			report(t, r, "k", 1, nil)
			wantState(t, r, "k", breaker.StateClosed)
		})
	})
}

func TestRegistryStatusErrorsAreClassified(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRegistry(t, breaker.Config{ConsecutiveFailures: 3})
		report(t, r, "k", 2, &breaker.StatusError{Code: 503})
		report(t, r, "k", 1, &breaker.StatusError{Code: 404}) // the peer answers: a success
		report(t, r, "k", 2, &breaker.StatusError{Code: 429})
		wantState(t, r, "k", breaker.StateClosed)
		report(t, r, "k", 1, &breaker.StatusError{Code: 500})
		wantState(t, r, "k", breaker.StateOpen)
	})
}

func TestRegistryOpenBreakerRejectsWithOpenErrorNamingTheKey(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const key = "127.0.0.1:8080"
		r := newRegistry(t, breaker.Config{OpenBase: 1200 * time.Millisecond, Jitter: -1})
		report(t, r, key, 5, errBoom)

		oe := openError(t, r, key)
		if oe.State != breaker.StateOpen || oe.RetryIn != 1200*time.Millisecond {
			t.Fatalf("OpenError = %+v; want open, retry in 1.2s", oe)
		}
		if got, want := oe.Error(), "herz/breaker: circuit open for 127.0.0.1:8080"; got != want {
			t.Fatalf("Error() = %q; want %q", got, want)
		}
		time.Sleep(200 * time.Millisecond)
		if later := openError(t, r, key); later.RetryIn != time.Second || later.Error() != oe.Error() {
			t.Fatalf("after 200ms: RetryIn %v, Error() %q; want 1s and the same stable message %q", later.RetryIn, later.Error(), oe.Error())
		}
		wantState(t, r, key, breaker.StateOpen)
		time.Sleep(time.Second)
		wantState(t, r, key, breaker.StateHalfOpen)
	})
}

func TestRegistryOpenIntervalGrowsWithTripsWithJitterUpToOpenMax(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const jitter = 0.2
		r := newRegistry(t, breaker.Config{OpenBase: time.Second, OpenMax: 5 * time.Second, Jitter: jitter})
		report(t, r, "k", 5, errBoom)
		for trip := 1; trip <= 9; trip++ {
			nominal := min(time.Duration(trip)*time.Second, 5*time.Second)
			lo := time.Duration(float64(nominal) * (1 - jitter))
			hi := time.Duration(float64(nominal) * (1 + jitter))
			hold := openError(t, r, "k").RetryIn
			if hold < lo || hold > hi {
				t.Fatalf("trip %d: open for %v; want within [%v, %v]", trip, hold, lo, hi)
			}
			if got := breaker.Trips(r, "k"); got != int64(trip) {
				t.Fatalf("trip %d: Trips = %d", trip, got)
			}
			time.Sleep(hold - time.Nanosecond)
			if oe := openError(t, r, "k"); oe.RetryIn != time.Nanosecond {
				t.Fatalf("trip %d: 1ns before the end RetryIn = %v", trip, oe.RetryIn)
			}
			time.Sleep(time.Nanosecond)
			probe, err := r.Allow("k")
			if err != nil {
				t.Fatalf("trip %d: probe rejected after the open interval: %v", trip, err)
			}
			wantState(t, r, "k", breaker.StateHalfOpen)
			probe(errBoom) // the failed probe is the next trip
			wantState(t, r, "k", breaker.StateOpen)
		}
	})
}

func TestRegistryOpenIntervalsAreJittered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRegistry(t, breaker.Config{OpenBase: 10 * time.Second, ConsecutiveFailures: 1})
		seen := map[time.Duration]bool{}
		for i := range 50 {
			key := fmt.Sprintf("peer-%d:80", i)
			report(t, r, key, 1, errBoom)
			hold := openError(t, r, key).RetryIn
			if hold < 8*time.Second || hold > 12*time.Second {
				t.Fatalf("%s: open for %v; want 10s ± 20%%", key, hold)
			}
			seen[hold] = true
		}
		if len(seen) < 40 {
			t.Fatalf("only %d distinct open intervals among 50 breakers tripped at once", len(seen))
		}
	})
}

func TestRegistryTripCountResetsOnlyAfterAFullRecovery(t *testing.T) {
	cfg := breaker.Config{OpenBase: time.Second, OpenMax: time.Minute, Jitter: -1, Window: 10 * time.Second}
	// recover trips the breaker's pending hold, then closes it with a
	// successful probe.
	recoverKey := func(t *testing.T, r *breaker.Registry) {
		t.Helper()
		time.Sleep(openError(t, r, "k").RetryIn)
		report(t, r, "k", 1, nil)
		wantState(t, r, "k", breaker.StateClosed)
	}
	tests := []struct {
		name       string
		closedFor  time.Duration
		wantTrips  int64
		wantOpenes time.Duration
	}{
		{"tripping again at once keeps counting", 0, 3, 3 * time.Second},
		{"tripping again just inside the window keeps counting", 10*time.Second - time.Nanosecond, 3, 3 * time.Second},
		{"staying closed for a window resets the count", 10 * time.Second, 1, time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := newRegistry(t, cfg)
				report(t, r, "k", 5, errBoom) // trip 1: 1s
				time.Sleep(time.Second)
				report(t, r, "k", 1, errBoom) // failed probe, trip 2: 2s
				if hold := openError(t, r, "k").RetryIn; hold != 2*time.Second {
					t.Fatalf("second trip open for %v; want 2s", hold)
				}
				recoverKey(t, r)
				time.Sleep(tc.closedFor)
				report(t, r, "k", 5, errBoom)
				if got := breaker.Trips(r, "k"); got != tc.wantTrips {
					t.Fatalf("Trips = %d; want %d", got, tc.wantTrips)
				}
				if hold := openError(t, r, "k").RetryIn; hold != tc.wantOpenes {
					t.Fatalf("open for %v; want %v", hold, tc.wantOpenes)
				}
			})
		})
	}
}

func TestRegistryHalfOpenLetsAtMostHalfOpenProbesThroughConcurrently(t *testing.T) {
	for _, probeResult := range []error{nil, errBoom} {
		t.Run(fmt.Sprintf("probes report %v", probeResult), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				const probes, callers = 3, 20
				var tr transitions
				r := newRegistry(t, breaker.Config{HalfOpenProbes: probes, ConsecutiveFailures: 1, Jitter: -1, OpenBase: time.Second, OnStateChange: tr.record})
				report(t, r, "k", 1, errBoom)
				time.Sleep(time.Second)

				var (
					wg       sync.WaitGroup
					mu       sync.Mutex
					admitted []func(error)
					rejected int
				)
				start := make(chan struct{})
				for range callers {
					wg.Go(func() {
						<-start
						done, err := r.Allow("k")
						mu.Lock()
						defer mu.Unlock()
						if err != nil {
							var oe *breaker.OpenError
							if !errors.As(err, &oe) || oe.State != breaker.StateHalfOpen || !errors.Is(err, breaker.ErrOpen) {
								t.Errorf("rejection = %v; want a half-open *OpenError", err)
							}
							rejected++
							return
						}
						admitted = append(admitted, done)
					})
				}
				synctest.Wait()
				close(start)
				wg.Wait()
				if len(admitted) != probes || rejected != callers-probes {
					t.Fatalf("admitted %d, rejected %d; want %d and %d", len(admitted), rejected, probes, callers-probes)
				}
				wantState(t, r, "k", breaker.StateHalfOpen)

				if probeResult != nil {
					admitted[0](probeResult)
					wantState(t, r, "k", breaker.StateOpen)
					time.Sleep(100 * time.Millisecond)
					for _, done := range admitted[1:] {
						done(nil) // late results of the failed round count for nothing
					}
					wantState(t, r, "k", breaker.StateOpen)
					if oe := openError(t, r, "k"); oe.RetryIn != 1900*time.Millisecond {
						t.Fatalf("reopened for %v; want 2s", oe.RetryIn+100*time.Millisecond)
					}
					want := []string{"k: closed -> open", "k: open -> half-open", "k: half-open -> open"}
					if got := tr.list(); !equal(got, want) {
						t.Fatalf("transitions:\n got %q\nwant %q", got, want)
					}
					return
				}
				for i, done := range admitted {
					done(nil)
					want := breaker.StateHalfOpen
					if i == len(admitted)-1 {
						want = breaker.StateClosed
					}
					wantState(t, r, "k", want)
				}
				report(t, r, "k", callers, nil)
			})
		})
	}
}

func TestRegistryRecoversAndReportsEveryTransitionInOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var tr transitions
		r := newRegistry(t, breaker.Config{Jitter: -1, OnStateChange: tr.record})
		report(t, r, "db:5432", 5, errBoom)
		time.Sleep(5 * time.Second)
		report(t, r, "db:5432", 1, errBoom) // probe fails
		time.Sleep(10 * time.Second)
		report(t, r, "db:5432", 1, nil) // probe succeeds
		wantState(t, r, "db:5432", breaker.StateClosed)
		report(t, r, "db:5432", 100, nil)

		want := []string{
			"db:5432: closed -> open",
			"db:5432: open -> half-open",
			"db:5432: half-open -> open",
			"db:5432: open -> half-open",
			"db:5432: half-open -> closed",
		}
		if got := tr.list(); !equal(got, want) {
			t.Fatalf("transitions:\n got %q\nwant %q", got, want)
		}
	})
}

func TestRegistryCallbacksMayCallBackIntoTheRegistry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var (
			r        *breaker.Registry
			tr       transitions
			inside   atomic.Int32
			observed []breaker.State
		)
		r = newRegistry(t, breaker.Config{
			ConsecutiveFailures: 1, Jitter: -1, OpenBase: time.Second,
			OnStateChange: func(key string, from, to breaker.State) {
				inside.Add(1)
				defer inside.Add(-1)
				tr.record(key, from, to)
				// Every Registry method, on the same key and others.
				observed = append(observed, r.State(key))
				_ = r.States()
				_ = r.Len()
				if done, err := r.Allow(key); err == nil {
					done(nil)
				}
				if done, err := r.Allow("other:1"); err == nil {
					done(nil)
				}
			},
			Classify: func(err error) breaker.Outcome {
				_ = r.State("k") // the classifier runs outside the locks too
				return breaker.DefaultClassifier(err)
			},
		})
		report(t, r, "k", 1, errBoom)
		if inside.Load() != 0 {
			t.Fatal("callback still running after Allow returned")
		}
		time.Sleep(time.Second)
		// The callback for open -> half-open is delivered from inside this
		// State call; the callback's own Allow is the probe and closes
		// the breaker, and that change is delivered by the same loop.
		_ = r.State("k")
		want := []string{
			"k: closed -> open",
			"k: open -> half-open",
			"k: half-open -> closed",
		}
		if got := tr.list(); !equal(got, want) {
			t.Fatalf("transitions:\n got %q\nwant %q", got, want)
		}
		if fmt.Sprint(observed) != "[open half-open closed]" {
			t.Fatalf("states seen from callbacks: %v", observed)
		}
	})
}

func TestRegistryPanickingCallbackDoesNotStopLaterDeliveries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var tr transitions
		panicked := false
		r := newRegistry(t, breaker.Config{ConsecutiveFailures: 1, Jitter: -1, OnStateChange: func(key string, from, to breaker.State) {
			if !panicked {
				panicked = true
				panic("callback bug")
			}
			tr.record(key, from, to)
		}})
		func() {
			defer func() {
				if recover() == nil {
					t.Fatal("the callback's panic did not reach the caller")
				}
			}()
			report(t, r, "k", 1, errBoom)
		}()
		wantState(t, r, "k", breaker.StateOpen)
		time.Sleep(5 * time.Second)
		report(t, r, "k", 1, nil)
		want := []string{"k: open -> half-open", "k: half-open -> closed"}
		if got := tr.list(); !equal(got, want) {
			t.Fatalf("transitions:\n got %q\nwant %q", got, want)
		}
	})
}

func TestRegistryDoneCalledTwiceCountsOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRegistry(t, breaker.Config{ConsecutiveFailures: 2, HalfOpenProbes: 2, Jitter: -1})
		done, err := r.Allow("k")
		if err != nil {
			t.Fatal(err)
		}
		done(errBoom)
		done(errBoom)
		wantState(t, r, "k", breaker.StateClosed)
		report(t, r, "k", 1, errBoom)
		wantState(t, r, "k", breaker.StateOpen)

		time.Sleep(5 * time.Second)
		probe, err := r.Allow("k")
		if err != nil {
			t.Fatal(err)
		}
		probe(nil)
		probe(nil) // would close the breaker if it counted twice
		wantState(t, r, "k", breaker.StateHalfOpen)
		report(t, r, "k", 1, nil)
		wantState(t, r, "k", breaker.StateClosed)
	})
}

func TestRegistryLenStaysWithinMaxKeysUnderRandomKeys(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const maxKeys = 64
		r := newRegistry(t, breaker.Config{MaxKeys: maxKeys})
		rng := rand.New(rand.NewPCG(1, 2))
		for i := range 100_000 {
			key := fmt.Sprintf("10.%d.%d.%d:%d", rng.IntN(256), rng.IntN(256), rng.IntN(256), 1+rng.IntN(65535))
			done, err := r.Allow(key)
			if err != nil {
				t.Fatal(err)
			}
			done(nil)
			if n := r.Len(); n > maxKeys {
				t.Fatalf("after %d keys Len = %d > MaxKeys %d", i+1, n, maxKeys)
			}
		}
		if n, s := r.Len(), len(r.States()); n != maxKeys || s != maxKeys {
			t.Fatalf("Len = %d, len(States) = %d; want %d", n, s, maxKeys)
		}
	})
}

func TestRegistryEvictsTheLeastRecentlyAllowedKey(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRegistry(t, breaker.Config{MaxKeys: 2})
		report(t, r, "a", 1, nil)
		report(t, r, "b", 1, nil)
		_ = r.State("b") // observing is not using
		report(t, r, "a", 1, nil)
		report(t, r, "c", 1, nil) // evicts b
		states := r.States()
		if _, ok := states["b"]; ok || len(states) != 2 {
			t.Fatalf("States = %v; want a and c", states)
		}
	})
}

func TestRegistryEvictedOpenBreakerIsForgotten(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRegistry(t, breaker.Config{MaxKeys: 2, ConsecutiveFailures: 1})
		report(t, r, "a", 1, errBoom)
		wantState(t, r, "a", breaker.StateOpen)
		report(t, r, "b", 1, nil)
		report(t, r, "c", 1, nil) // evicts a
		wantState(t, r, "a", breaker.StateClosed)
		report(t, r, "a", 1, nil)
		if got := breaker.Trips(r, "a"); got != 0 {
			t.Fatalf("Trips(a) after eviction = %d; want 0", got)
		}
	})
}

func TestRegistryDoneOfAnEvictedBreakerIsANoOp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var tr transitions
		r := newRegistry(t, breaker.Config{MaxKeys: 1, ConsecutiveFailures: 1, OnStateChange: tr.record})
		stale, err := r.Allow("a")
		if err != nil {
			t.Fatal(err)
		}
		report(t, r, "b", 1, nil) // evicts a
		report(t, r, "a", 1, nil) // a new breaker for a, evicting b
		stale(errBoom)
		wantState(t, r, "a", breaker.StateClosed)
		if got := tr.list(); len(got) != 0 {
			t.Fatalf("transitions after a stale done: %q", got)
		}
	})
}

// TestRegistryConcurrentUse hammers a few keys from many goroutines (run it
// with -race) and checks that each key's transitions arrive as one chain:
// every change starts where the previous one ended.
func TestRegistryConcurrentUse(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const keys, workers, calls = 4, 8, 1500
		var (
			mu      sync.Mutex
			last    = map[string]breaker.State{}
			changes int
			active  = map[string]bool{}
		)
		r := newRegistry(t, breaker.Config{
			ConsecutiveFailures: 3, MinRequests: 10, OpenBase: 50 * time.Millisecond, OpenMax: 200 * time.Millisecond,
			Window: time.Second, HalfOpenProbes: 2,
			OnStateChange: func(key string, from, to breaker.State) {
				mu.Lock()
				if active[key] {
					t.Errorf("%s: callbacks overlap", key)
				}
				active[key] = true
				if from != last[key] || from == to {
					t.Errorf("%s: change %v -> %v after %v", key, from, to, last[key])
				}
				last[key] = to
				changes++
				mu.Unlock()
				time.Sleep(time.Millisecond) // widen the window for overlaps
				mu.Lock()
				active[key] = false
				mu.Unlock()
			},
		})
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(uint64(w), 7))
				for i := range calls {
					key := fmt.Sprintf("k%d", rng.IntN(keys))
					switch i % 50 {
					case 0:
						_ = r.States()
					case 1:
						_ = r.State(key)
					}
					done, err := r.Allow(key)
					if err != nil {
						if !errors.Is(err, breaker.ErrOpen) {
							t.Errorf("Allow: %v", err)
						}
						time.Sleep(time.Duration(rng.IntN(20)) * time.Millisecond)
						continue
					}
					var result error
					switch rng.IntN(10) {
					case 0, 1, 2, 3, 4, 5:
						result = errBoom
					case 6:
						result = context.Canceled
					}
					if rng.IntN(4) == 0 {
						time.Sleep(time.Duration(rng.IntN(5)) * time.Millisecond)
					}
					done(result)
					if rng.IntN(20) == 0 {
						done(result)
					}
				}
			})
		}
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		if changes < 10 {
			t.Fatalf("only %d state changes; the test did not exercise the breakers", changes)
		}
		if r.Len() != keys {
			t.Fatalf("Len = %d; want %d", r.Len(), keys)
		}
	})
}

func TestRegistryLongestDurationsDoNotOverflow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRegistry(t, breaker.Config{Window: 1 << 62, OpenBase: 1 << 62, OpenMax: 1 << 62, Jitter: 0.99, ConsecutiveFailures: 1})
		report(t, r, "k", 1, errBoom)
		if oe := openError(t, r, "k"); oe.RetryIn < (1<<62)/100 {
			t.Fatalf("RetryIn = %v", oe.RetryIn)
		}
		wantState(t, r, "k", breaker.StateOpen)
	})
}

func TestRegistryResultOfACallAllowedBeforeAStateChangeCountsForNothing(t *testing.T) {
	tests := []struct {
		name  string
		until breaker.State // the state the breaker is brought to before the stale result
	}{
		{"reported while open", breaker.StateOpen},
		{"reported while half-open", breaker.StateHalfOpen},
		{"reported after closing again", breaker.StateClosed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := newRegistry(t, breaker.Config{ConsecutiveFailures: 1, Jitter: -1, OpenBase: time.Second})
				stale, err := r.Allow("k") // allowed while closed
				if err != nil {
					t.Fatal(err)
				}
				report(t, r, "k", 1, errBoom) // trips
				var probe func(error)
				if tc.until != breaker.StateOpen {
					time.Sleep(time.Second)
					if probe, err = r.Allow("k"); err != nil {
						t.Fatal(err)
					}
				}
				if tc.until == breaker.StateClosed {
					probe(nil)
				}
				wantState(t, r, "k", tc.until)
				stale(errBoom) // would trip or reopen the breaker if it counted
				wantState(t, r, "k", tc.until)
				if tc.until == breaker.StateHalfOpen {
					probe(nil)
					wantState(t, r, "k", breaker.StateClosed)
				}
				if got := breaker.Trips(r, "k"); got != 1 {
					t.Fatalf("Trips = %d; want 1", got)
				}
			})
		})
	}
}

func TestRegistryResultCountsInTheWindowOfWhenItIsReported(t *testing.T) {
	t.Run("a call longer than the window counts", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			r := newRegistry(t, breaker.Config{ConsecutiveFailures: 1, Window: 10 * time.Second})
			done, err := r.Allow("k")
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Minute)
			done(errBoom)
			wantState(t, r, "k", breaker.StateOpen)
		})
	})
	t.Run("a failure reported after the window does not extend an aged-out run", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			r := newRegistry(t, breaker.Config{ConsecutiveFailures: 2, Window: 10 * time.Second})
			done, err := r.Allow("k")
			if err != nil {
				t.Fatal(err)
			}
			report(t, r, "k", 1, errBoom)
			time.Sleep(11 * time.Second)
			done(errBoom)
			wantState(t, r, "k", breaker.StateClosed)
			report(t, r, "k", 1, errBoom)
			wantState(t, r, "k", breaker.StateOpen)
		})
	})
}

// TestRegistryDoneIsOnceOnlyForManyCallsInFlight calls the done functions of
// more calls than one ticket slab holds twice each, concurrently, and checks
// that each result was classified (and so counted) once.
func TestRegistryDoneIsOnceOnlyForManyCallsInFlight(t *testing.T) {
	const calls = 10_000
	var classified atomic.Int64
	r := newRegistry(t, breaker.Config{Classify: func(err error) breaker.Outcome {
		classified.Add(1)
		return breaker.DefaultClassifier(err)
	}})
	dones := make([]func(error), calls)
	for i := range dones {
		done, err := r.Allow("k")
		if err != nil {
			t.Fatal(err)
		}
		dones[i] = done
	}
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for _, done := range dones {
				done(nil)
			}
		})
	}
	wg.Wait()
	if got := classified.Load(); got != calls {
		t.Fatalf("%d results classified for %d calls", got, calls)
	}
}

// TestRegistryAllocations holds the allocation budget of the paths every
// request takes (herz may add at most 2 allocations per HTTP request).
func TestRegistryAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes allocation counts")
	}
	r := newRegistry(t, breaker.Config{ConsecutiveFailures: 1, OpenBase: time.Hour, OpenMax: time.Hour})
	report(t, r, "open:1", 1, errBoom)
	tests := []struct {
		name string
		max  float64
		call func()
	}{
		{"closed success (Allow + done(nil))", 1, func() {
			done, err := r.Allow("closed:1")
			if err != nil {
				t.Fatal(err)
			}
			done(nil)
		}},
		{"closed ignore (Allow + done(context.Canceled))", 1, func() {
			done, err := r.Allow("closed:1")
			if err != nil {
				t.Fatal(err)
			}
			done(context.Canceled)
		}},
		{"open rejection", 1, func() {
			if _, err := r.Allow("open:1"); err == nil {
				t.Fatal("open breaker allowed a call")
			}
		}},
		{"State", 0, func() { _ = r.State("closed:1") }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := testing.AllocsPerRun(1000, tc.call); got > tc.max {
				t.Fatalf("%v allocations per call; want at most %v", got, tc.max)
			}
		})
	}
}
