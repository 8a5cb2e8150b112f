package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/herz-go/herz/adaptive"
	"github.com/herz-go/herz/breaker"
	"github.com/herz-go/herz/dialer"
	"github.com/herz-go/herz/internal/retry"
	"github.com/herz-go/herz/internal/telemetry"
)

// component is the herz.component metric attribute of this package's retries.
const component = "transport"

// maxDrain bounds how much of a discarded response body is read so that its
// connection can be reused; a longer body is closed (and its connection with it).
const maxDrain = 64 << 10

// Transport is an http.RoundTripper that does what http.DefaultTransport
// does, and more, for the http.Clients you build. It is safe for concurrent
// use; create it with [New] or [Must] and share it.
//
// Under the hood one *http.Transport dials through a herz [dialer.Dialer]
// with stale-write refusal on (HTTP/1.1) and speaks HTTP/2 over TLS with
// its bundled HTTP/2, PING health checks on (http.HTTP2Config); with
// Config.H2C a second one speaks h2c. Plain HTTP/1.1 requests use herz's
// own pool of http.ClientConns made by the same transport (see the package
// doc). In front of them sit a per-host breaker, safe retries and a retry
// budget.
//
// The bundled HTTP/2 rather than golang.org/x/net/http2's copy of it: since
// Go 1.24 http.HTTP2Config configures its health checks, which was the
// reason to take x/net, and x/net's copy costs a request one allocation
// more and some throughput (BenchmarkKeepAliveGET).
type Transport struct {
	s         settings // frozen copy of the Config with defaults
	t1        *http.Transport
	p1        *pool1          // plain HTTP/1.1 requests (see pool1.go)
	direct    *http.Transport // t1 without Proxy: dials p1's conns (NewClientConn)
	h2c       *http.Transport // nil unless Config.H2C
	d         *dialer.Dialer
	breakers  *breaker.Registry // nil when disabled
	budget    *retry.Budget
	rec       *telemetry.Recorder
	http      *telemetry.HTTPRecorder
	unregOpen func() error // the http.client.open_connections callback
	unreg     func() error

	closeOnce sync.Once
	closed    atomic.Bool

	// Cumulative counters for Stats (atomics: the request path bumps them).
	retries  [numReasons]atomic.Uint64
	refused  atomic.Uint64
	rejected atomic.Uint64 // requests the request breaker rejected
	inFlight atomic.Int64  // RoundTrip calls not returned yet
	waits    waitStats
}

var _ http.RoundTripper = (*Transport)(nil)

// New returns a Transport for cfg. An invalid field gives an error naming it.
func New(cfg Config) (*Transport, error) {
	s, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if s.Dialer.Learner == nil {
		if s.Dialer.Learner, err = adaptive.NewLearner(adaptive.LearnerConfig{MinSamples: 1}); err != nil {
			return nil, fmt.Errorf("herz/transport: learner: %w", err)
		}
	}
	t := &Transport{s: s}
	if t.budget, err = retry.NewBudget(s.Budget.budgetConfig()); err != nil {
		return nil, fieldError("Budget", err)
	}
	if t.rec, err = telemetry.New(s.MeterProvider); err != nil {
		return nil, fmt.Errorf("herz/transport: telemetry: %w", err)
	}
	if t.http, err = telemetry.NewHTTP(s.MeterProvider); err != nil {
		return nil, fmt.Errorf("herz/transport: telemetry: %w", err)
	}
	if !s.DisableBreaker {
		bc := s.Breaker
		user := bc.OnStateChange
		rec := t.rec
		bc.OnStateChange = func(key string, from, to breaker.State) {
			rec.BreakerTransition(context.Background(), "transport", key, from.String(), to.String())
			if user != nil {
				user(key, from, to)
			}
		}
		if t.breakers, err = breaker.New(bc); err != nil {
			return nil, fmt.Errorf("herz/transport: Config.Breaker: %w", err)
		}
	}
	dc := s.Dialer
	userClose, hrec := dc.OnClose, t.http
	dc.OnClose = func(peer string, open time.Duration) {
		hrec.ConnectionClosed(context.Background(), peer, open) // http.client.connection.duration
		if userClose != nil {
			userClose(peer, open)
		}
	}
	if t.d, err = dialer.New(dc); err != nil {
		// Name the field as the user wrote it: Config.Dialer.LifetimeJitter.
		if msg, ok := strings.CutPrefix(err.Error(), "herz/dialer: Config."); ok {
			return nil, errors.New("herz/transport: Config.Dialer." + msg)
		}
		return nil, fmt.Errorf("herz/transport: Config.Dialer: %w", err)
	}
	t.p1 = newPool1(t)
	if err = t.buildTransports(); err != nil {
		t.d.Close()
		return nil, err
	}
	t.unregOpen, err = t.http.ObserveOpenConnections(func(observe func(peer string, active, idle int64)) {
		t.d.ObservePeers(func(peer string, open, idle int64) { observe(peer, open-idle, idle) })
	})
	if err != nil {
		t.d.Close()
		return nil, fmt.Errorf("herz/transport: telemetry: %w", err)
	}
	if t.breakers != nil {
		reg := t.breakers
		t.unreg, err = t.rec.ObserveBreakers("transport", func(observe func(key string, state int64)) {
			for k, st := range reg.States() {
				observe(k, int64(st))
			}
		})
		if err != nil {
			t.unregOpen()
			t.d.Close()
			return nil, fmt.Errorf("herz/transport: telemetry: %w", err)
		}
	}
	return t, nil
}

