package retry

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// Defaults of [Policy]; a zero field means its default.
const (
	DefaultInitial    = 50 * time.Millisecond
	DefaultMax        = 2 * time.Second
	DefaultMultiplier = 2.0
	DefaultJitter     = 0.5
	DefaultMaxRetries = 2
)

// NoRetries is the [Policy.MaxRetries] value that allows no retry at all (only
// the first attempt). Zero cannot say this: zero means [DefaultMaxRetries].
const NoRetries = -1

// maxDelay bounds [Policy.Initial] and [Policy.Max]: a retry delay longer than a
// day is a configuration mistake, and the bound keeps every computation far
// from time.Duration overflow.
const maxDelay = 24 * time.Hour

// Policy is an exponential backoff with jitter: the delay before retry n is
// Initial × Multiplier^(n−1), capped at Max, then spread uniformly over
// [d×(1−Jitter), d×(1+Jitter)].
//
// The zero value is the production default (50ms, ×2, capped at 2s, ±50%
// jitter, 2 retries). A Policy holds no per-operation state: it is a plain
// value, safe to copy and to share between goroutines. Adapters call
// [Policy.Validate] once (in their New) and then [Policy.Delay] or
// [Policy.NewBackOff] per operation.
type Policy struct {
	// Initial is the delay before the first retry, before jitter.
	// Default 50ms; zero means the default; negative or above 24h is invalid.
	Initial time.Duration

	// Max caps the delay before jitter, so a jittered delay is at most
	// Max×(1+Jitter). Default 2s, or Initial when that is larger; zero means
	// the default; negative, above 24h or below Initial is invalid.
	Max time.Duration

	// Multiplier is the growth factor between consecutive retries; 1 gives a
	// constant delay. Default 2; zero means the default; below 1, NaN or
	// infinite is invalid.
	Multiplier float64

	// Jitter is the randomization factor in [0,1]: each delay is drawn
	// uniformly from [d×(1−Jitter), d×(1+Jitter)]. Default 0.5; zero means the
	// default: herz backoff always has jitter (use a small value such as 0.01
	// for nearly fixed delays). Outside [0,1] or NaN is invalid.
	Jitter float64

	// MaxRetries is the number of retries after the first attempt. Default 2;
	// zero means the default; [NoRetries] (-1) means no retry at all; any
	// other negative value is invalid. The caller's context and the client's
	// [Budget] bound retries further.
	MaxRetries int
}

// WithDefaults returns p with every zero field replaced by its default.
// Non-zero fields are kept as they are, valid or not.
func (p Policy) WithDefaults() Policy {
	if p.Initial == 0 {
		p.Initial = DefaultInitial
	}
	if p.Max == 0 {
		p.Max = max(DefaultMax, p.Initial)
	}
	if p.Multiplier == 0 {
		p.Multiplier = DefaultMultiplier
	}
	if p.Jitter == 0 {
		p.Jitter = DefaultJitter
	}
	if p.MaxRetries == 0 {
		p.MaxRetries = DefaultMaxRetries
	}
	return p
}

// Validate reports the first invalid field of p (after defaults), naming it,
// e.g. "herz/retry: Policy.Jitter must be in [0,1], got 1.5". The zero Policy
// is valid.
func (p Policy) Validate() error {
	p = p.WithDefaults()
	switch {
	case p.Initial < 0 || p.Initial > maxDelay:
		return fmt.Errorf("herz/retry: Policy.Initial must be in [0,%v], got %v", maxDelay, p.Initial)
	case p.Max < 0 || p.Max > maxDelay:
		return fmt.Errorf("herz/retry: Policy.Max must be in [0,%v], got %v", maxDelay, p.Max)
	case p.Max < p.Initial:
		return fmt.Errorf("herz/retry: Policy.Max (%v) must not be below Policy.Initial (%v)", p.Max, p.Initial)
	case math.IsNaN(p.Multiplier) || math.IsInf(p.Multiplier, 0) || p.Multiplier < 1:
		return fmt.Errorf("herz/retry: Policy.Multiplier must be a finite number ≥ 1, got %v", p.Multiplier)
	case math.IsNaN(p.Jitter) || p.Jitter < 0 || p.Jitter > 1:
		return fmt.Errorf("herz/retry: Policy.Jitter must be in [0,1], got %v", p.Jitter)
	case p.MaxRetries < NoRetries:
		return fmt.Errorf("herz/retry: Policy.MaxRetries must be ≥ 0 or NoRetries (-1), got %d", p.MaxRetries)
	}
	return nil
}

