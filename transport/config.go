package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"slices"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/herz-go/herz/breaker"
	"github.com/herz-go/herz/dialer"
	"github.com/herz-go/herz/internal/retry"
)

// Config configures a [Transport]. The zero value behaves like
// http.DefaultTransport (proxy from the environment, HTTP/2 attempted over
// TLS, the same timeouts; more idle connections per host, see
// MaxIdleConnsPerHost) plus herz's health checks, stale connection refusal,
// safe retries with a budget and a per-host breaker.
//
// Durations follow net/http's convention where the field has a twin there:
// zero means the default named in the comment, negative means "none" where
// the comment says so, and is an error otherwise.
type Config struct {
	// Base, if set, is the *http.Transport herz is built from, for a
	// program that configures its transport: every net/http field of it is
	// honoured with net/http's meaning (Proxy nil: no proxy; zero limits
	// and timeouts: net/http's, e.g. 2 idle conns per host and no idle
	// timeout), DisableKeepAlives, DisableCompression, buffer sizes,
	// MaxResponseHeaderBytes, ProxyConnectHeader, Protocols, TLSNextProto
	// and HTTP2 included (herz fills in the HTTP/2 health checks HTTP2
	// leaves zero, from the H2 fields below). Its DialContext (or Dial), if
	// set, is the one that dials — a unix socket works — and herz adopts
	// the conns it returns (dialer.Dialer.Adopt: verified when TCP, then
	// tracked like its own: stale refusal, learned deadlines, lifetime,
	// probes where a TCP or unix socket is reachable); DialTLSContext, if
	// set, dials TLS as in net/http (its conns are not tracked).
	// Base is copied by New and not modified. The fields below that have a
	// twin in http.Transport (Proxy to DisableHTTP2) must then be zero.
	// Default (nil): herz builds its transport from the fields below.
	Base *http.Transport

	// Proxy returns the proxy for a request, as http.Transport.Proxy.
	// Default (nil): http.ProxyFromEnvironment. To never use a proxy, set it
	// to [NoProxy].
	Proxy func(*http.Request) (*url.URL, error)

	// TLSClientConfig is passed to the underlying http.Transport untouched
	// (it is cloned there; "h2" and "http/1.1" are added to NextProtos unless
	// HTTP/2 is disabled). Default (nil): Go's defaults, which verify
	// certificates. Nothing insecure is ever set by herz.
	TLSClientConfig *tls.Config

	// TLSHandshakeTimeout bounds the TLS handshake. Default 10s; negative
	// means no limit.
	TLSHandshakeTimeout time.Duration
	// IdleConnTimeout closes keep-alive connections idle this long (HTTP/1.1
	// and HTTP/2). Default 90s; negative means no limit (herz's learned idle
	// deadlines and the dialer's idle limit still apply).
	IdleConnTimeout time.Duration
	// MaxIdleConns bounds idle connections across all hosts. Default 100;
	// negative means no limit.
	MaxIdleConns int
	// MaxIdleConnsPerHost bounds idle connections per host. Default (zero):
	// MaxIdleConns (100 unless set; unbounded per host when MaxIdleConns is
	// negative), not net/http's 2: the idle pool of a host then holds the
	// connections its recent peak of concurrent requests used (net/http only
	// ever idles a connection a request used), decaying as they idle out
	// (IdleConnTimeout, the dialer's idle limit and learned deadlines). With
	// net/http's 2, 8 steady concurrent callers close and re-dial a
	// connection on most requests, each close leaving a TIME_WAIT socket.
	// Negative is invalid.
	MaxIdleConnsPerHost int
	// MaxConnsPerHost bounds connections per host, dialing, in use and idle.
	// Default (zero): no limit. Negative is invalid.
	MaxConnsPerHost int
	// ResponseHeaderTimeout bounds the wait for response headers after the
	// request was written. Default (zero): no limit, as net/http. Negative is
	// invalid.
	ResponseHeaderTimeout time.Duration
	// ExpectContinueTimeout bounds the wait for a 100-continue after sending
	// headers with "Expect: 100-continue". Default 1s; negative means send
	// the body at once.
	ExpectContinueTimeout time.Duration

	// DisableHTTP2 turns HTTP/2 off: only HTTP/1.1 is negotiated.
	DisableHTTP2 bool
	// H2C sends http:// requests as HTTP/2 with prior knowledge (no upgrade),
	// directly to the host: Proxy is not used for them. Default off.
	H2C bool
	// H2ReadIdleTimeout is how long an HTTP/2 connection may go without
	// receiving a frame before a PING health check is sent. Default 3s, so
	// that with H2PingTimeout a dead connection is found within ~6s; negative
	// disables the health check (not recommended).
	H2ReadIdleTimeout time.Duration
	// H2PingTimeout is how long to wait for the PING's answer before closing
	// the connection. Default 3s. Negative is invalid.
	H2PingTimeout time.Duration
	// H2WriteByteTimeout closes an HTTP/2 connection when a write makes no
	// progress for this long. Default 10s; negative means no limit.
	H2WriteByteTimeout time.Duration

	// MaxLifetime bounds how long a connection is reused, each one's limit
	// shortened by up to Dialer.LifetimeJitter (default 10%) so they do not
	// expire together: an HTTP/1.1 connection older than this is closed
	// once idle (never during a request), an HTTP/2 one takes no new
	// streams and closes after its last. net/http has no such limit.
	// Default 10 min; negative means no limit. Setting both MaxLifetime and
	// Dialer.MaxLifetime to different values is an error.
	MaxLifetime time.Duration

	// Retry configures request retries (zero value: on, 2 retries, of
	// what is provably safe only; see RetryConfig).
	Retry RetryConfig
	// Budget bounds the retries across all requests of this Transport.
	Budget BudgetConfig
	// RetryWindow bounds how long retries may extend a request, so that the
	// caller has its answer within it even in a whole-path blackhole:
	// a retry starts only while its backoff ends inside the window counted
	// from the request's first attempt, and a retry of an idempotent request
	// gets no more than what is left of the window to receive its response
	// headers (its connect included; the body is then bounded by the
	// caller's context only). The first attempt is not bounded by it (its
	// dead-connection detection is: the dialer's watchdog, HTTP/2 PINGs). A
	// Retry-After beyond the window is returned to the caller as it is.
	// Default 10s; negative means no window (retries bounded by the
	// context, MaxRetries and the budget only).
	RetryWindow time.Duration
	// OnRetry, if not nil, is called before each retry (after its backoff
	// was decided and the budget allowed it, before the wait), on the
	// goroutine of the request, with no lock held. It must be quick and
	// must not modify the request.
	OnRetry func(RetryInfo)
	// AttemptTimeout bounds each attempt (dial, write, wait) until response
	// headers arrive, so a hung attempt of a request net/http would replay
	// (or a PUT or DELETE under Retry.IdempotentMethods) is retried;
	// after the headers, the body is bounded only by the request's context.
	// Default (zero): no per-attempt limit. Negative is invalid.
	AttemptTimeout time.Duration

	// Breaker configures the per-host (host:port) request breaker. By
	// default only failures the peer caused count, failures the caller
	// would see as errors anyway: connect timeouts and resets, resets and
	// EOFs on the connection, herz's own attempt timeouts; a response is a
	// success whatever its status unless BreakerStatuses lists it. Never
	// counted: the caller's own input (an invalid request is refused before
	// the breaker), its request body's read errors, DNS answers, its
	// cancellation or deadline, a ResponseHeaderTimeout, a rejected
	// certificate, or a refused connect (it fails in microseconds by
	// itself: an open breaker would only keep failing requests after a
	// restarted server is back, where net/http would not). Zero fields take
	// package breaker's defaults, except the open interval: when OpenBase
	// and OpenMax are both zero it is 200ms × consecutive trips, capped at
	// 600ms (±20% jitter), so that the first request after an outage ends
	// succeeds within a second at the cost of one probe request per
	// host about every 0.5s while it lasts.
	// An open breaker fails requests at once with an error wrapping
	// [breaker.ErrOpen].
	//
	// While the request breaker is on, the Transport's dialer has no
	// per-address breaker of its own (Dialer.DisableBreaker is forced):
	// two breakers on one host would stack, the request breaker's
	// half-open probe being rejected by a dial breaker still open.
	Breaker breaker.Config
	// BreakerStatuses lists the response status codes that count as
	// failures for the request breaker, e.g. []int{502, 503, 504}.
	// Default (nil): none — a 503 on one path never opens the breaker for
	// the host's other paths, and its caller gets the 503 as it is. Codes
	// must be in [100, 599].
	BreakerStatuses []int
	// DisableBreaker turns the per-host request breaker off (the dialer's
	// per-address breaker then applies, as configured in Dialer).
	DisableBreaker bool

	// Dialer configures the Transport's own [dialer.Dialer]. Retries happen
	// in one layer: while the Transport retries (Retry.MaxRetries is not
	// NoRetries), a zero Dialer.DialRetries means no dial retries (the
	// Transport retries connect failures itself, so a request makes at most
	// 1 + Retry.MaxRetries connects); see also Breaker. When
	// Dialer.Learner is nil, the Transport creates a
	// Learner with MinSamples 1: one observed idle close of a peer is enough
	// to start refusing reuse before that peer's idle timeout (default 3
	// would leave the close-while-sending race open for the first closes).
	Dialer dialer.Config

	// MeterProvider records OpenTelemetry metrics (retries, refused retries,
	// breaker states, and the dialer's metrics unless Dialer.MeterProvider is
	// set). Default (nil): the global MeterProvider.
	MeterProvider metric.MeterProvider
}