// Must is like [New] but panics on an invalid Config, so that a program can
// write
//
//	client := &http.Client{Transport: transport.Must(transport.Config{})}
//
// (Assigning it to http.DefaultTransport makes libraries that assert
// http.DefaultTransport.(*http.Transport) panic; harden that one in place
// with [Harden].)
func Must(cfg Config) *Transport {
	t, err := New(cfg)
	if err != nil {
		panic(err)
	}
	return t
}

// buildTransports sets up the http.Transport (HTTP/1.1 and HTTP/2) and the
// h2c transport.
func (t *Transport) buildTransports() error {
	s := &t.s
	if s.Base != nil {
		t.t1 = t.baseTransport()
		lendH2ForLife(t.t1)
	} else {
		t.buildT1()
	}
	// NewClientConn asks Proxy with a stand-in request for "/" of the
	// host; herz's pool takes only requests that need no proxy, so its
	// conns are dialed by a copy that never asks.
	t.direct = t.t1.Clone()
	t.direct.Proxy = nil
	// herz's pool enforces MaxConnsPerHost itself; net/http's count (Go
	// 1.26) is decremented when a NewClientConn conn closes but was never
	// incremented for it: "connCount underflow" panic
	// (TestPoolMaxConnsPerHostWaitsCancellably).
	t.direct.MaxConnsPerHost = 0
	if s.H2C {
		h2c := new(http.Protocols)
		h2c.SetUnencryptedHTTP2(true) // and nothing else: http:// only, prior knowledge
		t.h2c = &http.Transport{
			Protocols: h2c,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				c, err := t.dial(ctx, network, addr)
				if err != nil {
					return nil, err
				}
				if dc, ok := dialer.ConnOf(c); ok {
					dc.LendForLife()
				}
				return c, nil
			},
			HTTP2:           t.h2Config(),
			IdleConnTimeout: s.IdleConnTimeout,
		}
	}
	return nil
}

// buildT1 sets up t1 from the Config's fields (no Config.Base).
func (t *Transport) buildT1() {
	s := &t.s
	t.t1 = &http.Transport{
		Proxy:                 t.proxyOf, // the attempt's answer of s.Proxy
		DialContext:           t.dialContext,
		TLSClientConfig:       s.TLSClientConfig.Clone(), // http2 appends to NextProtos: never the caller's
		TLSHandshakeTimeout:   s.TLSHandshakeTimeout,
		IdleConnTimeout:       s.IdleConnTimeout,
		MaxIdleConns:          s.MaxIdleConns,
		MaxIdleConnsPerHost:   s.MaxIdleConnsPerHost,
		MaxConnsPerHost:       s.MaxConnsPerHost,
		ResponseHeaderTimeout: s.ResponseHeaderTimeout,
		ExpectContinueTimeout: s.ExpectContinueTimeout,
	}
	if s.DisableHTTP2 {
		// A non-nil empty map is net/http's documented way to turn HTTP/2 off.
		t.t1.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	} else {
		t.t1.ForceAttemptHTTP2 = true // a custom DialContext turns it off otherwise
		t.t1.HTTP2 = t.h2Config()
		// CloseIdleConnections sets the bundled HTTP/2 up now (it would on
		// the first request), so that its TLSNextProto hook can be wrapped:
		// an HTTP/2 conn multiplexes streams for as long as it lives, so it
		// is lent to HTTP/2 for life (never refused or evicted by herz) and
		// drained at its lifetime (see exchange.gotConn). The hook runs
		// after the TLS handshake, before the connection preface is written.
		t.t1.CloseIdleConnections()
		if next := t.t1.TLSNextProto["h2"]; next != nil {
			t.t1.TLSNextProto["h2"] = func(authority string, c *tls.Conn) http.RoundTripper {
				if dc, ok := dialer.ConnOf(c); ok {
					dc.LendForLife()
				}
				return next(authority, c)
			}
		}
	}
}

