package transport

import (
	"crypto/tls"
	"errors"
	"net/http"
	"strings"

	"github.com/herz-go/herz/breaker"
	"github.com/herz-go/herz/dialer"
)

// reason says why a retry was safe. It is the herz.reason attribute of the
// herz.retries metric and a key of [Stats.Retries].
type reason uint8

const (
	reasonStale           reason = iota // the dialer refused a stale conn before writing a byte
	reasonConnect                       // no connection was made: nothing was sent
	reasonRefusedStream                 // HTTP/2 REFUSED_STREAM: not processed (RFC 9113 §8.7)
	reasonGoAway                        // HTTP/2 GOAWAY above the stream: not processed (§6.8)
	reasonAttemptTimeout                // idempotent request whose attempt timed out
	reasonIdempotentError               // idempotent request, any other transport error
	reasonStatus502
	reasonStatus503
	reasonStatus504
	reasonStatus429
	reasonStatusOther // a status Config.Retry.RetryStatus chose
	numReasons
)

var reasonNames = [numReasons]string{
	"stale_conn", "connect_failure", "refused_stream", "goaway", "attempt_timeout",
	"idempotent_error", "status_502", "status_503", "status_504", "status_429", "status_other",
}

// String returns the metric name of r.
func (r reason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return "unknown"
}

// goAwayMessage is the text of net/http's unexported
// http2errClientConnGotGoAway, the error of streams above a GOAWAY's last
// stream ID. It has no exported identity; HTTP/2 retries it by itself, so it
// reaches herz only when those retries ran out.
const goAwayMessage = "http2: Transport received Server's graceful shutdown GOAWAY"

// refusedStream reports whether err is an HTTP/2 RST_STREAM with
// REFUSED_STREAM: net/http's http2StreamError is unexported, so it is told
// by its text, "stream error: stream ID N; REFUSED_STREAM" (with "; cause"
// when it has one).
func refusedStream(err error) bool {
	for ; err != nil; err = errors.Unwrap(err) {
		msg := err.Error()
		if rest, ok := strings.CutPrefix(msg, "stream error: stream ID "); ok {
			_, code, _ := strings.Cut(rest, "; ")
			code, _, _ = strings.Cut(code, ";")
			return code == "REFUSED_STREAM"
		}
	}
	return false
}