// RetryConfig configures the retries of a [Transport]. By default only
// what is provably safe and invisible to the caller is re-sent: a request
// of which nothing was written (a stale connection refused before its first
// byte, a failed connect), or a request net/http itself would replay (GET,
// HEAD, OPTIONS, TRACE, or one with an Idempotency-Key) that failed on its
// connection; responses are never re-sent unless RetryStatus says so, and
// PUT and DELETE only with IdempotentMethods. The zero value allows 2
// retries, 50ms × 2^n backoff capped at 2s with ±50% jitter, and a
// Retry-After of up to 30s.
type RetryConfig struct {
	// MaxRetries is the number of retries after the first attempt. Default
	// (zero): 2. [NoRetries] disables herz's retries (net/http's own
	// re-send of a request that wrote nothing stays on).
	MaxRetries int
	// Initial is the backoff before the first retry, before jitter.
	// Default 50ms. Negative is invalid.
	Initial time.Duration
	// Max caps the backoff before jitter. Default 2s. Must not be below Initial.
	Max time.Duration
	// Multiplier grows the backoff per retry. Default 2; must be ≥ 1.
	Multiplier float64
	// Jitter spreads each backoff uniformly over ±Jitter of it. Default 0.5;
	// must be in [0,1].
	Jitter float64
	// RetryStatus, if not nil, decides which responses are retried; e.g.
	// [RetryUnavailable] (502, 503, 504, and 429 with Retry-After). Default
	// (nil): none — the response is the server's answer, returned as it is,
	// as net/http does. It is asked only about a response to a request that
	// is safe to re-send — one net/http would replay (or a PUT or DELETE
	// under IdempotentMethods), with a body that can be replayed, not
	// canceled, attempts and budget left — so it can never make an unsafe
	// request retryable. The server's Retry-After is honoured, within the
	// request's deadline, RetryWindow and MaxRetryAfter. It must be safe for
	// concurrent use and must not read or close the body.
	RetryStatus func(resp *http.Response) bool
	// IdempotentMethods makes PUT and DELETE (idempotent by RFC 9110 §9.2.2)
	// re-sendable after failures in which they may have reached the server
	// (a reset or timeout after the write) and under RetryStatus, as GET is.
	// Default false: like net/http, herz re-sends them only when nothing of
	// them was written; a DELETE that ran but lost its response gives the
	// caller the error, not the 404 a re-send would get.
	IdempotentMethods bool
	// MaxRetryAfter caps how long a server's Retry-After is honoured: a 429
	// or 503 asking for a longer pause (or one past the request's deadline)
	// is returned to the caller as it is. Default 30s. Negative is invalid.
	MaxRetryAfter time.Duration
}