// dialContext dials for net/http. The conn stays in the dialer's Dialed
// state (herz never touches it) until a pool takes it: herz's own HTTP/1.1
// pool (the dial slot) lends it to its request or parks it idle; in
// net/http's pool, GotConn lends it to the request that gets it, and when
// the request it was dialed for took another conn (or ended without one),
// net/http parks it idle unused and herz marks it idle too
// (exchange.dialedConn), so that it is counted and checked like any other
// idle conn.
func (t *Transport) dialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	e, _ := ctx.Value(exchangeKey{}).(*exchange)
	var before *dialer.Conn
	if e != nil {
		before = e.conn.Load()
	}
	c, err := t.dial(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	slot, _ := ctx.Value(dialSlotKey{}).(*dialSlot)
	if slot != nil {
		slot.nc = c // a conn for herz's own HTTP/1.1 pool
	}
	if dc, ok := dialer.ConnOf(c); ok {
		switch {
		case slot != nil:
			slot.c = dc
		case e != nil && e.req.URL != nil && e.req.URL.Scheme == "https":
			// net/http's TLS handshake (after a proxy's CONNECT) is still
			// to come on dc: dc may only be parked idle once it is over,
			// or the handshake's reads would count as data arriving on an
			// idle conn. The hook runs in this dial's goroutine, after
			// this function returns; e.trace is the attempt's own copy.
			user := e.trace.TLSHandshakeDone
			e.trace.TLSHandshakeDone = func(cs tls.ConnectionState, err error) {
				e.trace.TLSHandshakeDone = user // once: a re-send's dial sets its own
				e.dialedConn(dc, before)
				if user != nil {
					user(cs, err)
				}
			}
		case e != nil:
			e.dialedConn(dc, before)
		}
	}
	return c, nil
}

// dial dials through the herz dialer, a re-send's connect bounded by its
// request's RetryWindow (see dialWindow).
func (t *Transport) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if end, ok := dialWindow(ctx); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, end)
		defer cancel()
	}
	c, err := t.dialNet(ctx, network, addr)
	if err != nil {
		// Marked as herz's connect (nothing of the request was written);
		// RoundTrip hands the caller the error inside (callerError).
		return nil, &connectError{err}
	}
	return c, nil
}

// h2Config returns the HTTP/2 health checks of the Config (0 turns a
// check off, as the Config's negative values do).
func (t *Transport) h2Config() *http.HTTP2Config {
	return &http.HTTP2Config{
		SendPingTimeout:  t.s.H2ReadIdleTimeout,
		PingTimeout:      t.s.H2PingTimeout,
		WriteByteTimeout: t.s.H2WriteByteTimeout,
	}
}

// Dialer returns the Transport's dialer (for its Stats, Learner and PeerHealth).
func (t *Transport) Dialer() *dialer.Dialer { return t.d }

// CloseIdleConnections closes the idle connections of every protocol. It
// does not interrupt connections in use.
func (t *Transport) CloseIdleConnections() {
	t.p1.closeIdle(false)
	t.t1.CloseIdleConnections()
	if t.h2c != nil {
		t.h2c.CloseIdleConnections()
	}
}

