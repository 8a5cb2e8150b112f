package transport

import (
	"context"
	"net/http"
	"time"
)

// requestOpts are the per-request switches a context carries (bits).
type requestOpts uint8

const (
	optNoRetries requestOpts = 1 << iota
	optNoBreaker
)

// optsKey is the context key of a request's requestOpts.
type optsKey struct{}

// WithoutRetries returns a copy of ctx under which a [Transport] makes no
// retries of its own for the request: one attempt, its result as it is.
// net/http's own re-send of a request that wrote nothing on a reused
// connection stays on, as with http.DefaultTransport.
//
//	req = req.WithContext(transport.WithoutRetries(req.Context()))
func WithoutRetries(ctx context.Context) context.Context {
	return withOpt(ctx, optNoRetries)
}

// WithoutBreaker returns a copy of ctx under which a [Transport]'s request
// breaker neither rejects the request nor counts its result (a health check
// that must reach the host even while its breaker is open, for example).
func WithoutBreaker(ctx context.Context) context.Context {
	return withOpt(ctx, optNoBreaker)
}

func withOpt(ctx context.Context, o requestOpts) context.Context {
	old, _ := ctx.Value(optsKey{}).(requestOpts)
	return context.WithValue(ctx, optsKey{}, old|o)
}

// optsOf returns the switches of ctx; it does not allocate.
func optsOf(ctx context.Context) requestOpts {
	o, _ := ctx.Value(optsKey{}).(requestOpts)
	return o
}

// RetryInfo describes a retry about to happen, for [Config.OnRetry].
type RetryInfo struct {
	// Request is the caller's request.
	Request *http.Request
	// Attempt is the number of the attempt that failed, 1 for the first.
	Attempt int
	// Reason says why re-sending is safe, as in [Stats.Retries]:
	// stale_conn, connect_failure, refused_stream, goaway, attempt_timeout,
	// idempotent_error, status_502, status_503, status_504, status_429 or
	// status_other (a status Config.Retry.RetryStatus chose).
	Reason string
	// StatusCode is the status of the response being retried, or 0 when the
	// attempt failed with Err.
	StatusCode int
	// Err is the attempt's error, nil when a response is retried.
	Err error
	// Delay is the wait before the retry (backoff or Retry-After).
	Delay time.Duration
}
