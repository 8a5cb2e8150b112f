package sqlconn

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/herz-go/herz/breaker"
	"github.com/herz-go/herz/dialer"
	"github.com/herz-go/herz/internal/retry"
	"github.com/herz-go/herz/internal/telemetry"
)

// slotKey is the context key of the *slot a Connect passes to DialContext.
type slotKey struct{}

// slot links one Connect call to the socket its driver dials: DialContext
// stores the tracked connection in it, Connect wraps the driver connection
// with it.
type slot struct {
	d  *dialer.Dialer
	mu sync.Mutex
	tc *dialer.Conn // the last tracked connection dialed; nil if none
}

func (s *slot) conn() *dialer.Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tc
}

// DialContext dials through the herz Dialer of the connector whose Connect
// is running on ctx, and links the connection to the driver connection that
// Connect returns: plug it into the driver's dial hook (pgx
// pgconn.Config.DialFunc, go-sql-driver mysql.Config.DialFunc, lib/pq's
// Connector.Dialer). Outside a wrapped connector's Connect it dials with a
// plain net.Dialer.
func DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	s, _ := ctx.Value(slotKey{}).(*slot)
	if s == nil {
		var nd net.Dialer
		return nd.DialContext(ctx, network, addr)
	}
	nc, err := s.d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	if _, ok := dialer.ConnOf(nc); !ok {
		// A unix socket, which the Dialer dials untracked: adopted, so
		// that it is probed at reuse like a TCP conn.
		dc, err := s.d.Adopt(nc, network, addr)
		if err != nil {
			return nil, err // Adopt closed nc
		}
		nc = dc
	}
	s.adopt(nc)
	return nc, nil
}

// WrapDial returns a dial function for a driver's dial hook that keeps the
// dial function the application set there (an SSH tunnel, a cloud
// connector): dial still dials every connection, and inside a wrapped
// connector's Connect herz adopts the conn it returns
// ([dialer.Dialer.Adopt]): a TCP socket under it is verified (SO_ERROR,
// getpeername, a connect to itself, as herz's own connects), and the conn
// is tracked like one herz dialed and linked to the driver connection, like
// [DialContext]: probed at every reuse where a TCP or unix socket is
// reachable, with the lifetime limit and the bounded ping after
// Config.PingAfterIdle in every case. Outside a wrapped connector's Connect
// the conn is returned as dial returned it. A nil dial returns
// [DialContext].
func WrapDial(dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	if dial == nil {
		return DialContext
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		nc, err := dial(ctx, network, addr)
		if err != nil || nc == nil {
			return nc, err
		}
		s, _ := ctx.Value(slotKey{}).(*slot)
		if s == nil {
			return nc, nil
		}
		if _, ok := dialer.ConnOf(nc); !ok {
			dc, err := s.d.Adopt(nc, network, addr)
			if err != nil {
				return nil, err // Adopt closed nc
			}
			nc = dc
		}
		s.adopt(nc)
		return nc, nil
	}
}

// adopt links nc to the Connect of s when it is tracked by a herz Dialer.
func (s *slot) adopt(nc net.Conn) {
	if tc, ok := dialer.ConnOf(nc); ok {
		s.mu.Lock()
		s.tc = tc
		s.mu.Unlock()
	}
}

// Connector is a driver.Connector that wraps another one (see [Wrap]). It
// implements io.Closer: sql.DB.Close closes it, which closes the Dialer it
// owns and the wrapped connector if that is an io.Closer.
type Connector struct {
	inner driver.Connector
	cfg   Config
	err   error // invalid Config: every Connect fails with it

	d        *dialer.Dialer
	ownsD    bool
	breakers *breaker.Registry
	policy   retry.Policy
	gate     gate
	rcv      recovery
	rec      *telemetry.SQLRecorder
	hrec     *telemetry.Recorder
	pool     string

	mu         sync.Mutex
	unregister []func() error
	closed     bool
}

// Wrap returns a connector whose connections database/sql checks before
// every reuse (see the package documentation). An invalid cfg does not
// panic: every Connect of the returned connector fails with the error naming
// the field (use [Open] or [New] to see it at once).
func Wrap(inner driver.Connector, cfg Config) driver.Connector {
	c, err := New(inner, cfg)
	if err != nil {
		return &Connector{inner: inner, err: err}
	}
	return c
}

