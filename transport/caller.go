package transport

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"reflect"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/herz-go/herz/breaker"
	"github.com/herz-go/herz/dialer"
)

// What callers observe is net/http's: this file holds the rules that keep
// herz's decisions out of a caller's sight.
//
//   - A request net/http would refuse (nil URL or Header, an unsupported
//     scheme, an invalid method, header or trailer, no host) is handed to
//     net/http's Transport untouched, which refuses it with its own error
//     value and closes the body, before herz dials, retries or counts
//     anything (wellFormed).
//   - Errors are net/http's: a connect failure reaches the caller as the
//     error net.Dialer would have returned (the *net.OpError or
//     *net.DNSError inside the dialer's *dialer.DialError); herz's reasons
//     go to Stats, OnRetry and the metrics (callerError).
//   - Only failures the peer caused count for the host's breaker and
//     health (peerCaused): never the caller's input, its body source, DNS
//     answers, a refused connect or its cancellation.

// connectError marks a failure of a connect herz made for a request (its
// dialContext): nothing of the request was written. net/http hands a
// DialContext error back as it is (wrapped in a "proxyconnect"
// *net.OpError when proxied), so herz can tell its connects apart from
// whatever the dialer's error type is.
type connectError struct{ err error }

func (e *connectError) Error() string { return e.err.Error() }
func (e *connectError) Unwrap() error { return e.err }

// Timeout reports whether the connect timed out (net.Error).
func (e *connectError) Timeout() bool {
	var ne net.Error
	return errors.As(e.err, &ne) && ne.Timeout()
}

// Temporary implements net.Error (deprecated there; kept for callers that ask).
func (e *connectError) Temporary() bool {
	type temporary interface{ Temporary() bool }
	var te temporary
	return errors.As(e.err, &te) && te.Temporary()
}

// callerError returns err as net/http would have returned it: herz's
// connect wrappers are removed, so that the caller finds the
// *net.OpError (or *net.DNSError) net.Dialer gave, by type assertion on
// *url.Error's Err as with net/http. Errors herz decided itself (an open
// breaker, the transport closed, an attempt timeout) stay as they are.
func callerError(err error) error {
	switch e := err.(type) {
	case nil:
		return nil
	case *connectError:
		return dialCause(e.err)
	case *net.OpError:
		// net/http's wrapping of a proxy's connect failure.
		if ce, ok := e.Err.(*connectError); ok {
			cp := *e
			cp.Err = dialCause(ce.err)
			return &cp
		}
	case *AttemptTimeoutError:
		if inner := callerError(e.Err); inner != e.Err {
			return &AttemptTimeoutError{Limit: e.Limit, Err: inner}
		}
	}
	return err
}

// dialCause returns the error net.Dialer gave inside the dialer's
// *dialer.DialError: herz's dial retries, verification and kinds are in
// the dialer's Stats and metrics. A DialError herz decided (its breaker
// was open) stays whole.
func dialCause(err error) error {
	if de, ok := err.(*dialer.DialError); ok && de.Err != nil && !errors.Is(de.Err, breaker.ErrOpen) {
		return de.Err
	}
	return err
}

// isConnectError reports whether err is the failure of a connect herz made
// for the request: no connection, so nothing of the request was sent.
func isConnectError(err error) bool {
	var ce *connectError
	return errors.As(err, &ce)
}

// dnsFailure reports whether err is a name resolution failure that a new
// attempt cannot fix: the resolver answered (NXDOMAIN, no addresses), or
// failed in a way it does not call temporary.
func dnsFailure(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && !de.IsTimeout && !de.IsTemporary
}

// isDNSError reports whether err came from name resolution.
func isDNSError(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de)
}

// headerTimeout reports whether err is net/http's ResponseHeaderTimeout
// (HTTP/1 and HTTP/2 texts; the errors are unexported): a bound the caller
// configured, which herz never extends by a retry.
func headerTimeout(err error) bool {
	for ; err != nil; err = errors.Unwrap(err) {
		switch err.Error() {
		case "net/http: timeout awaiting response headers", "http2: timeout awaiting response headers":
			return true
		}
	}
	return false
}

