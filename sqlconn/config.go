package sqlconn

import (
	"context"
	"database/sql/driver"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/herz-go/herz/breaker"
	"github.com/herz-go/herz/dialer"
)

// Defaults of Config; a zero field means its default.
const (
	DefaultPingTimeout       = 250 * time.Millisecond
	DefaultPingAfterIdle     = time.Second
	DefaultConnectTimeout    = 10 * time.Second
	DefaultConnectRetries    = 2
	DefaultConnectBackoff    = 50 * time.Millisecond
	DefaultConnectBackoffMax = time.Second
	DefaultMaxLifetime       = 10 * time.Minute
	// defaultBreakerOpenBase and defaultBreakerOpenMax are the connect
	// breaker's open interval unless Config.Breaker sets one: short, so that
	// the first connect after the database is back comes within about a
	// second, and capped there (one probing connect per second at most).
	defaultBreakerOpenBase = 500 * time.Millisecond
	defaultBreakerOpenMax  = time.Second
	// lifetimeJitter is the largest fraction of MaxLifetime removed at
	// random from each connection's limit (so they do not expire together).
	lifetimeJitter = 0.1
	// innerResetBound: a connection idle longer than this gets the inner
	// driver's ResetSession bounded by PingTimeout, since drivers ping then
	// (pgx after 1s) and a blackholed peer would stall the checkout.
	innerResetBound = time.Second
)

// Config configures a wrapped connector. The zero value is the production
// default: a herz Dialer owned by the connector, a probe at every reuse, a
// 250ms bound on the ping of a suspect connection, a per-server breaker with
// jittered connect backoff, and a 10 minute lifetime with 10% jitter.
type Config struct {
	// Dialer dials the driver's connections when the driver's dialing is
	// routed through [DialContext] (the pgxconn, pqconn and mysqlconn
	// sub-packages do that). Default (nil): a Dialer owned by the connector
	// and closed with it, with its own dial retries and breaker off — the
	// connector's breaker and backoff are the one retry layer — and
	// MaxLifetime as below. A Dialer passed here is used as it is and never
	// closed by the connector.
	Dialer *dialer.Dialer

	// Server names the database server (host:port): the key of the connect
	// breaker and, through telemetry.Peer, the default pool name. The
	// sub-packages fill it from the DSN. Default (empty): "database". Any
	// userinfo in it is dropped, never logged.
	Server string
	// PoolName is the db.client.connection.pool.name metric attribute.
	// Default (empty): Server without credentials.
	PoolName string

	// PingTimeout bounds the ping sent on a connection that is suspect when
	// handed out again (unread bytes waiting, or no socket to probe), and the
	// inner driver's session reset after a long idle. Default (zero) 250ms;
	// negative is invalid.
	PingTimeout time.Duration
	// PingAfterIdle: a connection idle longer than this is pinged, bounded
	// by PingTimeout, before it is handed out again. The probe at every
	// reuse finds a FIN or an RST without a round trip; this ping finds what
	// it cannot: a peer gone silent (blackholed) and, for a connection
	// whose socket herz cannot see, a dead one. A driver without
	// driver.Pinger cannot answer, so its connections idle that long are
	// replaced. Default (zero) 1s, as pgxpool; negative disables the ping.
	PingAfterIdle time.Duration

	// ConnectTimeout bounds a whole Connect: every attempt, dial and
	// handshake, and the backoff between them (the caller's context may end
	// it sooner). A connect that timed out is not retried. The sub-packages
	// set it from the DSN's own timeout (PostgreSQL connect_timeout, MySQL
	// timeout) when it is zero. Default (zero) 10s; negative leaves only the
	// caller's context.
	ConnectTimeout time.Duration
	// ConnectRetries is the number of extra connect attempts after a
	// refused or reset connect, or a server that is starting up (SQLSTATE
	// 57P03), within ConnectTimeout. Timeouts, unreachable hosts and other
	// handshake errors (authentication, unknown database) are not retried.
	// Default (zero) 2; negative disables retries.
	ConnectRetries int
	// ConnectBackoff is the delay before the first connect retry, doubled
	// per retry with ±50% jitter. Default (zero) 50ms; negative is invalid.
	ConnectBackoff time.Duration
	// ConnectBackoffMax caps the connect retry delay before jitter. Default
	// (zero) 1s, or ConnectBackoff when that is larger; negative or below
	// ConnectBackoff is invalid.
	ConnectBackoffMax time.Duration

	// Breaker configures the per-server connect breaker. Zero fields take
	// package breaker's defaults (open after 5 failures in a row, one probing
	// connect while half-open, ±20% jitter) except the open interval:
	// OpenBase 500ms and OpenMax 1s unless set. While it is open, a probe
	// connect looks for the database every 10–60ms, and a caller it
	// refuses waits for the next probe (within its context): it is refused
	// only when a probe that started after it arrived failed, and connects as
	// soon as one succeeds. The first connect after the database is back
	// comes within one probe interval, not at the end of the open interval. From the
	// moment it opens, connects go 1 at a time, then 2, 4, … with each
	// success up to 64, then no limit (slow start).
	Breaker breaker.Config
	// DisableBreaker turns the connect breaker (and the slow start) off.
	DisableBreaker bool

	// MaxLifetime bounds how long a connection is reused: one older than
	// this is closed instead of being handed out again, never while it is
	// in use. Each connection's limit is shortened by a random fraction up
	// to 10%. It applies through the connector's own Dialer (a Dialer passed
	// in Config.Dialer applies its own) and to connections without a tracked
	// socket. Default (zero) 10 minutes; negative means no limit.
	MaxLifetime time.Duration

	// IdleHint, if set, runs once on every new connection and returns the
	// idle timeout the server announced for it (MySQL wait_timeout,
	// PostgreSQL idle_session_timeout; 0 for none). It is fed to the
	// Dialer's learner, so idle connections are evicted before the server
	// closes them. [PostgresIdleHint] and [MySQLIdleHint] are ready-made
	// ones; each runs a query the application did not send, so none is set
	// unless asked for. An error is ignored (no hint). Default (nil): none;
	// idle closes are learned by the Dialer when they happen.
	IdleHint func(ctx context.Context, conn driver.Conn) (time.Duration, error)

	// DeliberateBadConn, if set, reports whether a driver.ErrBadConn the
	// driver returned after the statement was sent is one it returns on
	// purpose, knowing the server refused the statement (go-sql-driver's
	// rejectReadOnly: the server answered with a read-only error). herz then
	// passes it to database/sql, which retries on another connection, as the
	// driver intends; any other ErrBadConn after bytes were sent becomes an
	// [*UncertainError]. The mysqlconn sub-package sets it when the DSN has
	// rejectReadOnly=true. Default (nil): none.
	DeliberateBadConn func(err error) bool

	// MeterProvider records the db.client.connection.* metrics and, for the
	// connector's own Dialer, herz's dial, probe and eviction metrics.
	// Default (nil): the global provider.
	MeterProvider metric.MeterProvider
}

