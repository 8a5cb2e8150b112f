package grpcconn

import (
	"errors"
	"fmt"
	"math"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/herz-go/herz/breaker"
	"github.com/herz-go/herz/dialer"
	"github.com/herz-go/herz/internal/retry"
)

// Config configures the dial options, interceptors and balancer of a gRPC
// client. The zero value is the production default: the herz dialer
// (verified connects, TCP keepalive, a dead-path watchdog), keepalive pings no
// faster than grpc-go servers accept by default, a reconnect backoff capped
// below a second, a per-target breaker, safe retries with a budget, and the
// outlier-ejecting round-robin balancer.
//
// Durations: zero means the default named in the comment; negative means
// "none" where the comment says so and is an error otherwise.
type Config struct {
	// Keepalive configures gRPC keepalive pings (HTTP/2 PING frames).
	Keepalive KeepaliveConfig

	// ConnectTimeout is the least time grpc-go gives one connection attempt
	// (grpc-go's ConnectParams.MinConnectTimeout, default 20s there). Default
	// 5s, so that a whole-path blackhole fails a reconnect within the
	// dead-peer bound. Negative is invalid.
	ConnectTimeout time.Duration
	// Backoff is the reconnect backoff after a failed connection attempt.
	Backoff BackoffConfig

	// Retry configures the interceptors' retries (zero value: on, 2
	// retries). Only attempts that cannot have been executed by the server
	// are retried, unless Retry.Idempotent says the method is safe to re-run.
	Retry RetryConfig
	// Budget bounds the retries across all calls made through these options.
	Budget BudgetConfig
	// AttemptTimeout bounds each attempt of a unary call; an attempt that
	// times out ends with codes.DeadlineExceeded (and is retried only for an
	// idempotent method). Streams are never bounded by it. Default (zero):
	// no per-attempt limit. Negative is invalid.
	AttemptTimeout time.Duration

	// Breaker configures the per-target breaker (key: the ClientConn's
	// target). Default classification: only transport-level failures count
	// (an attempt sent on a connection that then failed, an attempt
	// timeout, an UNAVAILABLE after response headers, which cannot be told
	// from a connection lost mid-answer); any other status the server sent,
	// even a Trailers-Only UNAVAILABLE, is an answer. Calls that found no
	// ready connection count neither way. Breaker.Classify, if set, receives
	// nil for answers, context.Canceled for those, and the call's error.
	// With the herz_outlier balancer a backend's failure counts only when
	// no other backend is healthy. While the breaker is open, calls fail at
	// once with codes.Unavailable naming the target, wrapping
	// [breaker.ErrOpen], except calls with grpc.WaitForReady(true) and any
	// call while a backend is healthy (see the package doc).
	Breaker breaker.Config
	// DisableBreaker turns the per-target breaker off.
	DisableBreaker bool

	// Outlier configures the herz_outlier balancer selected by the default
	// service config.
	Outlier OutlierConfig
	// DisableBalancer leaves the load-balancing policy to the target's
	// service config or grpc-go's default (pick_first). Without herz's
	// balancer there is no outlier ejection and no drain at
	// Dialer.MaxLifetime (connections then live until grpc-go or the server
	// closes them).
	DisableBalancer bool

	// Dialer configures the herz [dialer.Dialer] the connections are made
	// with. grpcconn turns the dialer's per-address breaker off (grpc-go's
	// own reconnect backoff already holds a failing address off; two
	// breakers in series stack their open intervals and delay the first
	// success after a restart). Connections are lent for life
	// ([dialer.Conn.LendForLife]): herz never closes or refuses one for its
	// age, idleness or a probe; at Dialer.MaxLifetime (default 10 min,
	// negative: none) the balancer drains it gracefully (see the package
	// doc).
	Dialer dialer.Config

	// MeterProvider records OpenTelemetry metrics (retries, refused retries,
	// breaker states, ejections, and the dialer's metrics unless
	// Dialer.MeterProvider is set). Default (nil): the global MeterProvider.
	MeterProvider metric.MeterProvider
}

