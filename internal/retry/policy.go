package retry

import (
	"fmt"
	"math"
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

// Policy is an exponential backoff with jitter, computed by
// github.com/cenkalti/backoff/v4's ExponentialBackOff: the delay before retry
// n is d = Initial × Multiplier^(n−1), capped at Max, then spread uniformly
// over [d×(1−Jitter), d×(1+Jitter)] (cenkalti may add up to 1ns on top). The
// library grows the interval one retry at a time and truncates each step to
// a whole nanosecond, which only matters for intervals of a few nanoseconds.
//
// The zero value is the production default (50ms, ×2, capped at 2s, ±50%
// jitter, 2 retries). A Policy holds no per-operation state: it is a plain
// value, safe to copy and to share between goroutines. Adapters call
// [Policy.Validate] once (in their New) and then, per operation,
// [Policy.Backoff] (or [Policy.NewBackOff] for a backoff.BackOff).
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
		return &ConfigError{Struct: "Policy", Field: "Initial", Rule: fmt.Sprintf("must be in [0,%v], got %v", maxDelay, p.Initial)}
	case p.Max < 0 || p.Max > maxDelay:
		return &ConfigError{Struct: "Policy", Field: "Max", Rule: fmt.Sprintf("must be in [0,%v], got %v", maxDelay, p.Max)}
	case p.Max < p.Initial:
		return &ConfigError{Struct: "Policy", Field: "Max", Rule: fmt.Sprintf("(%v) must not be below Initial (%v)", p.Max, p.Initial)}
	case math.IsNaN(p.Multiplier) || math.IsInf(p.Multiplier, 0) || p.Multiplier < 1:
		return &ConfigError{Struct: "Policy", Field: "Multiplier", Rule: fmt.Sprintf("must be a finite number ≥ 1, got %v", p.Multiplier)}
	case math.IsNaN(p.Jitter) || p.Jitter < 0 || p.Jitter > 1:
		return &ConfigError{Struct: "Policy", Field: "Jitter", Rule: fmt.Sprintf("must be in [0,1], got %v", p.Jitter)}
	case p.MaxRetries < NoRetries:
		return &ConfigError{Struct: "Policy", Field: "MaxRetries", Rule: fmt.Sprintf("must be ≥ 0 or NoRetries (-1), got %d", p.MaxRetries)}
	}
	return nil
}

// sanitized returns p with defaults filled in and every invalid field
// replaced by its default, so that Backoff and NewBackOff, which cannot return
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

// Backoff returns the backoff state of one operation that follows p. It
// allocates nothing: the cenkalti ExponentialBackOff behind it is created by
// the first [Backoff.Next], when a first retry is about to happen, so an
// operation that never retries costs nothing. Like [Policy.NewBackOff], it
// does not validate p: out-of-range fields behave as their defaults (call
// [Policy.Validate] once, when configuring).
func (p Policy) Backoff() Backoff { return Backoff{p: p} }

// Backoff is the retry delays of one operation, following a [Policy]: a
// github.com/cenkalti/backoff/v4 ExponentialBackOff created per operation,
// as that library recommends, on the first call to [Backoff.Next]. Get one
// from [Policy.Backoff] at the start of the operation and keep it in the
// retry loop; never share it between operations or goroutines. The zero
// Backoff follows the zero (default) Policy.
//
// Backoff does not count retries (see [Policy.Retries]) and knows no
// deadline, Retry-After or budget: the caller decides whether to retry and
// [Sleep] bounds the wait by the context's deadline.
type Backoff struct {
	p Policy
	b *backoff.ExponentialBackOff // nil until the first Next
}

// Next returns the jittered delay to wait before the next retry: the first
// call gives the delay before retry 1, the second the delay before retry 2,
// and so on, growing by Multiplier up to Max (before jitter) and staying
// there. It never returns backoff.Stop.
func (b *Backoff) Next() time.Duration {
	if b.b == nil {
		b.b = b.p.sanitized().exponential()
	}
	return b.b.NextBackOff()
}

// NewBackOff returns a fresh github.com/cenkalti/backoff/v4 BackOff that
// follows p: an ExponentialBackOff with MaxElapsedTime 0 (the caller's context
// bounds the operation: wrap it with backoff.WithContext) limited to
// [Policy.Retries] retries, after which NextBackOff returns backoff.Stop.
//
// Create one per operation and never share it: a BackOff carries the state of
// one operation and is not safe for concurrent use. Like [Policy.Backoff],
// NewBackOff does not validate p, and its delays are those of [Backoff.Next].
func (p Policy) NewBackOff() backoff.BackOff {
	p = p.sanitized()
	return backoff.WithMaxRetries(p.exponential(), uint64(max(p.MaxRetries, 0)))
}

// exponential returns a fresh, reset cenkalti ExponentialBackOff following p,
// which must be sanitized. MaxElapsedTime is 0 (no limit): the caller's
// context deadline bounds the operation (see [Sleep]).
func (p Policy) exponential() *backoff.ExponentialBackOff {
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
	return b
}

// ConfigError reports an invalid field of a [Policy] or [BudgetConfig]. An
// adapter re-states it with the name of its own field (Config.Retry.Initial),
// so the user reads the field they wrote.
type ConfigError struct {
	// Struct is Policy or BudgetConfig; Field the field's name in it.
	Struct, Field string
	// Rule says what is wrong, e.g. "must be in [0,1], got 2".
	Rule string
}

// Error implements error.
func (e *ConfigError) Error() string { return "herz/retry: " + e.Struct + "." + e.Field + " " + e.Rule }