// Close closes the idle connections, stops the dialer's evictor and
// unregisters the metric callbacks. Requests in flight finish; new
// requests needing a new connection fail with [dialer.ErrClosed]. Close is
// idempotent and always returns nil or the telemetry error.
func (t *Transport) Close() error {
	var err error
	t.closeOnce.Do(func() {
		t.closed.Store(true)
		t.p1.closeIdle(true) // and conns returned later are closed
		t.CloseIdleConnections()
		err = t.d.Close()
		for _, unreg := range []func() error{t.unreg, t.unregOpen} {
			if unreg != nil {
				if uerr := unreg(); err == nil {
					err = uerr
				}
			}
		}
	})
	return err
}

// RoundTrip sends req and returns its response, like http.Transport, with
// herz's protection around it:
//
//   - a request net/http would refuse (invalid header, method or URL,
//     unsupported scheme) is refused as net/http refuses it, with its error,
//     before anything is dialed, counted or retried;
//   - the per-host breaker (key host:port) rejects the request at once, with
//     an error wrapping [breaker.ErrOpen], while the host is failing; only
//     failures the peer caused count (see Config.Breaker);
//   - a request that failed is re-sent only when that is provably safe and
//     invisible to the caller (see the package doc's "Retry safety"), after a
//     jittered backoff, within the request's deadline, Config.RetryWindow and
//     the retry budget; responses are re-sent only under a status policy the
//     caller chose (RetryConfig.RetryStatus);
//   - Keep-Alive: timeout=N response headers teach the dialer the server's
//     idle timeout, so connections are not reused past it.
//
// Errors are net/http's: a failed connect gives the error net.Dialer
// returned (a *net.OpError or *net.DNSError), a ResponseHeaderTimeout
// net/http's timeout error after one attempt. herz's own errors are those it
// decided: an open breaker, the closed Transport ([ErrClosed]),
// Config.AttemptTimeout ([AttemptTimeoutError]). The request body is closed
// on every path, as net/http does.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !wellFormed(req) {
		// net/http refuses it with its own error value and closes the body,
		// before dialing: the caller's mistake, never retried or counted.
		return t.t1.RoundTrip(req)
	}
	resp, err := t.roundTrip(req)
	if err != nil {
		err = callerError(err)
		if req.Cancel != nil {
			if dl, ok := req.Context().Deadline(); ok && (!time.Now().Before(dl) || errors.Is(req.Context().Err(), context.DeadlineExceeded)) {
				awaitClientTimeout(req.Cancel)
				err = deadlineCause(err, dl)
			}
		}
		return nil, err
	}
	if req.Cancel != nil && resp.Body != nil && resp.Body != http.NoBody && resp.StatusCode != http.StatusSwitchingProtocols {
		if dl, ok := req.Context().Deadline(); ok {
			resp.Body = &deadlineBody{ReadCloser: resp.Body, deadline: dl, cancel: req.Cancel}
		}
	}
	return resp, nil
}

// clientTimeoutGrace bounds awaitClientTimeout.
const clientTimeoutGrace = 50 * time.Millisecond

// awaitClientTimeout lets http.Client see its own timeout. For a RoundTripper
// it does not know, http.Client enforces Client.Timeout with both a context
// deadline and a timer that closes req.Cancel after marking the timeout; the
// error text gets "(Client.Timeout exceeded while awaiting headers)" only if
// the mark is set when RoundTrip returns. The context can end a moment before
// the timer runs, so wait (briefly: the deadline may have been the caller's
// own) for the timer to close req.Cancel.
func awaitClientTimeout(cancel <-chan struct{}) {
	t := time.NewTimer(clientTimeoutGrace)
	defer t.Stop()
	select {
	case <-cancel:
	case <-t.C:
	}
}