// KeepaliveConfig configures the gRPC keepalive pings. grpc-go servers by
// default (keepalive.EnforcementPolicy) refuse pings more often than every 5
// minutes, and pings on a connection without streams, answering the third
// offence with GOAWAY ENHANCE_YOUR_CALM "too_many_pings" and closing the
// connection with every RPC on it. herz never pings faster than
// ServerMinTime: dead peers are found by TCP keepalive and the dialer's
// dead-path watchdog, which the server's ping policy does not see.
type KeepaliveConfig struct {
	// Time is how long a connection may receive nothing before a PING is
	// sent. Default: ServerMinTime. A value below ServerMinTime is raised to
	// it (set ServerMinTime to what your servers permit to ping faster).
	// Negative disables gRPC keepalive pings (TCP keepalive stays on).
	Time time.Duration
	// Timeout is how long to wait for a PING's answer before closing the
	// connection. Default 20s. Negative is invalid.
	Timeout time.Duration
	// ServerMinTime is the servers' EnforcementPolicy.MinTime: the shortest
	// ping interval they accept. Default 5 min (grpc-go's server default).
	// Negative is invalid.
	ServerMinTime time.Duration
	// PermitWithoutStream sends pings on connections without active RPCs.
	// Only set it when the servers' EnforcementPolicy.PermitWithoutStream
	// is true. Default false.
	PermitWithoutStream bool
}

// BackoffConfig is the reconnect backoff (grpc-go's backoff.Config). The
// zero value is 100ms × 1.6^n, capped at 500ms, ±20% jitter: a restarted
// server is reached again within a second (P14).
type BackoffConfig struct {
	// BaseDelay is the delay after the first failure. Default 100ms.
	// Negative is invalid.
	BaseDelay time.Duration
	// Multiplier grows the delay per failure. Default 1.6; must be ≥ 1.
	Multiplier float64
	// Jitter spreads each delay over ±Jitter of it. Default 0.2; must be in
	// [0,1).
	Jitter float64
	// MaxDelay caps the delay before jitter. Default 500ms; must not be
	// below BaseDelay.
	MaxDelay time.Duration
}

// RetryConfig configures the retries of the interceptors. The zero value
// allows 2 retries, 50ms × 2^n backoff capped at 2s with ±50% jitter.
type RetryConfig struct {
	// MaxRetries is the number of retries after the first attempt. Default
	// (zero): 2. [NoRetries] disables herz's retries (grpc-go's transparent
	// retry of streams the server never processed stays on).
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
	// Idempotent reports whether running the method (its full name,
	// "/pkg.Service/Method") twice has the effect of running it once. Such
	// unary calls are also retried after a transport failure or an attempt
	// timeout that may have reached the server. Default (nil): no method is.
	Idempotent func(fullMethod string) bool
}

// NoRetries is the [RetryConfig.MaxRetries] value that disables retries.
const NoRetries = retry.NoRetries

// BudgetConfig configures the retry budget: over a sliding window of TTL,
// retries may add at most Ratio × calls plus MinPerSecond × TTL. The zero
// value is 20% plus 10 retries per second over 10s.
type BudgetConfig struct {
	// Ratio is the share of calls that may be retried. Default 0.2; must be
	// in [0,1].
	Ratio float64
	// MinPerSecond is the floor of retries per second always allowed.
	// Default 10; [NoFloor] means none; other negative values are invalid.
	MinPerSecond float64
	// TTL is the window. Default 10s; must be at least 1s.
	TTL time.Duration
}

// NoFloor is the [BudgetConfig.MinPerSecond] value for "no floor".
const NoFloor = retry.NoFloor

// OutlierConfig configures the herz_outlier balancer: round-robin over the
// ready backends, skipping ejected ones. A backend is ejected when
// ConsecutiveFailures calls in a row failed, or, evaluated every Interval
// over backends with at least MinRequests calls in it, when its failure
// ratio exceeds the median backend's by FailureRatio, or its mean latency
// is above LatencyFactor × the median backend's and at least LatencyMinExcess
// more. An ejection lasts BaseEjection × (its ejection count), capped at
// MaxEjection, ±Jitter; the count decreases by one per Interval the backend
// spends healthy. A backend that connects again after its connection was
// lost forgets its run of failures, and an ejection for failures (not for
// latency) made before that connection ends at once and is forgiven: calls
// cut by a crash are evidence against the connection that died, and a
// restarted backend serves again as soon as it accepts a connection. At most MaxEjectedShare of the backends (at least one, never
// all) are ejected at once, and when fewer than PanicThreshold of the
// backends are ready and not ejected, ejections are ignored (panic mode).
//
// Failures are the codes UNAVAILABLE, DEADLINE_EXCEEDED, INTERNAL, UNKNOWN
// and DATA_LOSS; CANCELLED counts neither way; every other code is a
// success (the backend answered). Latency is measured for unary calls only.
type OutlierConfig struct {
	// ConsecutiveFailures ejects a backend after this many failures in a
	// row. Default 5. Negative disables the rule.
	ConsecutiveFailures int
	// Interval is how often success rates and latencies are compared.
	// Default 1s. Negative is invalid.
	Interval time.Duration
	// MinRequests is the least number of calls a backend needs within an
	// Interval to be compared. Default 10. Negative is invalid.
	MinRequests int
	// FailureRatio is by how much a backend's failure ratio must exceed the
	// median's to be an outlier. Default 0.2; must be in [0,1]; negative
	// disables the rule.
	FailureRatio float64
	// LatencyFactor is how many times the median backend's mean latency a
	// backend's must reach to be an outlier. Default 3; must be ≥ 1 or
	// negative (rule disabled).
	LatencyFactor float64
	// LatencyMinExcess is by how much at least a latency outlier's mean
	// latency must exceed the median's (so microsecond noise on a fast
	// network ejects nobody). Default 5ms. Negative is invalid.
	LatencyMinExcess time.Duration
	// BaseEjection is the first ejection's duration. Default 10s. Negative
	// is invalid.
	BaseEjection time.Duration
	// MaxEjection caps an ejection's duration before jitter. Default 2 min;
	// must not be below BaseEjection.
	MaxEjection time.Duration
	// Jitter spreads each ejection over ±Jitter of it. Default 0.2; must be
	// in [0,1).
	Jitter float64
	// MaxEjectedShare is the largest share of the backends ejected at once
	// (rounded down, but at least one when there are two backends or more;
	// one backend is always kept). Default 0.5; must not be negative.
	MaxEjectedShare float64
	// PanicThreshold: when fewer than this share of the backends are ready
	// and not ejected, the picker ignores ejections. Default 0.5; must be in
	// [0,1]; negative disables panic mode.
	PanicThreshold float64
}

