package grpcconn

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"time"
	"weak"

	"google.golang.org/grpc"
	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/herz-go/herz/dialer"
	"github.com/herz-go/herz/internal/retry"
	"github.com/herz-go/herz/internal/telemetry"
)

// reason says why a retry was safe: the herz.reason attribute of herz.retries
// and a key of [Stats.Retries].
type reason uint8

const (
	reasonNotSent           reason = iota // no stream was created on a connection: nothing reached a server
	reasonServerUnavailable               // the server answered UNAVAILABLE itself
	reasonStreamNotStarted                // a stream failed before it was established
	reasonIdempotent                      // an idempotent method after a transport failure or attempt timeout
	numReasons
)

var reasonNames = [numReasons]string{"not_sent", "server_unavailable", "stream_not_started", "idempotent"}

// String returns the metric name of r.
func (r reason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return "unknown"
}

// callKey is the context key of the *call the picker reports to.
type callKey struct{}

// call is the context of one attempt made through herz's interceptors: the
// picker finds it with Value and records which backend served the attempt
// and, in its Done, what was sent and received (for a unary call the picker
// and Done run on the caller's goroutine, inside the invoker).
type call struct {
	context.Context
	h      *hooks
	stream bool

	b      *outlierBalancer
	ep     *endpoint
	inner  func(balancer.DoneInfo)
	start  time.Time
	doneFn func(balancer.DoneInfo)

	// seen holds the seen* bits of the last attempt's Done: written by Done
	// (which grpc-go may run on its context watcher), read by the
	// interceptor after the invoker returned.
	seen atomic.Uint32
}

const (
	seenPicked uint32 = 1 << iota
	seenSent
	seenReceived
	seenTrailersOnly
)

func newCall(ctx context.Context, h *hooks, stream bool) *call {
	c := &call{Context: ctx, h: h, stream: stream}
	c.doneFn = c.done
	return c
}

// Value returns c for callKey and asks the parent otherwise.
func (c *call) Value(k any) any {
	if k == (callKey{}) {
		return c
	}
	return c.Context.Value(k)
}

func (c *call) done(di balancer.DoneInfo) {
	bits := seenPicked
	if di.BytesSent {
		bits |= seenSent
	}
	if di.BytesReceived {
		bits |= seenReceived
	}
	if len(di.Trailer["content-type"]) > 0 {
		// Content-Type arrives in the response headers; only a
		// Trailers-Only response (the server's status and no headers
		// before it) carries it in its trailers (gRPC over HTTP/2
		// protocol: Trailers-Only = HTTP-Status Content-Type Trailers).
		bits |= seenTrailersOnly
	}
	c.seen.Store(bits)
	if di.Err != nil && status.Code(di.Err) == codes.Unavailable && strings.Contains(di.Err.Error(), "too_many_pings") {
		// The server closed the connection with GOAWAY ENHANCE_YOUR_CALM
		// "too_many_pings": Keepalive.ServerMinTime is below its policy.
		// grpc-go doubles this ClientConn's ping interval by itself.
		c.h.tooManyPings.Add(1)
	}
	lat := time.Duration(-1) // a stream's duration says nothing of the backend's speed
	if !c.stream {
		lat = time.Since(c.start)
	}
	c.b.done(c.ep, di, lat)
	if c.inner != nil {
		c.inner(di)
	}
}

// attemptKind is what an attempt's result says about the target.
type attemptKind uint8

const (
	kindOK        attemptKind = iota // success or a status the server sent (not UNAVAILABLE)
	kindCaller                       // the caller's context ended it
	kindNoConn                       // UNAVAILABLE from the picker: no ready connection (grpc-go fails fast)
	kindNotSent                      // UNAVAILABLE before a stream existed on the picked connection
	kindServer                       // the server answered UNAVAILABLE with no response headers (Trailers-Only)
	kindCommitted                    // UNAVAILABLE after the server sent response headers
	kindTransport                    // UNAVAILABLE after the attempt was sent, nothing received
	kindTimeout                      // the attempt timeout fired
)

// classify tells the attempt's kind from its error and what the picker saw.
func classify(ctx context.Context, err error, c *call, timedOut bool) attemptKind {
	switch {
	case err == nil:
		return kindOK
	case ctx.Err() != nil:
		return kindCaller
	case timedOut:
		return kindTimeout
	case status.Code(err) != codes.Unavailable:
		return kindOK
	}
	switch seen := c.seen.Load(); {
	case seen&seenPicked == 0:
		return kindNoConn
	case seen&seenSent == 0:
		return kindNotSent
	case seen&seenTrailersOnly != 0:
		return kindServer
	case seen&seenReceived != 0:
		return kindCommitted
	}
	return kindTransport
}

