package breaker

import (
	"context"
	"errors"
	"fmt"
)

// State is the state of one key's breaker.
type State int

// The states of a breaker. The zero value is StateClosed.
const (
	// StateClosed lets every call through and counts the results.
	StateClosed State = iota
	// StateHalfOpen lets Config.HalfOpenProbes calls through to test the peer.
	StateHalfOpen
	// StateOpen rejects every call until the open interval has passed.
	StateOpen
)

// String returns "closed", "half-open" or "open".
func (s State) String() string {
	switch s {
	case StateClosed:
		return "closed"
	case StateHalfOpen:
		return "half-open"
	case StateOpen:
		return "open"
	default:
		return fmt.Sprintf("State(%d)", int(s))
	}
}

// Outcome is how a call's result counts for its breaker.
type Outcome int

// The outcomes a [Classifier] returns.
const (
	// Success counts as a success: it ends a run of consecutive failures
	// and, in half-open, counts toward closing the breaker.
	Success Outcome = iota
	// Failure counts as a failure toward tripping the breaker; in
	// half-open it opens the breaker again.
	Failure
	// Ignore counts neither way, as if the call had not been made; in
	// half-open it frees the probe slot. Use it for results that say
	// nothing about the peer, such as the caller's own context.Canceled.
	Ignore
)

// String returns "success", "failure" or "ignore".
func (o Outcome) String() string {
	switch o {
	case Success:
		return "success"
	case Failure:
		return "failure"
	case Ignore:
		return "ignore"
	default:
		return fmt.Sprintf("Outcome(%d)", int(o))
	}
}

// Classifier maps the error a call returned (nil for success) to its
// [Outcome]. It is called once per done call, outside any lock, and must be
// safe for concurrent use. A value other than Success, Failure or Ignore
// counts as a Failure.
type Classifier func(err error) Outcome

// outcomer is implemented by errors that know how they count, such as
// grpcconn's status errors; it keeps grpc out of this package.
type outcomer interface {
	error
	BreakerOutcome() Outcome
}

// DefaultClassifier is the [Classifier] used when Config.Classify is nil.
// In order, the first rule that matches decides:
//
//   - nil is a Success;
//   - an error in the chain implementing interface{ BreakerOutcome() Outcome }
//     decides for itself (grpcconn maps gRPC codes this way);
//   - a [*StatusError] in the chain is a Failure for 5xx and 429 and a
//     Success for every other code (a 404 says the peer is up);
//   - context.Canceled in the chain is Ignore: the caller gave up, which
//     says nothing about the peer;
//   - anything else is a Failure: connection errors, resets, timeouts,
//     including context.DeadlineExceeded (a peer too slow for the caller's
//     deadline is failing it).
func DefaultClassifier(err error) Outcome {
	if err == nil {
		return Success
	}
	if o, ok := errors.AsType[outcomer](err); ok {
		return o.BreakerOutcome()
	}
	if se, ok := errors.AsType[*StatusError](err); ok {
		if se.Code >= 500 || se.Code == 429 {
			return Failure
		}
		return Success
	}
	if errors.Is(err, context.Canceled) {
		return Ignore
	}
	return Failure
}