// The defaults of Config's fields.
const (
	defaultServerMinTime    = 5 * time.Minute
	defaultPingTimeout      = 20 * time.Second
	defaultConnectTimeout   = 5 * time.Second
	defaultBaseDelay        = 100 * time.Millisecond
	defaultMultiplier       = 1.6
	defaultBackoffJitter    = 0.2
	defaultMaxDelay         = 500 * time.Millisecond
	defaultConsecutive      = 5
	defaultInterval         = time.Second
	defaultMinRequests      = 10
	defaultFailureRatio     = 0.2
	defaultLatencyFactor    = 3
	defaultLatencyMinExcess = 5 * time.Millisecond
	defaultBaseEjection     = 10 * time.Second
	defaultMaxEjection      = 2 * time.Minute
	defaultEjectionJitter   = 0.2
	defaultMaxEjectedShare  = 0.5
	defaultPanicThreshold   = 0.5
)

// settings is the frozen, validated form of a Config.
type settings struct {
	Config
	policy     retry.Policy
	maxRetries int
}

// badFloat reports NaN and ±Inf.
func badFloat(f float64) bool { return math.IsNaN(f) || math.IsInf(f, 0) }

// withDefaults validates c and returns the frozen copy with every default
// filled in. Errors name the field as the user wrote it.
func (c Config) withDefaults() (settings, error) {
	errf := func(format string, args ...any) (settings, error) {
		return settings{}, fmt.Errorf("herz/grpcconn: Config."+format, args...)
	}
	k, b, o := c.Keepalive, c.Backoff, c.Outlier
	switch {
	case k.Timeout < 0:
		return errf("Keepalive.Timeout must not be negative, got %v", k.Timeout)
	case k.ServerMinTime < 0:
		return errf("Keepalive.ServerMinTime must not be negative, got %v", k.ServerMinTime)
	case c.ConnectTimeout < 0:
		return errf("ConnectTimeout must not be negative, got %v", c.ConnectTimeout)
	case b.BaseDelay < 0:
		return errf("Backoff.BaseDelay must not be negative, got %v", b.BaseDelay)
	case b.MaxDelay < 0:
		return errf("Backoff.MaxDelay must not be negative, got %v", b.MaxDelay)
	case badFloat(b.Multiplier) || (b.Multiplier != 0 && b.Multiplier < 1):
		return errf("Backoff.Multiplier must be >= 1, got %v", b.Multiplier)
	case badFloat(b.Jitter) || b.Jitter < 0 || b.Jitter >= 1:
		return errf("Backoff.Jitter must be in [0,1), got %v", b.Jitter)
	case c.AttemptTimeout < 0:
		return errf("AttemptTimeout must not be negative, got %v", c.AttemptTimeout)
	case o.Interval < 0:
		return errf("Outlier.Interval must not be negative, got %v", o.Interval)
	case o.MinRequests < 0:
		return errf("Outlier.MinRequests must not be negative, got %d", o.MinRequests)
	case badFloat(o.FailureRatio) || o.FailureRatio > 1:
		return errf("Outlier.FailureRatio must be in [0,1] (negative: off), got %v", o.FailureRatio)
	case badFloat(o.LatencyFactor) || (o.LatencyFactor > 0 && o.LatencyFactor < 1):
		return errf("Outlier.LatencyFactor must be >= 1 (negative: off), got %v", o.LatencyFactor)
	case o.LatencyMinExcess < 0:
		return errf("Outlier.LatencyMinExcess must not be negative, got %v", o.LatencyMinExcess)
	case o.BaseEjection < 0:
		return errf("Outlier.BaseEjection must not be negative, got %v", o.BaseEjection)
	case o.MaxEjection < 0:
		return errf("Outlier.MaxEjection must not be negative, got %v", o.MaxEjection)
	case badFloat(o.Jitter) || o.Jitter < 0 || o.Jitter >= 1:
		return errf("Outlier.Jitter must be in [0,1), got %v", o.Jitter)
	case badFloat(o.MaxEjectedShare) || o.MaxEjectedShare < 0:
		return errf("Outlier.MaxEjectedShare must not be negative, got %v", o.MaxEjectedShare)
	case badFloat(o.PanicThreshold) || o.PanicThreshold > 1:
		return errf("Outlier.PanicThreshold must be in [0,1] (negative: off), got %v", o.PanicThreshold)
	}
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
	if _, err := retry.NewBudget(c.Budget.budgetConfig()); err != nil {
		return settings{}, fieldError("Budget", err)
	}
	s := settings{Config: c, policy: p.WithDefaults(), maxRetries: p.Retries()}
	sk := &s.Keepalive
	sk.ServerMinTime = def(sk.ServerMinTime, defaultServerMinTime)
	sk.Timeout = def(sk.Timeout, defaultPingTimeout)
	switch {
	case sk.Time < 0:
		sk.Time = 0 // off
	case sk.Time < sk.ServerMinTime:
		sk.Time = sk.ServerMinTime
	}
	s.ConnectTimeout = def(s.ConnectTimeout, defaultConnectTimeout)
	sb := &s.Backoff
	sb.BaseDelay = def(sb.BaseDelay, defaultBaseDelay)
	sb.MaxDelay = def(sb.MaxDelay, defaultMaxDelay)
	if sb.Multiplier == 0 {
		sb.Multiplier = defaultMultiplier
	}
	if sb.Jitter == 0 {
		sb.Jitter = defaultBackoffJitter
	}
	if sb.MaxDelay < sb.BaseDelay {
		return errf("Backoff.MaxDelay (%v) must not be below Backoff.BaseDelay (%v)", sb.MaxDelay, sb.BaseDelay)
	}
	so := &s.Outlier
	if so.ConsecutiveFailures == 0 {
		so.ConsecutiveFailures = defaultConsecutive
	}
	so.Interval = def(so.Interval, defaultInterval)
	if so.MinRequests == 0 {
		so.MinRequests = defaultMinRequests
	}
	if so.FailureRatio == 0 {
		so.FailureRatio = defaultFailureRatio
	}
	if so.LatencyFactor == 0 {
		so.LatencyFactor = defaultLatencyFactor
	}
	so.LatencyMinExcess = def(so.LatencyMinExcess, defaultLatencyMinExcess)
	so.BaseEjection = def(so.BaseEjection, defaultBaseEjection)
	so.MaxEjection = def(so.MaxEjection, defaultMaxEjection)
	if so.MaxEjection < so.BaseEjection {
		return errf("Outlier.MaxEjection (%v) must not be below Outlier.BaseEjection (%v)", so.MaxEjection, so.BaseEjection)
	}
	if so.Jitter == 0 {
		so.Jitter = defaultEjectionJitter
	}
	if so.MaxEjectedShare == 0 {
		so.MaxEjectedShare = defaultMaxEjectedShare
	}
	if so.PanicThreshold == 0 {
		so.PanicThreshold = defaultPanicThreshold
	}
	s.Dialer.DisableBreaker = true
	if s.Dialer.MeterProvider == nil {
		s.Dialer.MeterProvider = s.MeterProvider
	}
	return s, nil
}

// def returns d, or dflt when d is zero.
func def(d, dflt time.Duration) time.Duration {
	if d == 0 {
		return dflt
	}
	return d
}

// fieldError re-states an invalid field of an internal/retry struct with the
// name the user wrote: "herz/grpcconn: Config.Retry.Initial must be ...".
func fieldError(in string, err error) error {
	var ce *retry.ConfigError
	if errors.As(err, &ce) {
		return fmt.Errorf("herz/grpcconn: Config.%s.%s %s", in, ce.Field, ce.Rule)
	}
	return fmt.Errorf("herz/grpcconn: Config.%s: %w", in, err)
}

// budgetConfig converts c to package retry's config.
func (c BudgetConfig) budgetConfig() retry.BudgetConfig {
	return retry.BudgetConfig{Ratio: c.Ratio, MinPerSecond: c.MinPerSecond, TTL: c.TTL}
}
