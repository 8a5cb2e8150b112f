package dialer

import (
	"context"
	"errors"
	"net"
	"os"
	"syscall"

	"github.com/herz-go/herz/breaker"
)

// ErrStale is wrapped by the error a [Conn] returns when it refuses a write
// because the connection is stale (see [Config.RefuseStaleWrites]). Nothing was
// written: the caller may safely re-send on a fresh connection.
var ErrStale = errors.New("herz/dialer: connection is stale, refused before writing")

// ErrClosed is returned by a closed [Dialer].
var ErrClosed = errors.New("herz/dialer: dialer closed")

// StaleError reports why a connection was refused for reuse. It wraps [ErrStale].
type StaleError struct {
	// Reason is the eviction reason (learned_idle, lifetime, idle, probe_eof, probe_rst, probe_data).
	Reason Reason
	// Peer is the address the connection was dialed to.
	Peer string
}

// Error implements error.
func (e *StaleError) Error() string {
	return "herz/dialer: connection to " + e.Peer + " is stale (" + e.Reason.String() + "), refused before writing"
}

// Unwrap returns [ErrStale].
func (e *StaleError) Unwrap() error { return ErrStale }

// Temporary reports true: a fresh connection is expected to work.
func (e *StaleError) Temporary() bool { return true }

// Timeout reports false.
func (e *StaleError) Timeout() bool { return false }

// VerifyError reports a connect that the kernel accepted but that failed
// herz's verification. It is retryable: a new connect may succeed.
type VerifyError struct {
	// Addr is the address dialed.
	Addr string
	// Check is the failed check: "so_error", "getpeername" or "self_connect".
	Check string
	// Err is what the check found (nil for self_connect).
	Err error
}

// Error implements error.
func (e *VerifyError) Error() string {
	msg := "herz/dialer: connection to " + e.Addr + " failed verification: " + e.Check
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the underlying error.
func (e *VerifyError) Unwrap() error { return e.Err }

// DialError is returned by [Dialer.DialContext] when herz itself decided
// that no connection is handed out: the connect succeeded but failed
// verification (Kind "verify" or "self_connect", wrapping a [*VerifyError]),
// the address's breaker is open (Kind "breaker_open", wrapping
// [breaker.ErrOpen]), or the socket could not be set up. Failures herz did not
// decide — refused, timed out, unreachable, DNS — are returned as net.Dialer
// returns them (a *net.OpError), not as a DialError. It implements net.Error
// and wraps the last attempt's error.
type DialError struct {
	// Addr is the address dialed.
	Addr string
	// Kind classifies the failure: refused, reset, timeout, verify, self_connect,
	// dns, unreachable, breaker_open, canceled or other.
	Kind string
	// Attempts is the number of connect attempts made.
	Attempts int
	// Err is the last attempt's error.
	Err error
}

// Error implements error.
func (e *DialError) Error() string {
	msg := "herz/dialer: dial " + e.Addr + ": " + e.Kind
	if e.Attempts > 1 {
		msg += " after " + itoa(e.Attempts) + " attempts"
	}
	return msg + ": " + e.Err.Error()
}

// Unwrap returns the last attempt's error.
func (e *DialError) Unwrap() error { return e.Err }

// Timeout reports whether the dial failed on a timeout.
func (e *DialError) Timeout() bool {
	var ne net.Error
	return errors.As(e.Err, &ne) && ne.Timeout()
}

// Temporary reports whether the failure is likely transient.
func (e *DialError) Temporary() bool { return retryable(e.Err) }

// FailedConnect reports whether err, returned by [Dialer.DialContext] (or
// wrapped by a caller such as net/http), is a connect that never produced a
// connection: a *net.OpError with Op "dial", a [*DialError] or [ErrClosed].
// Nothing was sent to the peer, so re-sending a request is safe.
func FailedConnect(err error) bool {
	if err == nil {
		return false
	}
	var de *DialError
	var oe *net.OpError
	switch {
	case errors.As(err, &de), errors.Is(err, ErrClosed):
		return true
	case errors.As(err, &oe):
		return oe.Op == "dial"
	}
	return false
}

// RefusedConnect reports whether err is a [FailedConnect] the peer refused
// (ECONNREFUSED: nothing listens, a stopped or restarting server).
func RefusedConnect(err error) bool {
	return FailedConnect(err) && errors.Is(err, syscall.ECONNREFUSED)
}

// RetryableConnect reports whether err is a [FailedConnect] worth trying
// again soon on the same address: refused (nothing listens yet, a restart),
// reset during the handshake, a verification failure, ephemeral ports
// momentarily exhausted or a temporary resolver failure. Timeouts and
// unreachable hosts are not: the attempt already spent the caller's time,
// and the next one would spend it again.
func RetryableConnect(err error) bool {
	return FailedConnect(err) && !errors.Is(err, breaker.ErrOpen) && !errors.Is(err, ErrClosed) && retryable(err)
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

// kindOf names a dial failure for errors and metrics.
func kindOf(err error) string {
	var ve *VerifyError
	var de *net.DNSError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &ve):
		if ve.Check == "self_connect" {
			return "self_connect"
		}
		return "verify"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNABORTED):
		return "reset"
	case errors.As(err, &de):
		return "dns"
	case errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EHOSTUNREACH):
		return "unreachable"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded), isTimeout(err):
		return "timeout"
	}
	return "other"
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// retryable reports whether a failed connect attempt is safe and useful to
// retry on the same address. Nothing was sent on a connection that never
// connected, so safety is a given; the question is whether retrying can help.
func retryable(err error) bool {
	var ve *VerifyError
	var de *net.DNSError
	switch {
	case errors.As(err, &ve):
		// The kernel handed us a socket that was already dead or connected to
		// itself (ephemeral port == target port): a new connect picks a new port.
		return true
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return false // the caller gave up
	case errors.Is(err, syscall.ECONNREFUSED):
		// Nothing listens yet: a restarting server comes back within the backoff.
		return true
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNABORTED):
		// Reset during the handshake: an overloaded accept queue or a LB shuffling backends.
		return true
	case errors.Is(err, syscall.EADDRNOTAVAIL), errors.Is(err, syscall.EAGAIN):
		// Ephemeral ports momentarily exhausted (TIME_WAIT pile-up).
		return true
	case errors.As(err, &de):
		// A resolver that timed out already spent the caller's time.
		return de.IsTemporary && !de.IsTimeout
	}
	return false // conservatively: timeouts and unknown errors already spent the caller's time
}