// peerCaused reports whether a failed attempt says something about the
// host, for its breaker and health: connect timeouts and resets, resets
// and EOFs on the connection, herz's attempt timeouts, TLS handshake
// failures, an HTTP/2 connection its PINGs found dead. Not: the caller's cancellation or deadline (checked before),
// its body source (bodyFailed), a DNS answer, a refused connect (it fails
// in microseconds by itself; an open breaker would only keep failing
// requests after a restarted server is back, where net/http would not), a
// closed transport or dialer, an open dial breaker, a certificate the
// caller's TLS config rejects, a ResponseHeaderTimeout the caller set (one
// slow path must not close the host's other paths), or anything else
// herz cannot attribute to the peer.
func peerCaused(err error, bodyFailed bool) bool {
	if err == nil || bodyFailed {
		return false
	}
	var (
		at      *AttemptTimeoutError
		certErr *tls.CertificateVerificationError
		dialErr *dialer.DialError
	)
	switch {
	case errors.As(err, &at):
		return true
	case errors.Is(err, ErrClosed), errors.Is(err, dialer.ErrClosed), errors.Is(err, breaker.ErrOpen),
		errors.Is(err, dialer.ErrStale), errors.As(err, &certErr), isDNSError(err), headerTimeout(err):
		return false
	case errors.As(err, &dialErr) && dialErr.Kind == "refused", errors.Is(err, syscall.ECONNREFUSED):
		return false
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		// A context herz did not end (that is an AttemptTimeoutError) and
		// the caller did not either: not the peer's doing.
		return false
	case isConnectError(err):
		return true // timeouts, resets, unreachable, failed verification
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || h2ConnLost(err) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNABORTED) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// h2ConnLost reports whether err is HTTP/2's "client connection lost"
// (unexported): its PING health check found the connection dead.
func h2ConnLost(err error) bool {
	for ; err != nil; err = errors.Unwrap(err) {
		if err.Error() == "http2: client connection lost" {
			return true
		}
	}
	return false
}

// wellFormed reports whether net/http's Transport would send r rather
// than refuse it at once (Transport.roundTrip's checks, in its order).
func wellFormed(r *http.Request) bool {
	if r.URL == nil || r.Header == nil {
		return false
	}
	if s := r.URL.Scheme; s != "http" && s != "https" {
		return false
	}
	if !validHeaders(r.Header) || !validHeaders(r.Trailer) {
		return false
	}
	if r.Method != "" && !isToken(r.Method) {
		return false
	}
	return r.URL.Host != ""
}

// validHeaders is net/http's validateHeaders (httpguts's field name and
// value rules).
func validHeaders(h http.Header) bool {
	for k, vv := range h {
		if !isToken(k) {
			return false
		}
		for _, v := range vv {
			for i := 0; i < len(v); i++ {
				if b := v[i]; (b < ' ' && b != '\t') || b == 0x7f {
					return false // a control character: CR, LF, NUL...
				}
			}
		}
	}
	return true
}

// isToken reports whether s is a non-empty RFC 9110 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// sourceBody is a request body whose Read errors are noted: an upload whose
// source failed on the client is the caller's failure, never the host's,
// and is not re-sent. Read and the check may run on different goroutines.
type sourceBody struct {
	io.ReadCloser
	failed atomic.Bool
}

func (b *sourceBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		b.failed.Store(true)
	}
	return n, err
}

// watchBody returns r with its body wrapped in a sourceBody, or r itself
// (and nil) when it has no body or an in-memory one that cannot fail
// (wrapping those would make net/http flush the headers separately).
func watchBody(r *http.Request) (*http.Request, *sourceBody) {
	if r.Body == nil || r.Body == http.NoBody || inMemory(r.Body) {
		return r, nil
	}
	sb := &sourceBody{ReadCloser: r.Body}
	c := *r
	c.Body = sb
	return &c, sb
}

var (
	nopCloserType         = reflect.TypeOf(io.NopCloser(nil))
	nopCloserWriterToType = reflect.TypeOf(io.NopCloser(struct {
		io.Reader
		io.WriterTo
	}{}))
)

// inMemory is net/http's isKnownInMemoryReader: the bodies http.NewRequest
// makes from a *bytes.Reader, *bytes.Buffer or *strings.Reader.
func inMemory(r io.Reader) bool {
	switch r.(type) {
	case *bytes.Reader, *bytes.Buffer, *strings.Reader:
		return true
	}
	if t := reflect.TypeOf(r); t == nopCloserType || t == nopCloserWriterToType {
		return inMemory(reflect.ValueOf(r).Field(0).Interface().(io.Reader))
	}
	return false
}

// deadlineBody is the response body of a request http.Client timed out
// through Request.Cancel (it does so, beside the context deadline, for
// RoundTrippers it does not know): net/http's transport turns the closed
// channel into "net/http: request canceled", where with net/http's own
// Transport the caller reads the context's "context deadline exceeded".
// The body gives the latter once the deadline has passed, after letting
// http.Client's timer mark its timeout (see awaitClientTimeout), so that
// the caller reads net/http's "(Client.Timeout or context cancellation
// while reading body)".
type deadlineBody struct {
	io.ReadCloser
	deadline time.Time
	cancel   <-chan struct{}
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF && !time.Now().Before(b.deadline) {
		awaitClientTimeout(b.cancel)
		err = deadlineCause(err, b.deadline)
	}
	return n, err
}

// deadlineCause returns context.DeadlineExceeded for net/http's "request
// canceled" once deadline has passed: the cancel was http.Client's
// timeout, which net/http reports so for its own Transport.
func deadlineCause(err error, deadline time.Time) error {
	if !deadline.IsZero() && !time.Now().Before(deadline) && err.Error() == "net/http: request canceled" {
		return context.DeadlineExceeded
	}
	return err
}
