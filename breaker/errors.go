package breaker

import (
	"errors"
	"strconv"
	"time"
)

// ErrOpen is wrapped by every error a Registry returns when it rejects a
// call; test for it with errors.Is.
var ErrOpen = errors.New("herz/breaker: circuit open")

// OpenError is returned by [Registry.Allow] when the breaker for Key rejects
// a call. It wraps [ErrOpen].
type OpenError struct {
	// Key is the key passed to Allow.
	Key string
	// State is StateOpen while the open interval lasts, or StateHalfOpen
	// when the breaker is half-open and all its probe slots are taken.
	State State
	// RetryIn is how long the open interval still lasts; zero for
	// StateHalfOpen, where it depends on the probes in flight. It is not
	// part of the message (see Error).
	RetryIn time.Duration
}

var _ error = (*OpenError)(nil)

// Error returns a stable message naming the key: "herz/breaker: circuit
// open for 127.0.0.1:8080", with " (half-open, probes in flight)" appended
// in StateHalfOpen. The varying details are in the fields, so that one key's
// rejections log as one distinct string.
func (e *OpenError) Error() string {
	msg := ErrOpen.Error() + " for " + e.Key
	if e.State == StateHalfOpen {
		return msg + " (half-open, probes in flight)"
	}
	return msg
}

// Unwrap returns [ErrOpen].
func (e *OpenError) Unwrap() error { return ErrOpen }

// StatusError carries a response status code (HTTP semantics) to a
// [Classifier]: [DefaultClassifier] counts 5xx and 429 as failures and every
// other code as a success. Adapters return it, wrapped or not, from the
// call they report to done.
type StatusError struct {
	// Code is the status code, such as 503.
	Code int
}

var _ error = (*StatusError)(nil)

// Error returns "herz/breaker: status <Code>".
func (e *StatusError) Error() string {
	return "herz/breaker: status " + strconv.Itoa(e.Code)
}