// New is [Wrap] returning the concrete *Connector, and the error of an
// invalid cfg.
func New(inner driver.Connector, cfg Config) (*Connector, error) {
	if inner == nil {
		return nil, errors.New("herz/sqlconn: New: nil driver.Connector")
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	c := &Connector{inner: inner, cfg: cfg, d: cfg.Dialer}
	c.rcv.init(c)
	c.policy = retry.Policy{Initial: cfg.ConnectBackoff, Max: cfg.ConnectBackoffMax, MaxRetries: retry.NoRetries}
	if err := c.policy.Validate(); err != nil {
		return nil, fmt.Errorf("herz/sqlconn: Config.ConnectBackoff: %w", err)
	}
	if !cfg.DisableBreaker {
		bc := cfg.Breaker
		if bc.OpenBase == 0 {
			bc.OpenBase = defaultBreakerOpenBase
		}
		if bc.OpenMax == 0 {
			bc.OpenMax = max(defaultBreakerOpenMax, bc.OpenBase)
		}
		user := bc.OnStateChange
		bc.OnStateChange = func(key string, from, to breaker.State) {
			if to == breaker.StateOpen {
				c.rcv.outage() // and the slow start of the connects
			}
			c.hrec.BreakerTransition(context.Background(), "sqlconn", key, from.String(), to.String())
			if user != nil {
				user(key, from, to)
			}
		}
		if c.breakers, err = breaker.New(bc); err != nil {
			return nil, fmt.Errorf("herz/sqlconn: Config.Breaker: %w", err)
		}
	}
	if c.rec, err = telemetry.NewSQL(cfg.MeterProvider); err != nil {
		return nil, fmt.Errorf("herz/sqlconn: %w", err)
	}
	if c.hrec, err = telemetry.New(cfg.MeterProvider); err != nil {
		return nil, fmt.Errorf("herz/sqlconn: %w", err)
	}
	c.pool = cfg.PoolName
	if c.pool == "" {
		if c.pool = telemetry.Peer(cfg.Server); c.pool == "" {
			c.pool = "database"
		}
	}
	if c.d == nil {
		c.d, err = dialer.New(dialer.Config{
			DialRetries:    -1,
			DisableBreaker: true,
			MaxLifetime:    cfg.MaxLifetime,
			MeterProvider:  cfg.MeterProvider,
		})
		if err != nil {
			return nil, fmt.Errorf("herz/sqlconn: %w", err)
		}
		c.ownsD = true
	}
	return c, nil
}

// Dialer returns the herz Dialer the connector routes dialing through (for
// its Stats and Learner).
func (c *Connector) Dialer() *dialer.Dialer { return c.d }

// Driver implements driver.Connector: the wrapped connector's driver.
func (c *Connector) Driver() driver.Driver { return c.inner.Driver() }

// Close closes the Dialer the connector owns, stops its metric callbacks and
// closes the wrapped connector if it is an io.Closer. sql.DB.Close calls it.
func (c *Connector) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	unreg := c.unregister
	c.unregister = nil
	c.mu.Unlock()
	c.rcv.close()
	var errs []error
	for _, u := range unreg {
		errs = append(errs, u())
	}
	if c.ownsD && c.d != nil {
		errs = append(errs, c.d.Close())
	}
	if cl, ok := c.inner.(io.Closer); ok {
		errs = append(errs, cl.Close())
	}
	return errors.Join(errs...)
}

// Connect implements driver.Connector: it opens a connection through the
// per-server breaker, in slow start after an outage, retrying refused and
// reset connects with jittered backoff, all within Config.ConnectTimeout
// (the whole Connect, retries included). A connect that timed out, found no
// route or failed in the handshake is not retried. The driver's own error is
// returned unchanged, so comparisons that work with the plain driver work
// here too; only a rejection by the breaker is herz's own (a
// [*ConnectError] wrapping breaker.ErrOpen), and a context that ended while
// herz itself waited returns ctx.Err() as it is.
func (c *Connector) Connect(ctx context.Context) (driver.Conn, error) {
	if c.err != nil {
		return nil, c.err
	}
	if c.cfg.ConnectTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.ConnectTimeout)
		defer cancel()
	}
	bo := c.policy.Backoff()
	attempts := 0
	for {
		conn, tried, err := c.connectOnce(ctx)
		if tried {
			attempts++
		}
		if err == nil {
			return conn, nil
		}
		if errors.Is(err, breaker.ErrOpen) {
			return nil, &ConnectError{Server: telemetry.Peer(c.cfg.Server), Attempts: attempts, Err: err}
		}
		if !tried || attempts > c.cfg.ConnectRetries || !retryableConnect(err) || ctx.Err() != nil ||
			retry.Sleep(ctx, bo.Next()) != nil {
			return nil, ownCancel(ctx, err)
		}
	}
}