func (t *Transport) roundTrip(req *http.Request) (*http.Response, error) {
	if t.closed.Load() {
		closeBody(req)
		return nil, ErrClosed
	}
	peer := peerOf(req)
	t.inFlight.Add(1)
	t.http.ActiveRequests(req.Context(), peer, 1)
	defer t.requestDone(req.Context(), peer)
	t.budget.Deposit()
	opts := optsOf(req.Context())
	maxRetries := t.s.maxRetries
	if opts&optNoRetries != 0 {
		maxRetries = 0
	}
	breakers := t.breakers
	if opts&optNoBreaker != 0 {
		breakers = nil
	}
	r, src := watchBody(req)
	bo := t.s.policy.Backoff() // allocates only when a retry happens
	var windowEnd time.Time    // end of Config.RetryWindow; zero: none
	for attempt := 1; ; attempt++ {
		var ticket breaker.Ticket // zero: no breaker; Done is then a no-op
		if breakers != nil {
			var err error
			if ticket, err = breakers.AllowTicket(peer); err != nil {
				t.rejected.Add(1)
				closeBody(r)
				return nil, err
			}
		}
		start := time.Now()
		limit := t.s.AttemptTimeout
		if attempt == 1 {
			if t.s.RetryWindow > 0 {
				windowEnd = start.Add(t.s.RetryWindow)
			}
		} else if !windowEnd.IsZero() && t.replayable(req) {
			// A retry ends by the window's end (in a whole-path
			// blackhole its connect would wait for SYN timeouts). Only one
			// that may be replayed: cutting a retried POST could leave the
			// caller unsure whether it ran, where its first error was certain.
			if left := max(time.Until(windowEnd), time.Millisecond); limit <= 0 || left < limit {
				limit = left
			}
		}
		px := t.proxy(r)
		resp, err := t.attempt(r, peer, start, limit, windowEnd, attempt > 1, px)
		bodyFailed := src != nil && src.failed.Load()
		var outcome error // for the breaker and the host's health
		switch {
		case callerGaveUp(r):
			// The caller canceled or its deadline passed: that says nothing
			// about the host, for the breaker or for its health.
			outcome = notCounted{context.Canceled}
		case err == nil && t.breaksOn(resp.StatusCode):
			outcome = &breaker.StatusError{Code: resp.StatusCode}
		case err != nil && !peerCaused(err, bodyFailed):
			outcome = notCounted{err}
		default:
			outcome = err
		}
		ticket.Done(outcome)
		if _, ignored := outcome.(notCounted); !ignored {
			t.d.Observe(peer, time.Since(start), outcome)
		}
		if err == nil && !px.set {
			t.learn(resp, peer)
		}

		reason, ok := t.retryable(req, resp, err, attempt, maxRetries, bodyFailed)
		if !ok {
			return t.result(req, resp, err)
		}
		next, ok := t.prepareRetry(req, resp, err, peer, reason, attempt, windowEnd, &bo)
		if !ok {
			return t.result(req, resp, err)
		}
		if next == nil {
			// Interrupted while backing off after the response was
			// discarded: the caller's cancellation, as net/http reports it.
			return nil, context.Cause(req.Context())
		}
		r, src = watchBody(next)
	}
}

// result is the attempt's result as the caller gets it: a response names
// the caller's request (not a retry's copy), as net/http's does.
func (t *Transport) result(req *http.Request, resp *http.Response, err error) (*http.Response, error) {
	if resp != nil {
		resp.Request = req
	}
	return resp, err
}

// requestDone counts the end of a RoundTrip call (Stats.InFlight,
// http.client.active_requests).
func (t *Transport) requestDone(ctx context.Context, peer string) {
	t.inFlight.Add(-1)
	t.http.ActiveRequests(ctx, peer, -1)
}

// breaksOn reports whether a response with status code counts as a failure
// for the request breaker (Config.BreakerStatuses).
func (t *Transport) breaksOn(code int) bool {
	for _, c := range t.s.BreakerStatuses {
		if c == code {
			return true
		}
	}
	return false
}

