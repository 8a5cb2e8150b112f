// Package retry holds the retry primitives every herz adapter shares: an
// exponential backoff [Policy] with jitter (computed by
// github.com/cenkalti/backoff/v4), a context-aware [Sleep] that never sleeps
// past the caller's deadline, a [ParseRetryAfter] parser for the HTTP
// Retry-After header, and a client-wide retry [Budget] in the style
// of Finagle and Envoy so that retries cannot multiply an outage.
//
// The package decides nothing about *whether* a request may be retried: that
// ladder (idempotency, nothing written, REFUSED_STREAM, …) belongs to each
// adapter. It only answers *when* (Policy, Sleep, ParseRetryAfter) and *how
// many* (Policy.MaxRetries per operation, Budget per client).
//
// A typical adapter loop:
//
//	budget.Deposit()       // once per original request, never per retry
//	bo := policy.Backoff() // per operation; allocates only on a first retry
//	for n := 1; ; n++ {
//		err := attempt(ctx)
//		if err == nil || !retryable(err) || n > policy.Retries() || !budget.Withdraw() {
//			return err
//		}
//		if serr := retry.Sleep(ctx, bo.Next()); serr != nil {
//			return err // the deadline or the caller ended it: report the attempt's error
//		}
//	}
//
// A [Policy] is a plain value, safe to share between goroutines: it holds no
// per-operation state. The state of one operation's delays is a [Backoff]
// ([Policy.Backoff]), a cenkalti ExponentialBackOff created per operation, as
// that library recommends, and only when a first retry happens; when a
// backoff.BackOff is wanted instead, [Policy.NewBackOff] creates one. Never
// share either between operations. A [Budget] is shared per client and is
// safe for concurrent use.
package retry
