package dialer

import (
	"fmt"
	"math"
	"net"
	"syscall"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/herz-go/herz/adaptive"
	"github.com/herz-go/herz/breaker"
	"github.com/herz-go/herz/keepalive"
)

// Config configures a [Dialer]. The zero value is a good production default:
// verified connects, kernel-derived keepalive and dead-path bound, two dial
// retries with jittered backoff, a per-address breaker and the evictor on.
type Config struct {
	// Timeout bounds the whole connect: every attempt, retry and backoff of
	// one DialContext call (the context's deadline may end it sooner).
	// Default (zero) 30s, the same as http.DefaultTransport. Negative is invalid.
	Timeout time.Duration

	// Keepalive sets TCP keepalive idle/interval/count. Zero fields take the
	// values of the adaptive Profile, which keeps idle + interval below NAT and
	// load-balancer idle limits.
	Keepalive keepalive.Params
	// DisableKeepalive turns TCP keepalive off.
	DisableKeepalive bool

	// UserTimeout is the dead-path bound (Linux): a connection on which
	// written data has waited this long while the peer acknowledged nothing
	// at all is dead, and its owner's blocked or next Read or Write fails
	// with "connection timed out" (ETIMEDOUT), as when the kernel gives up.
	// The Dialer's watchdog judges it from the kernel's own clocks
	// (TCP_INFO), so a live peer that keeps its receive window closed but
	// answers the kernel's probes is never cut, however long it stalls
	// (unlike a fixed TCP_USER_TIMEOUT, which Linux also applies to
	// zero-window probing). It also bounds each connect's handshake
	// (TCP_USER_TIMEOUT while connecting). Zero takes the adaptive Profile's
	// value; negative disables both (the kernel's ~15 min). At most 596h
	// (the kernel's limit, 2^31-1 ms).
	UserTimeout time.Duration

	// DialRetries is the number of extra connect attempts after a failure that
	// is safe to retry (refused, reset during connect, verification failure,
	// temporary address or DNS errors). Default 2; negative disables retries.
	DialRetries int
	// DialBackoff is the delay before the first retry, doubled per retry with
	// ±50% jitter. Default (zero) 10ms: a refused connect is retried soon
	// enough that a caller waiting on a restarting server has its first
	// success within a few tens of milliseconds of the server's return.
	// Negative is invalid.
	DialBackoff time.Duration
	// DialBackoffMax caps the retry delay. Default (zero) 1s, or DialBackoff
	// when that is larger; negative or below DialBackoff is invalid.
	DialBackoffMax time.Duration

	// Breaker configures the per-address dial circuit breaker (zero value:
	// package breaker's defaults).
	Breaker breaker.Config
	// DisableBreaker turns the per-address dial breaker off.
	DisableBreaker bool

	// MaxLifetime bounds how long a pooled connection is reused: an idle
	// connection older than this is closed and not handed out again, and an
	// owner of a multiplexed one drains it ([Conn.Expired]). Each connection's
	// limit is shortened by a random fraction up to LifetimeJitter so that
	// connections do not expire together. Lent and given-away connections are
	// never cut. Default (zero) 10 minutes; negative means no limit.
	MaxLifetime time.Duration
	// LifetimeJitter is the largest fraction of MaxLifetime removed at random.
	// Default (zero) 0.1; must be in [0,1).
	LifetimeJitter float64
	// IdleTimeout closes connections idle in their pool longer than this.
	// Default (zero): the adaptive Profile's idle timeout, which stays below
	// NAT and load-balancer idle limits; negative disables the idle limit.
	IdleTimeout time.Duration

	// ReuseProbeIdle is the idle time after which a connection handed out
	// again is probed before use ([Conn.CheckIdle], [Conn.LendRefusingStale]).
	// Default (zero) 1ms (one syscall, ~0.5µs); negative disables that probe,
	// leaving the lifetime, learned-deadline and idle-limit checks.
	ReuseProbeIdle time.Duration

	// DisableEvictor turns the background evictor off ([Dialer.EvictStale] still works).
	DisableEvictor bool
	// ProbeInterval is how often the evictor probes an idle connection (and
	// reads its TCP_INFO to score it). Zero takes the adaptive Profile's probe
	// interval (0.6–0.85 × tcp_fin_timeout); negative disables background probes.
	ProbeInterval time.Duration
	// EvictThreshold is the health score below which an idle connection is
	// evicted. Default (zero) 0.5; must be in (0,1].
	EvictThreshold float64

	// Profile supplies kernel-derived timeouts. Default: a Source reading /proc/sys.
	Profile *adaptive.Source
	// Learner learns each peer's idle timeout. Default: a private Learner.
	// Share one between Dialers to share what they learn.
	Learner *adaptive.Learner

	// LocalAddr, if set, is the local address to dial from.
	LocalAddr net.Addr
	// Resolver, if set, resolves host names.
	Resolver *net.Resolver
	// Control, if set, runs after herz's own socket options are applied.
	Control func(network, address string, c syscall.RawConn) error

	// OnClose, if set, is called once for every tracked connection when it
	// closes (by its owner or by herz), with the address it was dialed with
	// and how long it was open. It runs on the closing goroutine with no
	// herz lock held, and must not block.
	OnClose func(peer string, open time.Duration)

	// MeterProvider records OpenTelemetry metrics. Default: the global one.
	MeterProvider metric.MeterProvider
}