// attempt sends r once through the protocol's transport, bounded by d
// (AttemptTimeout, or what is left of RetryWindow; 0: none) until the
// response headers arrive, following the conn it gets (see own.go; peer is
// peerOf(r)).
func (t *Transport) attempt(r *http.Request, peer string, start time.Time, d time.Duration, window time.Time, retry bool, px proxyChoice) (*http.Response, error) {
	var rt http.RoundTripper = t.t1
	if t.h2c != nil && r.URL.Scheme == "http" {
		rt = t.h2c
	}
	if !px.set && (d <= 0 || r.Cancel == nil) && t.p1.eligible(r) {
		return t.ownAttempt(r, peer, start, d, window, retry)
	}
	if d <= 0 {
		e := newExchange(r.Context(), r, nil, &t.waits, start, window, retry)
		e.proxy = px
		resp, err := rt.RoundTrip(e.request(r))
		if err != nil {
			return nil, e.failed(err)
		}
		resp.Request = r
		e.done(resp)
		return resp, nil
	}
	ctx, cancel := context.WithCancelCause(r.Context())
	e := newExchange(ctx, r, cancel, &t.waits, start, window, retry)
	e.proxy = px
	timer := time.AfterFunc(d, func() { cancel(errAttemptTimeout) })
	resp, err := rt.RoundTrip(e.request(r))
	fired := !timer.Stop()
	if fired {
		// The timer fired, whether or not the headers made it in time:
		// the body would fail mid-read, so the attempt timed out. (The
		// timer's cancel may not have run yet: the cause is not read.)
		if err == nil {
			resp.Body.Close()
			err = errAttemptTimeout
		}
		cancel(errAttemptTimeout)
		return nil, &AttemptTimeoutError{Limit: d, Err: e.failed(err)}
	}
	if err != nil {
		cancel(nil)
		return nil, e.failed(err)
	}
	resp.Request = r
	e.done(resp) // the attempt's context lives until the body is done
	return resp, nil
}

// ownAttempt sends r once through herz's own HTTP/1.1 pool, bounded by d
// (what is left of RetryWindow for a retry; 0: none) until the response
// headers arrive. The bound is the request's legacy Cancel channel (r has
// none), which net/http watches until the response is done, so that no
// context of herz's has to live as long as the body: a retry stays on the
// conns of the pool its first attempt used.
func (t *Transport) ownAttempt(r *http.Request, peer string, start time.Time, d time.Duration, window time.Time, retry bool) (*http.Response, error) {
	var timer *time.Timer
	if d > 0 {
		cancel := make(chan struct{})
		c := *r
		c.Cancel = cancel
		r = &c
		timer = time.AfterFunc(d, func() { close(cancel) })
	}
	resp, err := t.p1.roundTrip(r, peer, start, window, retry)
	if timer != nil && !timer.Stop() {
		// As in attempt: the timer fired, whether or not the headers made
		// it in time.
		if err == nil {
			resp.Body.Close()
			err = errAttemptTimeout
		}
		return nil, &AttemptTimeoutError{Limit: d, Err: err}
	}
	if err != nil {
		return nil, err // the body is closed (pool1.roundTrip)
	}
	resp.Request = r
	return resp, nil
}

// errAttemptTimeout is the cancel cause of an attempt whose timer fired.
var errAttemptTimeout = errors.New("herz/transport: attempt timeout")

// ErrClosed is returned by RoundTrip on a closed [Transport], at once and
// never retried.
var ErrClosed = errors.New("herz/transport: transport closed")

// AttemptTimeoutError is returned when an attempt got no response headers
// within Config.AttemptTimeout, or a retry none by the end of
// Config.RetryWindow (and was not, or could not be, retried).
type AttemptTimeoutError struct {
	// Limit is Config.AttemptTimeout, or what was left of Config.RetryWindow.
	Limit time.Duration
	// Err is the error the attempt ended with.
	Err error
}

// Error implements error.
func (e *AttemptTimeoutError) Error() string {
	return "herz/transport: no response headers within the attempt timeout of " + e.Limit.String() + ": " + e.Err.Error()
}

// Unwrap returns the attempt's error.
func (e *AttemptTimeoutError) Unwrap() error { return e.Err }

// Timeout reports true.
func (e *AttemptTimeoutError) Timeout() bool { return true }

// learn feeds a Keep-Alive: timeout=N response header to the learner, for
// direct (not proxied) requests only: through a proxy, the header describes
// the proxy's connection, not the one herz dialed to the host.
func (t *Transport) learn(resp *http.Response, peer string) {
	if d, ok := keepAliveTimeout(resp.Header); ok {
		t.d.Learner().ObserveHint(peer, d)
	}
}

// proxyChoice is Config.Proxy's answer for one attempt: set when it named a
// proxy or failed. Proxy is asked once per attempt, as net/http asks it
// once per request (a round-robin Proxy sends each request to the next
// proxy); net/http's transport gets the same answer through the exchange
// (proxyOf).
type proxyChoice struct {
	set bool
	url *url.URL
	err error
}

