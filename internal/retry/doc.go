// Package retry holds the retry primitives every herz adapter shares: a
// stateless exponential backoff [Policy] with jitter, a context-aware [Sleep]
// that never sleeps past the caller's deadline, a [ParseRetryAfter] parser for
// the HTTP Retry-After header, and a client-wide retry [Budget] in the style
// of Finagle and Envoy so that retries cannot multiply an outage.
//
// The package decides nothing about *whether* a request may be retried: that
// ladder (idempotency, nothing written, REFUSED_STREAM, …) belongs to each
// adapter. It only answers *when* (Policy, Sleep, ParseRetryAfter) and *how
// many* (Policy.MaxRetries per operation, Budget per client).
//
// A typical adapter loop:
//
//	budget.Deposit() // once per original request, never per retry
//	for n := 1; ; n++ {
//		err := attempt(ctx)
//		if err == nil || !retryable(err) || n > policy.Retries() || !budget.Withdraw() {
//			return err
//		}
//		if serr := retry.Sleep(ctx, policy.Delay(n)); serr != nil {
//			return err // the deadline or the caller ended it: report the attempt's error
//		}
//	}
//
// A [Policy] is a plain value, safe to share between goroutines: it holds no
// per-operation state ([Policy.Delay] is a pure function of the retry number).
// When a github.com/cenkalti/backoff/v4 BackOff is wanted instead,
// [Policy.NewBackOff] creates a fresh one per operation; never share it.
// A [Budget] is shared per client and is safe for concurrent use.
package retry