const (
	defaultTimeout        = 30 * time.Second
	defaultDialRetries    = 2
	defaultDialBackoff    = 10 * time.Millisecond
	defaultDialBackoffMax = time.Second
	defaultLifetimeJitter = 0.1
	defaultReuseProbeIdle = time.Millisecond
	defaultMaxLifetime    = 10 * time.Minute
	defaultEvictThreshold = 0.5

	// maxUserTimeout is the largest TCP_USER_TIMEOUT Linux accepts (an int
	// of milliseconds).
	maxUserTimeout = math.MaxInt32 * time.Millisecond
)

// withDefaults validates c and returns the frozen copy a Dialer keeps.
func (c Config) withDefaults() (Config, error) {
	switch {
	case c.UserTimeout > maxUserTimeout:
		return c, fmt.Errorf("herz/dialer: Config.UserTimeout must be at most %v (the kernel's TCP_USER_TIMEOUT limit), got %v", maxUserTimeout, c.UserTimeout)
	case c.Timeout < 0:
		return c, fmt.Errorf("herz/dialer: Config.Timeout must not be negative, got %v", c.Timeout)
	case c.DialBackoff < 0:
		return c, fmt.Errorf("herz/dialer: Config.DialBackoff must not be negative, got %v", c.DialBackoff)
	case c.DialBackoffMax < 0:
		return c, fmt.Errorf("herz/dialer: Config.DialBackoffMax must not be negative, got %v", c.DialBackoffMax)
	case !(c.LifetimeJitter >= 0 && c.LifetimeJitter < 1): // also rejects NaN
		return c, fmt.Errorf("herz/dialer: Config.LifetimeJitter must be in [0,1), got %v", c.LifetimeJitter)
	case !(c.EvictThreshold >= 0 && c.EvictThreshold <= 1):
		return c, fmt.Errorf("herz/dialer: Config.EvictThreshold must be in (0,1], got %v", c.EvictThreshold)
	case c.DialBackoffMax != 0 && c.DialBackoffMax < c.DialBackoff:
		return c, fmt.Errorf("herz/dialer: Config.DialBackoffMax (%v) must not be below Config.DialBackoff (%v)", c.DialBackoffMax, c.DialBackoff)
	}
	if err := c.Keepalive.Validate(); err != nil {
		return c, fmt.Errorf("herz/dialer: Config.Keepalive: %w", err)
	}
	if c.Timeout == 0 {
		c.Timeout = defaultTimeout
	}
	if c.DialRetries == 0 {
		c.DialRetries = defaultDialRetries
	} else if c.DialRetries < 0 {
		c.DialRetries = 0
	}
	if c.DialBackoff == 0 {
		c.DialBackoff = defaultDialBackoff
	}
	if c.DialBackoffMax == 0 {
		c.DialBackoffMax = max(defaultDialBackoffMax, c.DialBackoff)
	}
	switch {
	case c.MaxLifetime == 0:
		c.MaxLifetime = defaultMaxLifetime
	case c.MaxLifetime < 0:
		c.MaxLifetime = 0 // no limit
	}
	if c.LifetimeJitter == 0 {
		c.LifetimeJitter = defaultLifetimeJitter
	}
	if c.ReuseProbeIdle == 0 {
		c.ReuseProbeIdle = defaultReuseProbeIdle
	}
	if c.EvictThreshold == 0 {
		c.EvictThreshold = defaultEvictThreshold
	}
	return c, nil
}