// proxy asks Config.Proxy about r, unless r goes over h2c (never proxied).
func (t *Transport) proxy(r *http.Request) proxyChoice {
	if t.h2c != nil && r.URL.Scheme == "http" {
		return proxyChoice{}
	}
	u, err := t.s.Proxy(r)
	if u == nil && err == nil {
		return proxyChoice{}
	}
	return proxyChoice{set: true, url: u, err: err}
}

// proxyOf is the Proxy of net/http's transport: the attempt's answer,
// carried by its exchange, so that Config.Proxy is not asked again.
func (t *Transport) proxyOf(r *http.Request) (*url.URL, error) {
	if e, ok := r.Context().Value(exchangeKey{}).(*exchange); ok {
		return e.proxy.url, e.proxy.err
	}
	return t.s.Proxy(r) // not a request of RoundTrip's (cannot happen)
}

// prepareRetry takes the delay before the next retry from bo, checks it
// against the deadline, the Retry-After cap and the budget, discards resp
// and sleeps. It returns ok=false to give the last result to the caller
// untouched, a nil request (with ok) when the sleep was interrupted, or the
// request to send next.
func (t *Transport) prepareRetry(req *http.Request, resp *http.Response, aerr error, peer string, reason reason, attempt int, windowEnd time.Time, bo *retry.Backoff) (*http.Request, bool) {
	ctx := req.Context()
	delay := bo.Next()
	if resp != nil {
		if v := resp.Header.Get("Retry-After"); v != "" {
			if ra, ok := retry.ParseRetryAfter(v, time.Now(), 0); ok {
				if ra > t.s.Retry.MaxRetryAfter {
					return nil, false // the server asks for a longer pause than allowed: its answer is the result
				}
				delay = max(delay, ra)
			}
		}
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= delay {
		return nil, false // the retry could not happen in time: keep what we have
	}
	if !windowEnd.IsZero() && time.Until(windowEnd) <= delay {
		return nil, false // past Config.RetryWindow: the caller has waited enough
	}
	if !t.budget.Withdraw() {
		t.refused.Add(1)
		t.rec.RetryRefused(ctx, component, peer)
		return nil, false
	}
	var body io.ReadCloser
	if req.Body != nil && req.Body != http.NoBody {
		// retryable checked that GetBody is set.
		b, err := req.GetBody()
		if err != nil {
			return nil, false
		}
		body = b
	}
	if t.s.OnRetry != nil {
		info := RetryInfo{Request: req, Attempt: attempt, Reason: reason.String(), Err: aerr, Delay: delay}
		if resp != nil {
			info.StatusCode = resp.StatusCode
		}
		t.s.OnRetry(info)
	}
	if resp != nil {
		discard(resp)
	}
	t.retries[reason].Add(1)
	t.rec.Retry(ctx, component, peer, reason.String())
	if err := retry.Sleep(ctx, delay); err != nil {
		if body != nil {
			body.Close()
		}
		return nil, true
	}
	next := *req
	if body != nil {
		next.Body = body
	}
	return &next, true
}

// discard drains a little of resp's body, so that its connection can be
// reused, and closes it.
func discard(resp *http.Response) {
	_, _ = io.CopyN(io.Discard, resp.Body, maxDrain)
	resp.Body.Close()
}

func closeBody(r *http.Request) {
	if r.Body != nil {
		r.Body.Close()
	}
}

// peerOf returns the host:port net/http dials for req's URL (its canonical
// address, with the scheme's default port), the key of the breaker and of
// the learner. It does not allocate when the URL has an ASCII host and a port.
func peerOf(req *http.Request) string {
	u := req.URL
	if u.Port() != "" && isASCII(u.Host) {
		return u.Host
	}
	port := u.Port()
	if port == "" {
		switch u.Scheme {
		case "https", "wss":
			port = "443"
		case "socks5":
			port = "1080"
		default:
			port = "80"
		}
	}
	return net.JoinHostPort(u.Hostname(), port)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// notCounted wraps an error the request breaker does not count (Ignore).
type notCounted struct{ error }

// BreakerOutcome tells breaker's DefaultClassifier to ignore the error.
func (notCounted) BreakerOutcome() breaker.Outcome { return breaker.Ignore }

// Unwrap returns the error.
func (e notCounted) Unwrap() error { return e.error }