// NoRetries is the [RetryConfig.MaxRetries] value that disables retries.
const NoRetries = retry.NoRetries

// BudgetConfig configures the retry budget of a [Transport]: over a sliding
// window of TTL, retries may add at most Ratio × requests plus MinPerSecond ×
// TTL, so retries cannot multiply an outage. The zero value is 20% plus 10
// retries per second over 10s.
type BudgetConfig struct {
	// Ratio is the share of requests that may be retried. Default 0.2; must
	// be in [0,1].
	Ratio float64
	// MinPerSecond is the floor of retries per second always allowed.
	// Default 10; [NoFloor] means none; other negative values are invalid.
	MinPerSecond float64
	// TTL is the window. Default 10s; must be at least 1s.
	TTL time.Duration
}

// NoFloor is the [BudgetConfig.MinPerSecond] value for "no floor".
const NoFloor = retry.NoFloor

// NoProxy is a Config.Proxy that never uses a proxy.
func NoProxy(*http.Request) (*url.URL, error) { return nil, nil }

// The defaults of Config's fields.
const (
	defaultTLSHandshakeTimeout   = 10 * time.Second
	defaultIdleConnTimeout       = 90 * time.Second
	defaultMaxIdleConns          = 100
	defaultExpectContinueTimeout = time.Second
	defaultH2ReadIdleTimeout     = 3 * time.Second
	defaultH2PingTimeout         = 3 * time.Second
	defaultH2WriteByteTimeout    = 10 * time.Second
	defaultMaxLifetime           = 10 * time.Minute
	defaultMaxRetryAfter         = 30 * time.Second
	defaultRetryWindow           = 10 * time.Second
	defaultBreakerOpenBase       = 200 * time.Millisecond
	defaultBreakerOpenMax        = 600 * time.Millisecond
)

