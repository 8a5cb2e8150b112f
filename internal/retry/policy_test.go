package retry_test

import (
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/herz-go/herz/internal/retry"
)

// base is the un-jittered delay before retry n of a defaulted, valid p, in
// nanoseconds (a float: the rounding is the caller's business).
func base(p retry.Policy, n int) float64 {
	p = p.WithDefaults()
	d := float64(p.Initial) * math.Pow(p.Multiplier, float64(n-1))
	return min(d, float64(p.Max))
}

// jitterBounds returns the inclusive range a jittered delay around d may take.
func jitterBounds(p retry.Policy, d float64) (lo, hi time.Duration) {
	j := p.WithDefaults().Jitter
	return time.Duration(math.Floor(d * (1 - j))), time.Duration(math.Ceil(d * (1 + j)))
}

func TestPolicyZeroValueHasTheDocumentedDefaultsAndIsValid(t *testing.T) {
	got := retry.Policy{}.WithDefaults()
	want := retry.Policy{Initial: 50 * time.Millisecond, Max: 2 * time.Second, Multiplier: 2, Jitter: 0.5, MaxRetries: 2}
	if got != want {
		t.Fatalf("Policy{}.WithDefaults() = %+v, want %+v", got, want)
	}
	if err := (retry.Policy{}).Validate(); err != nil {
		t.Fatalf("Policy{}.Validate() = %v, want nil", err)
	}
	if n := (retry.Policy{}).Retries(); n != 2 {
		t.Fatalf("Policy{}.Retries() = %d, want 2", n)
	}
}

func TestPolicyWithDefaultsKeepsSetFieldsAndRaisesDefaultMaxToInitial(t *testing.T) {
	p := retry.Policy{Initial: 5 * time.Second, Multiplier: 1.5, Jitter: 0.1, MaxRetries: retry.NoRetries}.WithDefaults()
	want := retry.Policy{Initial: 5 * time.Second, Max: 5 * time.Second, Multiplier: 1.5, Jitter: 0.1, MaxRetries: -1}
	if p != want {
		t.Fatalf("WithDefaults() = %+v, want %+v", p, want)
	}
	if err := p.Validate(); err != nil {
		t.Fatalf("Validate() = %v", err)
	}
}

func TestPolicyValidateNamesTheInvalidField(t *testing.T) {
	tests := []struct {
		name  string
		p     retry.Policy
		field string // "" = valid
	}{
		{"zero", retry.Policy{}, ""},
		{"no retries", retry.Policy{MaxRetries: retry.NoRetries}, ""},
		{"constant backoff", retry.Policy{Multiplier: 1}, ""},
		{"full jitter", retry.Policy{Jitter: 1}, ""},
		{"max equals initial", retry.Policy{Initial: time.Second, Max: time.Second}, ""},
		{"negative initial", retry.Policy{Initial: -1}, "Policy.Initial"},
		{"initial too long", retry.Policy{Initial: 25 * time.Hour, Max: 25 * time.Hour}, "Policy.Initial"},
		{"negative max", retry.Policy{Max: -time.Second}, "Policy.Max"},
		{"max too long", retry.Policy{Max: 48 * time.Hour}, "Policy.Max"},
		{"max below initial", retry.Policy{Initial: time.Second, Max: time.Millisecond}, "Policy.Max"},
		{"multiplier below 1", retry.Policy{Multiplier: 0.5}, "Policy.Multiplier"},
		{"negative multiplier", retry.Policy{Multiplier: -2}, "Policy.Multiplier"},
		{"NaN multiplier", retry.Policy{Multiplier: math.NaN()}, "Policy.Multiplier"},
		{"infinite multiplier", retry.Policy{Multiplier: math.Inf(1)}, "Policy.Multiplier"},
		{"jitter above 1", retry.Policy{Jitter: 1.5}, "Policy.Jitter"},
		{"negative jitter", retry.Policy{Jitter: -0.1}, "Policy.Jitter"},
		{"NaN jitter", retry.Policy{Jitter: math.NaN()}, "Policy.Jitter"},
		{"max retries -2", retry.Policy{MaxRetries: -2}, "Policy.MaxRetries"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want an error naming %s", tt.field)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "herz/retry: "+tt.field+" ") {
				t.Fatalf("Validate() = %q, want it to start with %q", msg, "herz/retry: "+tt.field)
			}
		})
	}
}

func TestPolicyRetries(t *testing.T) {
	for _, tt := range []struct {
		max, want int
	}{{0, 2}, {retry.NoRetries, 0}, {1, 1}, {7, 7}, {-5, 2 /* invalid: default */}} {
		if got := (retry.Policy{MaxRetries: tt.max}).Retries(); got != tt.want {
			t.Errorf("Policy{MaxRetries: %d}.Retries() = %d, want %d", tt.max, got, tt.want)
		}
	}
}