// withDefaults validates c and returns it with every zero field replaced by
// its default.
func (c Config) withDefaults() (Config, error) {
	switch {
	case c.PingTimeout < 0:
		return c, fmt.Errorf("herz/sqlconn: Config.PingTimeout must be >= 0, got %v", c.PingTimeout)
	case c.ConnectBackoff < 0:
		return c, fmt.Errorf("herz/sqlconn: Config.ConnectBackoff must be >= 0, got %v", c.ConnectBackoff)
	case c.ConnectBackoffMax < 0:
		return c, fmt.Errorf("herz/sqlconn: Config.ConnectBackoffMax must be >= 0, got %v", c.ConnectBackoffMax)
	}
	if c.PingTimeout == 0 {
		c.PingTimeout = DefaultPingTimeout
	}
	if c.PingAfterIdle == 0 {
		c.PingAfterIdle = DefaultPingAfterIdle
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.ConnectRetries == 0 {
		c.ConnectRetries = DefaultConnectRetries
	}
	if c.ConnectRetries < 0 {
		c.ConnectRetries = 0
	}
	if c.ConnectBackoff == 0 {
		c.ConnectBackoff = DefaultConnectBackoff
	}
	if c.ConnectBackoffMax == 0 {
		c.ConnectBackoffMax = max(DefaultConnectBackoffMax, c.ConnectBackoff)
	}
	if c.ConnectBackoffMax < c.ConnectBackoff {
		return c, fmt.Errorf("herz/sqlconn: Config.ConnectBackoffMax must be >= Config.ConnectBackoff (%v), got %v", c.ConnectBackoff, c.ConnectBackoffMax)
	}
	if c.MaxLifetime == 0 {
		c.MaxLifetime = DefaultMaxLifetime
	}
	if c.Server == "" {
		c.Server = "database"
	}
	return c, nil
}