// breakerOutcome is the value reported to the target's breaker for kind: a
// nil error for an answer, context.Canceled (Ignore) for what says nothing
// about the target's transport, err for a transport failure.
func breakerOutcome(kind attemptKind, err error) error {
	switch kind {
	case kindOK, kindServer:
		return nil
	case kindCaller, kindNoConn, kindNotSent:
		// grpc-go already fails calls fast while no connection is ready:
		// counting them would hold the target off after it is back (P14).
		return context.Canceled
	}
	return err
}

// retryable is the retry-safety ladder for a unary attempt that ended with
// kind. The first rule that matches decides.
func (o *Options) retryable(kind attemptKind, method string, attempt int) (reason, bool) {
	switch {
	case attempt > o.s.maxRetries:
		// Out of attempts (Config.Retry.MaxRetries; NoRetries gives 0).
		return 0, false
	case kind == kindOK, kind == kindCaller:
		// An answer, or the caller gave up: nobody waits for a retry.
		return 0, false
	case kind == kindNoConn:
		// No backend has a ready connection: grpc-go fails the call at once
		// (no WaitForReady) while it reconnects with its own backoff. A retry
		// would only make the caller wait longer for the same answer.
		return 0, false
	case kind == kindNotSent:
		// A connection was picked but no stream was created on it (it closed
		// between the pick and the stream): the server never saw the call,
		// so even a non-idempotent one is safe, and another connection or
		// backend is likely ready.
		return reasonNotSent, true
	case kind == kindServer:
		// The server answered UNAVAILABLE before any response header
		// (Trailers-Only): in gRPC's status semantics the call was not
		// processed (gRFC A6 retries it too), and the next attempt may go to
		// another backend. After response headers the server had committed
		// (kindCommitted): not retried below, as grpc-go's retryPolicy.
		return reasonServerUnavailable, true
	case o.s.Retry.Idempotent != nil && o.s.Retry.Idempotent(method):
		// The request may have reached the server (transport failure after
		// sending, attempt timeout), but re-running it is harmless.
		return reasonIdempotent, true
	}
	// The request may have been executed: re-sending could run it twice
	// (P10). grpc-go's own transparent retry already re-sent the streams the
	// server provably did not process (GOAWAY, REFUSED_STREAM).
	return 0, false // conservatively
}

// allow asks target's breaker for an attempt: done (nil when the breaker
// is disabled or passed over) reports its result. An open breaker refuses
// the call only if it would fail fast anyway: a call that asked to wait for
// a ready connection (grpc.WaitForReady) waits within its own deadline, as
// with plain grpc-go, and while the target's balancer has a healthy backend
// (ready, not ejected, not failing) no call is refused.
func (o *Options) allow(target string, opts []grpc.CallOption) (done func(error), err error) {
	if o.breakers == nil {
		return nil, nil
	}
	if done, err = o.breakers.Allow(target); err == nil {
		return done, nil
	}
	if waitsForReady(opts) {
		return nil, nil
	}
	if b := o.balancerOf(target); b != nil && b.healthyExcept(nil) {
		return nil, nil
	}
	return nil, &OpenError{Target: target, Err: err}
}

// waitsForReady reports whether opts (the ClientConn's default call options
// and the call's) end with grpc.WaitForReady(true).
func waitsForReady(opts []grpc.CallOption) bool {
	wait := false
	for _, opt := range opts {
		if ff, ok := opt.(grpc.FailFastCallOption); ok {
			wait = !ff.FailFast
		}
	}
	return wait
}

// balancerOf returns the herz_outlier balancer last seen serving target, or
// nil. It is learned from the attempts that fail (see report), which are
// the only ones that can open the breaker.
func (o *Options) balancerOf(target string) *outlierBalancer {
	if v, ok := o.bals.Load(target); ok {
		return v.(weak.Pointer[outlierBalancer]).Value()
	}
	return nil
}

// report reports an attempt's result to target's breaker. A transport
// failure on one backend is that backend's evidence (its ejection), not
// the target's: the breaker counts it only when no other backend of the
// target is healthy, so that it opens only when every backend is failing.
func (o *Options) report(done func(error), target string, c *call, kind attemptKind, err error) {
	if done == nil {
		return
	}
	out := breakerOutcome(kind, err)
	if out != nil && out != context.Canceled && c.b != nil {
		if o.balancerOf(target) != c.b {
			o.bals.Store(target, weak.Make(c.b))
		}
		if c.b.healthyExcept(c.ep) {
			out = context.Canceled // counts neither way
		}
	}
	done(out)
}

