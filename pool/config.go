package pool

import (
	"context"
	"fmt"
	"math"
	"net"
	"runtime"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/herz-go/herz/dialer"
)

// Defaults of [Config].
const (
	defaultMinMaxConns       = 4
	defaultMaxIdleTime       = 30 * time.Minute
	defaultMaxLifetime       = 10 * time.Minute
	defaultLifetimeJitter    = 0.1
	defaultHealthCheckPeriod = 15 * time.Second
	defaultHeartbeatTimeout  = time.Second
	defaultAcquireTimeout    = 30 * time.Second
)

// Config configures a [Pool]. Only Addr is required: the zero value of every
// other field is a good production default. Invalid values make [New] return
// an error naming the field.
type Config struct {
	// Addr is the server's TCP address, host:port. Required.
	Addr string

	// Name names the pool in metrics (db.client.connection.pool.name).
	// Default: Addr.
	Name string

	// Dialer dials, verifies and tracks the pool's connections. Share one
	// Dialer between pools (and with transport/sqlconn) to share what it
	// learns about peers and its per-address breakers; the pool never closes
	// a Dialer it was given. A shared Dialer's own rules (its MaxLifetime,
	// idle limit and learned idle deadlines) apply to idle conns too.
	// Default (nil): a private Dialer with dialer.Config defaults, except
	// that it has no lifetime of its own (the pool's MaxLifetime governs)
	// and no dial breaker: the pool's own outage handling (see
	// [Pool.Acquire]) holds dials off while the server is down and finds it
	// back within about 50ms, which a breaker's open interval would only
	// delay. The pool closes it on Close. A shared Dialer's breaker still
	// applies to the pool's dials and probes.
	Dialer *dialer.Dialer

	// MaxConns is the most connections the pool holds, idle and acquired
	// together. Default max(4, runtime.NumCPU()); zero means the default;
	// negative is invalid.
	MaxConns int

	// MinIdle is the number of idle connections the pool keeps ready: the
	// background loop dials new ones (one at first, then doubling while dials
	// succeed, with exponential backoff after failures) whenever fewer are
	// idle and the pool is below MaxConns. Default 0 (none kept warm);
	// negative or above MaxConns is invalid.
	MinIdle int

	// MaxIdleTime closes a connection that no caller has acquired for this
	// long, while more than MinIdle are idle (by the background health
	// check; it shrinks the pool, so Acquire does not apply it). Default 30 min; zero means the
	// default; negative means no limit.
	MaxIdleTime time.Duration

	// MaxLifetime closes a connection once it is this old, when it is idle or
	// released (never while acquired). Each connection's limit is shortened
	// by a random fraction up to LifetimeJitter, so connections made together
	// do not expire together. Default 10 min; zero means the default;
	// negative means no limit.
	MaxLifetime time.Duration

	// LifetimeJitter is the largest fraction of MaxLifetime removed at random
	// per connection. Default 0.1; zero means the default; must be in
	// [0.1, 1) when set, so expiries always spread.
	LifetimeJitter float64

	// HealthCheckPeriod is how often the background loop checks every idle
	// connection: closes the dead (probe), expired and over-idle ones, runs
	// Heartbeat on the others, and refills MinIdle. Default 15s; zero means
	// the default; negative disables the background loop (connections are
	// still checked when handed out).
	HealthCheckPeriod time.Duration

	// Heartbeat, if not nil, is a protocol-level ping (a Redis PING, a NOOP)
	// run by the background loop on each connection idle for at least
	// HealthCheckPeriod/2; a connection whose Heartbeat fails is closed.
	// It must leave the connection ready for the next request and honour
	// ctx, whose deadline is HeartbeatTimeout. It runs on no lock. Default
	// nil: the liveness probe only.
	Heartbeat func(ctx context.Context, conn net.Conn) error

	// HeartbeatTimeout bounds one Heartbeat call (it becomes the connection's
	// deadline, reset afterwards). Default 1s; zero means the default;
	// negative is invalid.
	HeartbeatTimeout time.Duration

	// AcquireTimeout bounds Acquire when the caller's context has a later
	// deadline or none. Default 30s; zero means the default; negative means
	// no limit beyond the caller's context.
	AcquireTimeout time.Duration

	// FailFast makes Acquire fail at once, with the dial error that marked
	// the server down, while the pool knows it is down (see [Pool.Acquire]),
	// instead of waiting for the pool's prober within the caller's context.
	// The prober still finds the server back, and no caller dials meanwhile.
	// Default false: callers wait, within their deadline.
	FailFast bool

	// MeterProvider records OpenTelemetry metrics (see the package doc).
	// Default: the global one, which records nothing until the application
	// installs one.
	MeterProvider metric.MeterProvider
}