// ownCancel returns ctx.Err() when err is herz's own dial error (a
// *dialer.DialError, or the *net.OpError the dialer returns as net.Dialer
// does) for a context the caller ended: a driver that passes its dial error
// on unchanged, as lib/pq and go-sql-driver do, would otherwise hand the
// caller a dial error where callers compare err == context.Canceled
// (errors.Is finds the context error either way). A driver's own error stays
// unchanged.
func ownCancel(ctx context.Context, err error) error {
	cerr := ctx.Err()
	if cerr == nil || !errors.Is(err, cerr) {
		return err
	}
	var de *dialer.DialError
	var oe *net.OpError
	switch {
	case errors.As(err, &de) && err == error(de), errors.As(err, &oe) && err == error(oe) && oe.Op == "dial":
		return cerr
	}
	return err
}

// retryableConnect reports whether a connect failure is one a new attempt
// within the connect timeout can cure: a refused or reset connect (nothing
// listens yet: a restarting server), a socket that failed herz's
// verification, or a server that is starting up (SQLSTATE 57P03). A
// timeout, an unreachable host or a cancelled context is not: a retry would
// only multiply the caller's wait.
func retryableConnect(err error) bool {
	if errors.Is(err, breaker.ErrOpen) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var de *dialer.DialError
	if errors.As(err, &de) {
		switch de.Kind {
		case "refused", "reset", "verify", "self_connect":
			return true
		}
		return false
	}
	var ve *dialer.VerifyError
	if errors.As(err, &ve) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) {
		return true // a dial function of the application's, not herz's Dialer
	}
	var st interface{ SQLState() string }
	return errors.As(err, &st) && st.SQLState() == sqlStateCannotConnectNow
}

// sqlStateCannotConnectNow is PostgreSQL's cannot_connect_now: "the database
// system is starting up" (or shutting down), sent before a session exists.
const sqlStateCannotConnectNow = "57P03"

// connectOnce makes one connect attempt. tried reports whether the driver
// was asked to connect (false: the breaker refused, or the slow-start gate's
// wait ended with ctx).
func (c *Connector) connectOnce(ctx context.Context) (_ driver.Conn, tried bool, _ error) {
	if w := c.rcv.takeSpare(); w != nil {
		return w, false, nil
	}
	var done func(error)
	if c.breakers != nil {
		var err error
		if done, err = c.breakers.Allow(c.cfg.Server); err != nil {
			if !c.rcv.waitBack(ctx) {
				if ctx.Err() != nil {
					return nil, false, ctx.Err()
				}
				return nil, false, err
			}
			if w := c.rcv.takeSpare(); w != nil {
				return w, false, nil
			}
			done = nil // the server answered a probe: connect past the breaker
		}
	}
	release, err := c.gate.acquire(ctx)
	if err != nil {
		if done != nil {
			done(nil) // not the server's failure
		}
		return nil, false, err
	}
	w, err := c.open(ctx)
	if done != nil {
		done(err)
	} else if err != nil && retryableConnect(err) {
		c.rcv.outage() // the server is gone again
	}
	release(err == nil)
	if err != nil {
		return nil, true, err
	}
	return w, true, nil
}

// open connects through the driver and wraps the connection.
func (c *Connector) open(ctx context.Context) (*conn, error) {
	s := &slot{d: c.d}
	cctx := context.WithValue(ctx, slotKey{}, s)
	start := time.Now()
	inner, err := c.inner.Connect(cctx)
	if err != nil {
		return nil, err
	}
	c.rec.ConnCreated(ctx, c.pool, time.Since(start))
	w := &conn{c: c, inner: inner, tc: s.conn(), lent: true, since: start}
	if w.tc != nil {
		if w.lease, w.lent = w.tc.Lend(); !w.lent {
			inner.Close()
			return nil, &dialer.StaleError{Reason: dialer.ReasonEvicted, Peer: w.tc.Peer()}
		}
	} else if c.cfg.MaxLifetime > 0 {
		w.expires = start.Add(time.Duration(float64(c.cfg.MaxLifetime) * (1 - lifetimeJitter*rand.Float64())))
	}
	if c.cfg.IdleHint != nil && w.tc != nil {
		if d, err := c.cfg.IdleHint(cctx, inner); err == nil && d > 0 {
			c.d.Learner().ObserveHint(w.tc.Peer(), d)
		}
	}
	return w, nil
}

// ConnectError is returned by Connect when herz itself refused to connect:
// the connect breaker was open and no probe found the server back within
// the wait. It wraps the *breaker.OpenError (errors.Is breaker.ErrOpen).
// Its message never contains a password: the server is host:port only and
// the wrapped message goes through [Redact]. A failure of the driver's own
// connect is returned unchanged.
type ConnectError struct {
	// Server is the database server, host:port.
	Server string
	// Attempts is the number of connects the driver made in this Connect
	// before the breaker refused (often 0).
	Attempts int
	// Err is the breaker's rejection (a *breaker.OpenError). Its own
	// message is not redacted.
	Err error
}