// wait prepares the next retry: it checks that the backoff fits in
// the caller's deadline and that the budget allows it, counts it and
// sleeps. It reports false when the last result must be returned instead.
func (o *Options) wait(ctx context.Context, target string, r reason, bo *retry.Backoff) bool {
	delay := bo.Next()
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= delay {
		return false // the retry could not happen in time
	}
	if !o.budget.Withdraw() {
		o.refused.Add(1)
		o.rec.RetryRefused(ctx, telemetry.ComponentGRPC, target)
		return false
	}
	o.retries[r].Add(1)
	o.rec.Retry(ctx, telemetry.ComponentGRPC, target, r.String())
	return retry.Sleep(ctx, delay) == nil
}

// unary is the unary client interceptor: breaker, attempt timeout, retries.
func (o *Options) unary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	target := cc.Target()
	o.budget.Deposit()
	bo := o.s.policy.Backoff() // allocates only when a retry happens
	for attempt := 1; ; attempt++ {
		done, err := o.allow(target, opts)
		if err != nil {
			return err
		}
		c := newCall(ctx, o.h, false)
		var actx context.Context = c
		var cancel context.CancelFunc
		ours := false // the attempt's deadline is ours, not the caller's
		if o.s.AttemptTimeout > 0 {
			dl, ok := ctx.Deadline()
			ours = !ok || time.Until(dl) > o.s.AttemptTimeout
			actx, cancel = context.WithTimeout(c, o.s.AttemptTimeout)
		}
		err = invoker(actx, method, req, reply, cc, opts...)
		timedOut := false
		if cancel != nil {
			// The server may report the deadline (grpc-timeout) a moment
			// before our timer fires.
			timedOut = ours && err != nil && ctx.Err() == nil &&
				(errors.Is(actx.Err(), context.DeadlineExceeded) || status.Code(err) == codes.DeadlineExceeded)
			cancel()
		}
		kind := classify(ctx, err, c, timedOut)
		if timedOut {
			err = status.Errorf(codes.DeadlineExceeded, "herz/grpcconn: %s: no answer within the attempt timeout of %v: %v", method, o.s.AttemptTimeout, status.Convert(err).Message())
		}
		o.report(done, target, c, kind, err)
		r, ok := o.retryable(kind, method, attempt)
		if !ok || !o.wait(ctx, target, r, &bo) {
			return err
		}
	}
}

// stream is the stream client interceptor: breaker at stream start, and
// retries of a stream that could not be started. A started stream is never
// retried or cut by herz.
func (o *Options) stream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	target := cc.Target()
	o.budget.Deposit()
	bo := o.s.policy.Backoff() // allocates only when a retry happens
	for attempt := 1; ; attempt++ {
		done, err := o.allow(target, opts)
		if err != nil {
			return nil, err
		}
		c := newCall(ctx, o.h, true)
		cs, err := streamer(c, desc, cc, method, opts...)
		if err == nil {
			if done != nil {
				done(nil) // the stream reached a server
			}
			return cs, nil
		}
		kind := classify(ctx, err, c, false)
		o.report(done, target, c, kind, err)
		// Only a stream that never existed on a connection is retried: once
		// it did, its headers may have started a handler.
		if kind != kindNotSent || attempt > o.s.maxRetries || !o.wait(ctx, target, reasonStreamNotStarted, &bo) {
			return nil, err
		}
	}
}

// OpenError is returned while a target's breaker is open. It is a gRPC
// status error with codes.Unavailable naming the target, and it wraps
// [breaker.ErrOpen].
type OpenError struct {
	// Target is the ClientConn's target.
	Target string
	// Err is the breaker's error (a *breaker.OpenError).
	Err error
}

// Error implements error.
func (e *OpenError) Error() string {
	return "herz/grpcconn: target " + e.Target + " is failing, call not attempted: " + e.Err.Error()
}

// Unwrap returns the breaker's error.
func (e *OpenError) Unwrap() error { return e.Err }

// GRPCStatus returns codes.Unavailable with the error's message, so that
// status.Code and status.FromError see it as a gRPC status.
func (e *OpenError) GRPCStatus() *status.Status { return status.New(codes.Unavailable, e.Error()) }

// lendForLife marks a gRPC transport's connection as multiplexed: lent for
// its whole life, never closed by herz for its age or idleness.
func lendForLife(c *dialer.Conn) { c.LendForLife() }