// settings is the frozen, validated form of a Config that a Transport keeps.
type settings struct {
	Config
	policy     retry.Policy
	maxRetries int
	// h2cBase: Base's Protocols speak h2c to http:// URLs (not herz's pool).
	h2cBase bool
	// userDial is Base's DialContext (or Dial), nil when herz dials.
	userDial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// withDefaults validates c and returns the frozen copy a Transport keeps.
// Errors name the field.
func (c Config) withDefaults() (settings, error) {
	if c.Base != nil {
		if name, ok := c.baseTwins(); ok {
			return settings{}, fmt.Errorf("herz/transport: Config.%s must not be set with Config.Base (Base's %s is used)", name, name)
		}
		if c.H2C {
			return settings{}, errors.New("herz/transport: Config.H2C must not be set with Config.Base (set Base.Protocols' UnencryptedHTTP2)")
		}
	}
	neg := func(name string, d time.Duration) error {
		return fmt.Errorf("herz/transport: Config.%s must not be negative, got %v", name, d)
	}
	switch {
	case c.MaxIdleConnsPerHost < 0:
		return settings{}, fmt.Errorf("herz/transport: Config.MaxIdleConnsPerHost must not be negative, got %d", c.MaxIdleConnsPerHost)
	case c.MaxConnsPerHost < 0:
		return settings{}, fmt.Errorf("herz/transport: Config.MaxConnsPerHost must not be negative, got %d", c.MaxConnsPerHost)
	case c.ResponseHeaderTimeout < 0:
		return settings{}, neg("ResponseHeaderTimeout", c.ResponseHeaderTimeout)
	case c.H2PingTimeout < 0:
		return settings{}, neg("H2PingTimeout", c.H2PingTimeout)
	case c.AttemptTimeout < 0:
		return settings{}, neg("AttemptTimeout", c.AttemptTimeout)
	case c.Retry.MaxRetryAfter < 0:
		return settings{}, neg("Retry.MaxRetryAfter", c.Retry.MaxRetryAfter)
	case c.H2C && c.DisableHTTP2:
		return settings{}, fmt.Errorf("herz/transport: Config.H2C and Config.DisableHTTP2 cannot both be set")
	case c.MaxLifetime != 0 && c.Dialer.MaxLifetime != 0 && c.MaxLifetime != c.Dialer.MaxLifetime:
		return settings{}, fmt.Errorf("herz/transport: Config.MaxLifetime (%v) and Config.Dialer.MaxLifetime (%v) disagree: set one", c.MaxLifetime, c.Dialer.MaxLifetime)
	}
	for i, code := range c.BreakerStatuses {
		if code < 100 || code > 599 {
			return settings{}, fmt.Errorf("herz/transport: Config.BreakerStatuses[%d] must be in [100, 599], got %d", i, code)
		}
	}
	c.BreakerStatuses = slices.Clone(c.BreakerStatuses)
	p := retry.Policy{
		Initial:    c.Retry.Initial,
		Max:        c.Retry.Max,
		Multiplier: c.Retry.Multiplier,
		Jitter:     c.Retry.Jitter,
		MaxRetries: c.Retry.MaxRetries,
	}
	if err := p.Validate(); err != nil {
		return settings{}, fieldError("Retry", err)
	}
	s := settings{Config: c, policy: p.WithDefaults(), maxRetries: p.Retries()}
	if s.Proxy == nil {
		s.Proxy = http.ProxyFromEnvironment
	}
	s.TLSHandshakeTimeout = orDefault(s.TLSHandshakeTimeout, defaultTLSHandshakeTimeout)
	s.IdleConnTimeout = orDefault(s.IdleConnTimeout, defaultIdleConnTimeout)
	s.ExpectContinueTimeout = orDefault(s.ExpectContinueTimeout, defaultExpectContinueTimeout)
	s.H2ReadIdleTimeout = orDefault(s.H2ReadIdleTimeout, defaultH2ReadIdleTimeout)
	s.H2PingTimeout = orDefault(s.H2PingTimeout, defaultH2PingTimeout)
	s.H2WriteByteTimeout = orDefault(s.H2WriteByteTimeout, defaultH2WriteByteTimeout)
	s.Retry.MaxRetryAfter = orDefault(s.Retry.MaxRetryAfter, defaultMaxRetryAfter)
	s.RetryWindow = orDefault(s.RetryWindow, defaultRetryWindow)
	switch {
	case s.MaxIdleConns == 0:
		s.MaxIdleConns = defaultMaxIdleConns
	case s.MaxIdleConns < 0:
		s.MaxIdleConns = 0 // net/http: zero means no limit
	}
	if s.MaxIdleConnsPerHost == 0 {
		// The recent peak of concurrency, bounded by MaxIdleConns; with no
		// global limit, none per host either (net/http's zero would be 2).
		s.MaxIdleConnsPerHost = s.MaxIdleConns
		if s.MaxIdleConnsPerHost == 0 {
			s.MaxIdleConnsPerHost = math.MaxInt32
		}
	}
	if s.Base != nil {
		s.fromBase(s.Base)
	}
	if !s.DisableBreaker {
		// One breaker per host per layer (see Config.Breaker).
		s.Dialer.DisableBreaker = true
		s.Breaker = recoveringBreaker(s.Breaker)
	} else {
		s.Dialer.Breaker = recoveringBreaker(s.Dialer.Breaker)
	}
	if s.maxRetries > 0 && s.Dialer.DialRetries == 0 {
		// Retries in one layer: the Transport retries connect failures.
		s.Dialer.DialRetries = -1
	}
	switch {
	case s.MaxLifetime == 0 && s.Dialer.MaxLifetime == 0:
		s.Dialer.MaxLifetime = defaultMaxLifetime
	case s.MaxLifetime > 0:
		s.Dialer.MaxLifetime = s.MaxLifetime
	case s.MaxLifetime < 0:
		s.Dialer.MaxLifetime = -1 // the dialer's "no limit"
	}
	s.MaxLifetime = max(s.Dialer.MaxLifetime, 0)
	if s.Dialer.LifetimeJitter == 0 {
		s.Dialer.LifetimeJitter = 0.1 // the dialer's default, for HTTP/2's drain too
	}
	if s.Dialer.MeterProvider == nil {
		s.Dialer.MeterProvider = s.MeterProvider
	}
	return s, nil
}

// recoveringBreaker gives c the open interval that bounds the recovery after
// an outage (see Config.Breaker) unless the user set one.
func recoveringBreaker(c breaker.Config) breaker.Config {
	if c.OpenBase == 0 && c.OpenMax == 0 {
		c.OpenBase, c.OpenMax = defaultBreakerOpenBase, defaultBreakerOpenMax
	}
	return c
}

// orDefault returns def for zero, 0 ("none", net/http's zero) for negative,
// and d otherwise.
func orDefault(d, def time.Duration) time.Duration {
	switch {
	case d == 0:
		return def
	case d < 0:
		return 0
	}
	return d
}

// budgetConfig converts c to package retry's config.
func (c BudgetConfig) budgetConfig() retry.BudgetConfig {
	return retry.BudgetConfig{Ratio: c.Ratio, MinPerSecond: c.MinPerSecond, TTL: c.TTL}
}

// fieldError re-states an invalid field of an internal/retry struct with the
// name the user wrote: "herz/transport: Config.Retry.Initial must be ...".
func fieldError(in string, err error) error {
	var ce *retry.ConfigError
	if errors.As(err, &ce) {
		return fmt.Errorf("herz/transport: Config.%s.%s %s", in, ce.Field, ce.Rule)
	}
	return fmt.Errorf("herz/transport: Config.%s: %w", in, err)
}