// Error implements error.
func (e *ConnectError) Error() string {
	if e.Attempts == 0 {
		return fmt.Sprintf("herz/sqlconn: connect to %s refused: %s", e.Server, Redact(e.Err.Error()))
	}
	return fmt.Sprintf("herz/sqlconn: connect to %s failed after %d attempt(s): %s", e.Server, e.Attempts, Redact(e.Err.Error()))
}

// Unwrap returns the last attempt's error.
func (e *ConnectError) Unwrap() error { return e.Err }

// gate limits concurrent connects after the breaker closed again: 1 at a
// time, then 2, 4, … doubling with each success until slowStartEnd, when
// the limit goes away. Waiting is bounded by the caller's context.
type gate struct {
	mu       sync.Mutex
	limit    int // 0: no limit
	inflight int
	wake     chan struct{} // closed when a slot frees; nil if nobody waits
}

// slowStartEnd is the concurrency at which the slow start ends.
const slowStartEnd = 64

func (g *gate) slowStart() {
	g.mu.Lock()
	g.limit = 1
	g.mu.Unlock()
}

// acquire waits for a connect slot. release(ok) frees it; ok doubles the
// limit.
func (g *gate) acquire(ctx context.Context) (release func(ok bool), err error) {
	g.mu.Lock()
	for g.limit > 0 && g.inflight >= g.limit {
		if g.wake == nil {
			g.wake = make(chan struct{})
		}
		wake := g.wake
		g.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		g.mu.Lock()
	}
	g.inflight++
	g.mu.Unlock()
	return g.release, nil
}

func (g *gate) release(ok bool) {
	g.mu.Lock()
	g.inflight--
	if ok && g.limit > 0 {
		if g.limit *= 2; g.limit >= slowStartEnd {
			g.limit = 0
		}
	}
	if g.wake != nil {
		close(g.wake)
		g.wake = nil
	}
	g.mu.Unlock()
}

// OpenDB is sql.OpenDB for a connector made by [Wrap] or [New]: it also
// reports the pool's db.client.connection.count and .max metrics from
// sql.DB.Stats until the DB is closed. Other connectors are opened as they
// are.
func OpenDB(c driver.Connector) *sql.DB {
	db := sql.OpenDB(c)
	if hc, ok := c.(*Connector); ok && hc.err == nil {
		unreg, err := hc.rec.ObservePool(hc.pool, func() telemetry.SQLPoolStats {
			s := db.Stats()
			return telemetry.SQLPoolStats{Idle: int64(s.Idle), Used: int64(s.InUse), Max: int64(s.MaxOpenConnections)}
		})
		if err == nil {
			hc.mu.Lock()
			if hc.closed {
				_ = unreg()
			} else {
				hc.unregister = append(hc.unregister, unreg)
			}
			hc.mu.Unlock()
		}
	}
	return db
}

// Open opens a database/sql pool for any registered driver with its
// connections wrapped. A driver's own dialing cannot be routed through herz
// this way, so its connections get the bounded ping after Config.
// PingAfterIdle instead of the probe; use the pgxconn, pqconn or mysqlconn
// sub-package for the probe at every reuse. Errors never carry the DSN's
// password.
func Open(driverName, dsn string, cfg Config) (*sql.DB, error) {
	probe, err := sql.Open(driverName, "")
	if err != nil {
		return nil, fmt.Errorf("herz/sqlconn: Open: %w", err)
	}
	drv := probe.Driver()
	_ = probe.Close()
	var inner driver.Connector
	if dc, ok := drv.(driver.DriverContext); ok {
		if inner, err = dc.OpenConnector(dsn); err != nil {
			return nil, fmt.Errorf("herz/sqlconn: Open %s: %s", driverName, Redact(err.Error()))
		}
	} else {
		inner = dsnConnector{dsn: dsn, drv: drv}
	}
	if cfg.Server == "" {
		cfg.Server = telemetry.Peer(dsn)
	}
	c, err := New(inner, cfg)
	if err != nil {
		return nil, err
	}
	return OpenDB(c), nil
}

// dsnConnector is database/sql's own adapter for drivers without
// DriverContext.
type dsnConnector struct {
	dsn string
	drv driver.Driver
}

func (t dsnConnector) Connect(context.Context) (driver.Conn, error) { return t.drv.Open(t.dsn) }
func (t dsnConnector) Driver() driver.Driver                        { return t.drv }
