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
// nanoseconds: Initial × Multiplier^(n−1) capped at Max, grown one retry at a
// time with each step truncated to a whole nanosecond, as documented.
func base(p retry.Policy, n int) float64 {
	p = p.WithDefaults()
	d := p.Initial
	for i := 1; i < n && d < p.Max; i++ {
		if float64(d) >= float64(p.Max)/p.Multiplier {
			d = p.Max
		} else {
			d = time.Duration(float64(d) * p.Multiplier)
		}
	}
	return float64(d)
}

// inBounds reports whether d is in [lo, hi+1ns]: cenkalti's jitter may add
// up to 1ns on top of the documented range.
func inBounds(d, lo, hi time.Duration) bool { return d >= lo && d <= hi+1 }

// delays returns the first n delays of a fresh Backoff of p.
func delays(p retry.Policy, n int) []time.Duration {
	bo := p.Backoff()
	ds := make([]time.Duration, n)
	for i := range ds {
		ds[i] = bo.Next()
	}
	return ds
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

func TestBackoffGrowsExponentiallyUpToMaxWithinJitterBounds(t *testing.T) {
	policies := []retry.Policy{
		{},
		{Initial: 10 * time.Millisecond, Max: time.Second, Multiplier: 3, Jitter: 0.2},
		{Initial: time.Second, Max: time.Second, Multiplier: 1, Jitter: 1},
		{Initial: time.Nanosecond, Max: time.Millisecond, Multiplier: 1.1, Jitter: 0.01},
		{Initial: 7 * time.Microsecond, Max: time.Millisecond, Multiplier: 1.1, Jitter: 0.01},
	}
	const retries, samples = 40, 300
	for _, p := range policies {
		t.Run(strings.ReplaceAll(p.WithDefaults().Initial.String(), ".", "_"), func(t *testing.T) {
			// samples operations, each with its own Backoff: runs[s][n-1] is
			// the delay before retry n of operation s.
			runs := make([][]time.Duration, samples)
			for s := range runs {
				runs[s] = delays(p, retries)
			}
			prevBase := 0.0
			for n := 1; n <= retries; n++ {
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
				for _, run := range runs {
					d := run[n-1]
					if d < lo || d > hi+1 { // cenkalti adds up to 1ns
						t.Fatalf("delay before retry %d = %v, want in [%v, %v]", n, d, lo, hi)
					}
					below = below || float64(d) < b
					above = above || float64(d) > b
				}
				if b > 100 && (!below || !above) {
					t.Fatalf("retry %d: %d samples never fell on both sides of %v: no jitter?", n, samples, b)
				}
			}
		})
	}
}

func TestBackoffFollowsTheDocumentedDefaults(t *testing.T) {
	// 50ms, 100ms, 200ms, …, capped at 2s; ±50%.
	for range 100 {
		for n, d := range delays(retry.Policy{}, 8) {
			b := min(50*time.Millisecond<<n, 2*time.Second)
			if d < b/2 || d > b*3/2+1 {
				t.Fatalf("default delay before retry %d = %v, want in [%v, %v]", n+1, d, b/2, b*3/2)
			}
		}
	}
	var zero retry.Backoff // the zero Backoff follows the zero Policy
	if d := zero.Next(); d < 25*time.Millisecond || d > 75*time.Millisecond {
		t.Fatalf("zero Backoff's first delay = %v, want in [25ms, 75ms]", d)
	}
}

func TestBackoffIsPerOperationAndPolicyIsShareable(t *testing.T) {
	p := retry.Policy{Initial: 100 * time.Millisecond, Max: 10 * time.Second, Jitter: 0.1}
	orig := p
	// Many operations at once, each with its own Backoff from one shared
	// Policy, each see the sequence from its start: nothing is shared.
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				bo := p.Backoff()
				for n := 1; n <= 1+(i*7+g)%12; n++ {
					lo, hi := jitterBounds(p, base(p, n))
					if d := bo.Next(); d < lo || d > hi+1 {
						errs <- "delay out of bounds"
						return
					}
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
		t.Fatalf("Backoff mutated the policy: %+v, was %+v", p, orig)
	}
	// Progress of one Backoff does not move another.
	a, b := p.Backoff(), p.Backoff()
	for range 10 {
		a.Next()
	}
	if lo, hi := jitterBounds(p, base(p, 1)); !inBounds(b.Next(), lo, hi) {
		t.Fatalf("a fresh Backoff's first delay is not in [%v, %v]", lo, hi)
	}
	// Many retries saturate at Max (with jitter), never overflow.
	for _, q := range []retry.Policy{p, {Initial: time.Hour, Max: 24 * time.Hour, Multiplier: 1e300, Jitter: 1}} {
		lo, hi := jitterBounds(q, float64(q.WithDefaults().Max))
		bo := q.Backoff()
		for n := 1; n <= 2000; n++ {
			d := bo.Next()
			if n > 100 && (d < lo || d > hi+1) {
				t.Fatalf("delay before retry %d = %v, want in [%v, %v]", n, d, lo, hi)
			}
		}
	}
}

func TestBackoffTreatsInvalidFieldsAsDefaults(t *testing.T) {
	bad := retry.Policy{Initial: -time.Second, Max: -1, Multiplier: math.NaN(), Jitter: 7}
	for range 20 {
		for n, d := range delays(bad, 10) {
			lo, hi := jitterBounds(retry.Policy{}, base(retry.Policy{}, n+1))
			if d < lo || d > hi+1 {
				t.Fatalf("invalid policy: delay before retry %d = %v, want the default's [%v, %v]", n+1, d, lo, hi)
			}
		}
	}
}

func TestPolicyBackoffAllocatesOnlyWhenItRetries(t *testing.T) {
	p := retry.Policy{}
	if n := testing.AllocsPerRun(100, func() {
		bo := p.Backoff()
		_ = &bo
	}); n != 0 {
		t.Fatalf("Policy.Backoff without a retry: %v allocs, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() {
		bo := p.Backoff()
		for range 3 {
			bo.Next()
		}
	}); n > 1 {
		t.Fatalf("a Backoff that retries 3 times: %v allocs, want at most 1 (the ExponentialBackOff)", n)
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

// BenchmarkBackoffNoRetry is an operation that succeeds at once: its
// Backoff is never asked for a delay.
func BenchmarkBackoffNoRetry(b *testing.B) {
	p := retry.Policy{}
	b.ReportAllocs()
	for b.Loop() {
		bo := p.Backoff()
		_ = &bo
	}
}

// BenchmarkBackoffTwoRetries is an operation that retries twice.
func BenchmarkBackoffTwoRetries(b *testing.B) {
	p := retry.Policy{}
	b.ReportAllocs()
	for b.Loop() {
		bo := p.Backoff()
		_ = bo.Next()
		_ = bo.Next()
	}
}

// FuzzBackoff: any Policy, valid or not, gives delays in [0, 48h+1ns] that
// never shrink before jitter; a valid one gives delays within its
// documented bounds.
func FuzzBackoff(f *testing.F) {
	f.Add(int64(0), int64(0), 0.0, 0.0, uint8(10))
	f.Add(int64(time.Millisecond), int64(4*time.Millisecond), 2.0, 0.5, uint8(10))
	f.Add(int64(time.Nanosecond), int64(time.Millisecond), 1.1, 0.01, uint8(200))
	f.Add(int64(time.Hour), int64(24*time.Hour), 1e300, 1.0, uint8(5))
	f.Add(int64(-1), int64(-1), math.NaN(), 7.0, uint8(3))
	f.Fuzz(func(t *testing.T, initial, maxD int64, mult, jitter float64, n uint8) {
		p := retry.Policy{Initial: time.Duration(initial), Max: time.Duration(maxD), Multiplier: mult, Jitter: jitter}
		valid := p.Validate() == nil
		bo := p.Backoff()
		for i := 1; i <= int(n); i++ {
			d := bo.Next()
			if d < 0 || d > 48*time.Hour+1 {
				t.Fatalf("%+v: delay before retry %d = %v", p, i, d)
			}
			if valid {
				if lo, hi := jitterBounds(p, base(p, i)); !inBounds(d, lo, hi) {
					t.Fatalf("%+v: delay before retry %d = %v, want in [%v, %v]", p, i, d, lo, hi)
				}
			}
		}
	})
}