// retryable is the retry-safety ladder, in the spirit of net/http's
// persistConn.shouldRetryRequest: given the attempt number (1 for the first
// attempt) and its result (a response or an error), it says whether req may
// be sent again and why that is safe. The first rule that matches decides.
// req is the caller's request (its context, body and headers); maxRetries
// is the number of retries it may have (0 under WithoutRetries).
func (t *Transport) retryable(req *http.Request, resp *http.Response, err error, attempt, maxRetries int) (reason, bool) {
	switch {
	case attempt > maxRetries:
		// Out of attempts (Config.Retry.MaxRetries; NoRetries and
		// WithoutRetries give 0).
		return 0, false
	case callerGaveUp(req):
		// The caller canceled or its deadline passed: nobody waits for a
		// retry, and context.Canceled says nothing about the server.
		return 0, false
	case req.Body != nil && req.Body != http.NoBody && req.GetBody == nil:
		// The body was consumed (and closed, as RoundTrip must) and cannot be
		// replayed; net/http's HTTP/1 and HTTP/2 refuse the same way
		// (golang/go#19653: "define Request.GetBody to avoid this error").
		return 0, false
	}

	if err == nil {
		switch {
		case !isIdempotent(req):
			// A response means the server saw the request. A 503 to a POST may
			// still have had side effects: the caller gets the response as it
			// is (P10: no duplicate executions, ever). The RetryStatus hook
			// is asked only below this line: it cannot make it retryable.
			return 0, false
		case t.s.Retry.RetryStatus != nil:
			// The user's status policy, for a request safe to re-send.
			if !t.s.Retry.RetryStatus(resp) {
				return 0, false
			}
			return statusReason(resp.StatusCode), true
		case resp.StatusCode == http.StatusBadGateway:
			// A proxy or load balancer could not reach the upstream.
			return reasonStatus502, true
		case resp.StatusCode == http.StatusServiceUnavailable:
			// Overloaded, restarting or draining; Retry-After says when to come back.
			return reasonStatus503, true
		case resp.StatusCode == http.StatusGatewayTimeout:
			// A proxy timed out waiting for the upstream.
			return reasonStatus504, true
		case resp.StatusCode == http.StatusTooManyRequests:
			// Rate limited; Retry-After says when to come back.
			return reasonStatus429, true
		}
		return 0, false // every other status is the server's answer
	}

	var (
		certErr *tls.CertificateVerificationError
		timeout *AttemptTimeoutError
	)
	switch {
	case errors.Is(err, ErrClosed), errors.Is(err, dialer.ErrClosed):
		// The Transport (or its dialer) was closed: permanent.
		return 0, false
	case errors.Is(err, breaker.ErrOpen):
		// An open breaker (ours or the dialer's per-address one) must fail
		// fast: retrying would wait for nothing and hammer a failing host.
		return 0, false
	case errors.Is(err, dialer.ErrStale):
		// Proof that nothing of this request reached the socket: the
		// dialer refuses only the first write after a conn was handed out
		// of the idle pool (LendRefusingStale, armed only for requests
		// that can be re-sent) or a write to a conn herz closed while it
		// was idle — never a write in the middle of a request, since herz
		// never touches a lent conn. net/http re-sends these itself
		// (nothingWrittenError); one reaches us only when it could not.
		// The body can be replayed (checked above), so even a POST is safe.
		return reasonStale, true
	case errors.As(err, &certErr):
		// The server's certificate was rejected: a fresh connection gets the
		// same certificate. Not a transient failure.
		return 0, false
	case dialer.FailedConnect(err):
		// No connection was made (refused, reset in the handshake, failed
		// verification, DNS): nothing was sent, so even a POST is safe. The
		// dialer already retried the connect; this retry covers a peer that
		// restarts on the same port.
		return reasonConnect, true
	case refusedStream(err):
		// RFC 9113 §8.7: REFUSED_STREAM guarantees the stream was not
		// processed. HTTP/2 retries it up to 6 times; we see it when it gave up
		// or could not rewind the body.
		return reasonRefusedStream, true
	case err.Error() == goAwayMessage:
		// RFC 9113 §6.8: streams above a GOAWAY's last stream ID were not
		// processed. (A GoAwayError is a stream at or below it: handled as
		// an ordinary error below.)
		return reasonGoAway, true
	case !isIdempotent(req):
		// Bytes of a non-idempotent request may have reached the server (a
		// reset, EOF or timeout after the write): re-sending could run it twice.
		return 0, false
	case errors.As(err, &timeout):
		// Our per-attempt timer fired: the request may have run, but
		// running an idempotent request twice is harmless by definition.
		return reasonAttemptTimeout, true
	default:
		// Any other transport error of an idempotent request (reset, EOF,
		// HTTP/2 GoAwayError or PING timeout): safe to send again (RFC 9110
		// §9.2.2). net/http already re-sent it once on a reused connection
		// when it could (transportReadFromServerError, errServerClosedIdle).
		return reasonIdempotentError, true
	}
}

// statusReason returns the retry reason of a response with status code.
func statusReason(code int) reason {
	switch code {
	case http.StatusBadGateway:
		return reasonStatus502
	case http.StatusServiceUnavailable:
		return reasonStatus503
	case http.StatusGatewayTimeout:
		return reasonStatus504
	case http.StatusTooManyRequests:
		return reasonStatus429
	}
	return reasonStatusOther
}

// isIdempotent reports whether running req twice has the effect of running
// it once: the idempotent methods of RFC 9110 §9.2.2, or a request carrying
// an Idempotency-Key or X-Idempotency-Key header (even an empty one, as
// net/http's isReplayable; golang/go#19943).
func isIdempotent(req *http.Request) bool {
	switch req.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	return hasIdempotencyKey(req)
}

// hasIdempotencyKey reports whether r carries an Idempotency-Key or
// X-Idempotency-Key header: the caller vouches that re-sending it is safe.
func hasIdempotencyKey(r *http.Request) bool {
	if _, ok := r.Header["Idempotency-Key"]; ok {
		return true
	}
	_, ok := r.Header["X-Idempotency-Key"]
	return ok
}

// callerGaveUp reports whether the caller canceled req or its deadline
// passed: through the context, or through the deprecated Request.Cancel
// channel, which http.Client closes when its Timeout fires for a
// RoundTripper it does not know (a moment before or after the context ends).
func callerGaveUp(req *http.Request) bool {
	if req.Context().Err() != nil {
		return true
	}
	if req.Cancel != nil {
		select {
		case <-req.Cancel:
			return true
		default:
		}
	}
	return false
}