// settings is the frozen, validated copy of a Config with defaults filled in.
type settings struct {
	Config
	ownDialer bool
}

// withDefaults validates cfg and fills in its defaults.
func withDefaults(cfg Config) (settings, error) {
	s := settings{Config: cfg}
	if cfg.Addr == "" {
		return s, fmt.Errorf("herz/pool: Config.Addr is required")
	}
	if _, _, err := net.SplitHostPort(cfg.Addr); err != nil {
		return s, fmt.Errorf("herz/pool: Config.Addr must be host:port, got %q: %w", cfg.Addr, err)
	}
	if s.Name == "" {
		s.Name = cfg.Addr
	}
	switch {
	case cfg.MaxConns < 0:
		return s, fmt.Errorf("herz/pool: Config.MaxConns must be >= 0, got %d", cfg.MaxConns)
	case cfg.MaxConns > math.MaxInt32:
		return s, fmt.Errorf("herz/pool: Config.MaxConns must be <= %d, got %d", math.MaxInt32, cfg.MaxConns)
	case cfg.MaxConns == 0:
		s.MaxConns = max(defaultMinMaxConns, runtime.NumCPU())
	}
	if cfg.MinIdle < 0 || cfg.MinIdle > s.MaxConns {
		return s, fmt.Errorf("herz/pool: Config.MinIdle must be in [0, MaxConns=%d], got %d", s.MaxConns, cfg.MinIdle)
	}
	if cfg.MaxIdleTime == 0 {
		s.MaxIdleTime = defaultMaxIdleTime
	}
	if cfg.MaxLifetime == 0 {
		s.MaxLifetime = defaultMaxLifetime
	}
	switch j := cfg.LifetimeJitter; {
	case math.IsNaN(j) || math.IsInf(j, 0) || (j != 0 && (j < defaultLifetimeJitter || j >= 1)):
		return s, fmt.Errorf("herz/pool: Config.LifetimeJitter must be in [0.1,1), got %v", j)
	case j == 0:
		s.LifetimeJitter = defaultLifetimeJitter
	}
	if cfg.HealthCheckPeriod == 0 {
		s.HealthCheckPeriod = defaultHealthCheckPeriod
	}
	if cfg.Heartbeat != nil && s.HealthCheckPeriod < 0 {
		return s, fmt.Errorf("herz/pool: Config.Heartbeat is run by the health check, which Config.HealthCheckPeriod=%v disables", cfg.HealthCheckPeriod)
	}
	switch {
	case cfg.HeartbeatTimeout < 0:
		return s, fmt.Errorf("herz/pool: Config.HeartbeatTimeout must be >= 0, got %v", cfg.HeartbeatTimeout)
	case cfg.HeartbeatTimeout == 0:
		s.HeartbeatTimeout = defaultHeartbeatTimeout
	}
	if cfg.AcquireTimeout == 0 {
		s.AcquireTimeout = defaultAcquireTimeout
	}
	return s, nil
}

// privateDialerConfig is the dialer.Config of the Dialer a pool makes when
// Config.Dialer is nil: defaults, without a breaker (the pool's outage
// handling replaces it).
func privateDialerConfig(mp metric.MeterProvider) dialer.Config {
	var c dialer.Config
	c.MaxLifetime = -1 // the pool's own MaxLifetime governs
	c.DisableBreaker = true
	c.MeterProvider = mp
	return c
}