func TestPolicyDelayGrowsExponentiallyUpToMaxWithinJitterBounds(t *testing.T) {
	policies := []retry.Policy{
		{},
		{Initial: 10 * time.Millisecond, Max: time.Second, Multiplier: 3, Jitter: 0.2},
		{Initial: time.Second, Max: time.Second, Multiplier: 1, Jitter: 1},
		{Initial: time.Nanosecond, Max: time.Millisecond, Multiplier: 1.1, Jitter: 0.01},
	}
	for _, p := range policies {
		t.Run(strings.ReplaceAll(p.WithDefaults().Initial.String(), ".", "_"), func(t *testing.T) {
			prevBase := 0.0
			for n := 1; n <= 40; n++ {
				b := base(p, n)
				if b < prevBase {
					t.Fatalf("base delay shrank at n=%d: %v < %v", n, b, prevBase)
				}
				if b > float64(p.WithDefaults().Max) {
					t.Fatalf("base delay %v above Max at n=%d", b, n)
				}
				prevBase = b
				lo, hi := jitterBounds(p, b)
				var below, above bool
				for range 300 {
					d := p.Delay(n)
					if d < lo || d > hi {
						t.Fatalf("Delay(%d) = %v, want in [%v, %v]", n, d, lo, hi)
					}
					below = below || float64(d) < b
					above = above || float64(d) > b
				}
				if b > 100 && (!below || !above) {
					t.Fatalf("Delay(%d): 300 samples never fell on both sides of %v: no jitter?", n, b)
				}
			}
		})
	}
}

func TestPolicyDelayIsAPureFunctionOfTheRetryNumber(t *testing.T) {
	p := retry.Policy{Initial: 100 * time.Millisecond, Max: 10 * time.Second, Jitter: 0.1}
	orig := p
	// Calls in any order, from many goroutines at once, give delays in the same
	// bounds: nothing is remembered between calls.
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				n := 1 + (i*7+g)%12
				lo, hi := jitterBounds(p, base(p, n))
				if d := p.Delay(n); d < lo || d > hi {
					errs <- "Delay out of bounds"
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
	if p != orig {
		t.Fatalf("Delay mutated the policy: %+v, was %+v", p, orig)
	}
	for _, n := range []int{0, -1, math.MinInt} {
		if d := p.Delay(n); d != 0 {
			t.Errorf("Delay(%d) = %v, want 0", n, d)
		}
	}
	// Huge retry numbers saturate at Max (with jitter), never overflow.
	lo, hi := jitterBounds(p, float64(p.Max))
	for _, n := range []int{64, 1024, 1 << 20, math.MaxInt} {
		if d := p.Delay(n); d < lo || d > hi {
			t.Errorf("Delay(%d) = %v, want in [%v, %v]", n, d, lo, hi)
		}
	}
}

func TestPolicyDelayTreatsInvalidFieldsAsDefaults(t *testing.T) {
	bad := retry.Policy{Initial: -time.Second, Max: -1, Multiplier: math.NaN(), Jitter: 7}
	for n := 1; n <= 10; n++ {
		lo, hi := jitterBounds(retry.Policy{}, base(retry.Policy{}, n))
		if d := bad.Delay(n); d < lo || d > hi {
			t.Fatalf("invalid policy Delay(%d) = %v, want the default's [%v, %v]", n, d, lo, hi)
		}
	}
}

func TestPolicyNewBackOffFollowsThePolicyAndStopsAfterMaxRetries(t *testing.T) {
	p := retry.Policy{Initial: 10 * time.Millisecond, Max: 50 * time.Millisecond, Multiplier: 2, Jitter: 0.3, MaxRetries: 6}
	for range 50 {
		b := p.NewBackOff()
		for n := 1; n <= 6; n++ {
			d := b.NextBackOff()
			lo, hi := jitterBounds(p, base(p, n))
			if d < lo || d > hi+1 { // cenkalti adds up to 1ns
				t.Fatalf("NextBackOff #%d = %v, want in [%v, %v]", n, d, lo, hi)
			}
		}
		if d := b.NextBackOff(); d != backoff.Stop {
			t.Fatalf("NextBackOff after MaxRetries = %v, want backoff.Stop", d)
		}
		b.Reset()
		if d := b.NextBackOff(); d == backoff.Stop {
			t.Fatal("NextBackOff after Reset = Stop, want a delay")
		}
	}
}

func TestPolicyNewBackOffReturnsAFreshBackOffPerOperation(t *testing.T) {
	p := retry.Policy{MaxRetries: 1}
	a, b := p.NewBackOff(), p.NewBackOff()
	if a == b {
		t.Fatal("NewBackOff returned the same BackOff twice")
	}
	if d := a.NextBackOff(); d == backoff.Stop {
		t.Fatal("first NextBackOff = Stop")
	}
	if d := a.NextBackOff(); d != backoff.Stop {
		t.Fatalf("second NextBackOff of a 1-retry policy = %v, want Stop", d)
	}
	// b is untouched by a's progress.
	if d := b.NextBackOff(); d == backoff.Stop {
		t.Fatal("a fresh BackOff shares state with another one")
	}
}

func TestPolicyNewBackOffWithNoRetriesStopsAtOnce(t *testing.T) {
	if d := (retry.Policy{MaxRetries: retry.NoRetries}).NewBackOff().NextBackOff(); d != backoff.Stop {
		t.Fatalf("NextBackOff = %v, want backoff.Stop", d)
	}
}

func BenchmarkPolicyDelay(b *testing.B) {
	p := retry.Policy{}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		_ = p.Delay(1 + i%5)
	}
}
