package breaker_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/herz-go/herz/breaker"
)

// codeError stands for an error that classifies itself, as grpcconn's
// status errors do.
type codeError struct{ outcome breaker.Outcome }

func (e codeError) Error() string                   { return "code error" }
func (e codeError) BreakerOutcome() breaker.Outcome { return e.outcome }

func TestDefaultClassifier(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	tests := []struct {
		name string
		err  error
		want breaker.Outcome
	}{
		{"nil is a success", nil, breaker.Success},
		{"context.Canceled is ignored", context.Canceled, breaker.Ignore},
		{"wrapped context.Canceled is ignored", fmt.Errorf("dial: %w", context.Canceled), breaker.Ignore},
		{"context.DeadlineExceeded is a failure", context.DeadlineExceeded, breaker.Failure},
		{"connection refused is a failure", refused, breaker.Failure},
		{"EOF is a failure", io.EOF, breaker.Failure},
		{"status 500 is a failure", &breaker.StatusError{Code: 500}, breaker.Failure},
		{"status 503 is a failure", &breaker.StatusError{Code: 503}, breaker.Failure},
		{"status 429 is a failure", &breaker.StatusError{Code: 429}, breaker.Failure},
		{"wrapped status 502 is a failure", fmt.Errorf("get: %w", &breaker.StatusError{Code: 502}), breaker.Failure},
		{"status 404 is a success", &breaker.StatusError{Code: 404}, breaker.Success},
		{"status 400 is a success", &breaker.StatusError{Code: 400}, breaker.Success},
		{"status 200 is a success", &breaker.StatusError{Code: 200}, breaker.Success},
		{"self-classifying error decides: ignore", codeError{breaker.Ignore}, breaker.Ignore},
		{"self-classifying error decides: success", fmt.Errorf("rpc: %w", codeError{breaker.Success}), breaker.Success},
		{"self-classifying error decides: failure", codeError{breaker.Failure}, breaker.Failure},
		{"self-classifying error wins over Canceled", errors.Join(context.Canceled, codeError{breaker.Failure}), breaker.Failure},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := breaker.DefaultClassifier(tc.err); got != tc.want {
				t.Fatalf("DefaultClassifier(%v) = %v; want %v", tc.err, got, tc.want)
			}
		})
	}
}

func TestStateAndOutcomeStrings(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{breaker.StateClosed.String(), "closed"},
		{breaker.StateHalfOpen.String(), "half-open"},
		{breaker.StateOpen.String(), "open"},
		{breaker.State(7).String(), "State(7)"},
		{breaker.Success.String(), "success"},
		{breaker.Failure.String(), "failure"},
		{breaker.Ignore.String(), "ignore"},
		{breaker.Outcome(9).String(), "Outcome(9)"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			if tc.got != tc.want {
				t.Fatalf("got %q; want %q", tc.got, tc.want)
			}
		})
	}
}

func TestErrorMessages(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"open", &breaker.OpenError{Key: "127.0.0.1:8080", State: breaker.StateOpen, RetryIn: 1234 * 1e6}, "herz/breaker: circuit open for 127.0.0.1:8080"},
		{"open below a second", &breaker.OpenError{Key: "db:5432", State: breaker.StateOpen, RetryIn: 250400 * 1e3}, "herz/breaker: circuit open for db:5432"},
		{"half-open", &breaker.OpenError{Key: "db:5432", State: breaker.StateHalfOpen}, "herz/breaker: circuit open for db:5432 (half-open, probes in flight)"},
		{"status", &breaker.StatusError{Code: 503}, "herz/breaker: status 503"},
		{"sentinel", breaker.ErrOpen, "herz/breaker: circuit open"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.err.Error(); got != tc.want {
				t.Fatalf("Error() = %q; want %q", got, tc.want)
			}
		})
	}
	if !errors.Is(&breaker.OpenError{}, breaker.ErrOpen) {
		t.Fatal("OpenError does not wrap ErrOpen")
	}
}