// sanitized returns p with defaults filled in and every invalid field
// replaced by its default, so that Delay and NewBackOff, which cannot return
// an error, still behave sanely on a policy nobody validated.
func (p Policy) sanitized() Policy {
	p = p.WithDefaults()
	if p.Initial < 0 || p.Initial > maxDelay {
		p.Initial = DefaultInitial
	}
	if p.Max < 0 || p.Max > maxDelay {
		p.Max = DefaultMax
	}
	p.Max = max(p.Max, p.Initial)
	if math.IsNaN(p.Multiplier) || math.IsInf(p.Multiplier, 0) || p.Multiplier < 1 {
		p.Multiplier = DefaultMultiplier
	}
	if math.IsNaN(p.Jitter) || p.Jitter < 0 || p.Jitter > 1 {
		p.Jitter = DefaultJitter
	}
	if p.MaxRetries < NoRetries {
		p.MaxRetries = DefaultMaxRetries
	}
	return p
}

// Retries returns how many retries p allows after the first attempt:
// [DefaultMaxRetries] for zero, 0 for [NoRetries].
func (p Policy) Retries() int {
	return max(p.sanitized().MaxRetries, 0)
}

// Delay returns the jittered delay to wait before retry number n (1-based:
// n=1 is the first retry, after the first attempt failed). It is a pure
// function of p and n apart from the random jitter, in the style of grpc-go's
// internal/backoff: it keeps no state, so one Policy serves any number of
// concurrent operations. n < 1 gives 0. Delay does not enforce MaxRetries
// (see [Policy.Retries]) and does not validate p: out-of-range fields behave
// as their defaults (call [Policy.Validate] once, when configuring).
func (p Policy) Delay(n int) time.Duration {
	if n < 1 {
		return 0
	}
	p = p.sanitized()
	d := float64(p.Max)
	// Initial × Multiplier^(n−1), computed in float64 where overflow becomes
	// +Inf and is then capped; n−1 ≥ 1024 overflows for any Multiplier > 1.
	if g := float64(p.Initial) * math.Pow(p.Multiplier, float64(n-1)); g < d {
		d = g
	}
	d *= 1 + p.Jitter*(2*rand.Float64()-1)
	// Initial and Max are at most 24h and Jitter at most 1, so d ≤ 48h: no
	// overflow converting back.
	return time.Duration(d)
}

// NewBackOff returns a fresh github.com/cenkalti/backoff/v4 BackOff that
// follows p: an ExponentialBackOff with MaxElapsedTime 0 (the caller's context
// bounds the operation: wrap it with backoff.WithContext) limited to
// [Policy.Retries] retries, after which NextBackOff returns backoff.Stop.
//
// Create one per operation and never share it: a BackOff carries the state of
// one operation and is not safe for concurrent use. Like [Policy.Delay],
// NewBackOff does not validate p. The delays follow the same distribution as
// Delay, except that cenkalti's jitter may add up to 1ns on top.
func (p Policy) NewBackOff() backoff.BackOff {
	p = p.sanitized()
	b := &backoff.ExponentialBackOff{
		InitialInterval:     p.Initial,
		RandomizationFactor: p.Jitter,
		Multiplier:          p.Multiplier,
		MaxInterval:         p.Max,
		MaxElapsedTime:      0,
		Stop:                backoff.Stop,
		Clock:               backoff.SystemClock,
	}
	b.Reset()
	return backoff.WithMaxRetries(b, uint64(max(p.MaxRetries, 0)))
}
