package sqlconn

import (
	"context"
	"database/sql/driver"
	"errors"
	"time"

	"github.com/herz-go/herz/dialer"
)

// How database/sql drives a connection, and what herz does at each step
// (Go's database/sql/sql.go, read for Go 1.26):
//
//   - Connector.Connect: a new connection, handed straight to the caller
//     that asked (or, from the opener goroutine, to a waiter or the free
//     list) without IsValid or ResetSession. herz: Lend the socket at once;
//     it is the caller's.
//   - putConn, when the caller is done (rows closed, statement done, tx
//     ended, sql.Conn closed): unless the last error was ErrBadConn, it
//     calls IsValid (driver.Validator), marks the connection for a session
//     reset, then closes it (expired, too many idle) or gives it to a waiter
//     or the free list. herz: IsValid is the return: Return(lease) makes the
//     socket Idle, so herz's lifetime, idle and learned-deadline rules and
//     the evictor apply from now on. A connection known to be bad answers
//     false, and database/sql closes it.
//   - db.conn, when a caller takes a connection that was used before (from
//     the free list, or handed over by putConn to a waiter): ResetSession
//     (driver.SessionResetter), and only ErrBadConn is acted on: the
//     connection is closed and the operation retried on another one (twice
//     from the pool, then on a new connection). herz: ResetSession is the
//     hand-out: CheckIdle (lifetime, learned idle deadline, idle limit, and
//     the MSG_PEEK probe); FIN, RST or an expired limit close it and answer
//     ErrBadConn — nothing was sent, so the caller sees no error; unread
//     bytes get a ping bounded by Config.PingTimeout; then Lend(): the
//     connection is the caller's and herz never touches it until IsValid.
//   - Close: database/sql closes it (bad, expired, surplus idle, DB.Close).
//
// A connection given out without a reset (one put back with resetSession
// false after its caller's context ended) is lent on its first use
// instead: every entry point calls use() first.

// conn wraps a driver connection. database/sql never uses a driver.Conn
// from two goroutines at once (every call is under its driverConn lock), so
// its fields need no synchronisation.
type conn struct {
	c     *Connector
	inner driver.Conn
	tc    *dialer.Conn // the tracked socket; nil when the driver's dialing is not routed through herz

	lease dialer.Lease
	lent  bool
	bad   bool      // known unusable: IsValid answers false
	since time.Time // when it was lent (use_time) or returned (idle, without tc)

	expires time.Time // lifetime limit of a connection without tc; zero: none
}

// Inner returns the driver connection under a connection of a wrapped
// connector (the value sql.Conn.Raw passes to its function), or c itself
// when it is not one. Code that asserts the driver's own type (such as
// *stdlib.Conn of pgx, or go-sql-driver's connection) unwraps with it in
// one line, and keeps working with the plain driver:
//
//	err := conn.Raw(func(dc any) error {
//		pc := sqlconn.Inner(dc).(*stdlib.Conn)
//		...
//	})
//
// herz's own connection forwards every interface database/sql knows, the
// legacy driver.Execer and driver.Queryer included.
func Inner(c any) any {
	if w, ok := c.(*conn); ok {
		return w.inner
	}
	return c
}

// IsValid implements driver.Validator. database/sql calls it when the
// connection comes back from its caller: herz marks the socket idle.
func (c *conn) IsValid() bool {
	if c.bad {
		return false
	}
	if v, ok := c.inner.(driver.Validator); ok && !v.IsValid() {
		return false
	}
	if !c.lent {
		return true
	}
	c.lent = false
	now := time.Now()
	c.c.rec.ConnUsed(context.Background(), c.c.pool, now.Sub(c.since))
	c.since = now
	if c.tc != nil && !c.tc.Return(c.lease) {
		c.bad = true
		return false
	}
	return true
}

// ResetSession implements driver.SessionResetter. database/sql calls it
// when it hands a used connection out again: herz checks the idle
// connection before anything is sent, then lends it.
func (c *conn) ResetSession(ctx context.Context) error {
	if c.bad {
		return driver.ErrBadConn
	}
	idle := time.Duration(0)
	if !c.lent {
		var err error
		if idle, err = c.checkout(ctx); err != nil {
			return err
		}
	}
	r, ok := c.inner.(driver.SessionResetter)
	if !ok {
		return nil
	}
	if idle > innerResetBound {
		// The driver may ping now; a blackholed server must not hold the
		// checkout longer than the ping bound.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.c.cfg.PingTimeout)
		defer cancel()
	}
	err := r.ResetSession(ctx)
	if errors.Is(err, driver.ErrBadConn) {
		c.bad = true
	}
	return err
}

// checkout checks an idle connection and lends it, or marks it bad and
// answers driver.ErrBadConn (nothing was sent yet). It returns how long the
// connection was idle.
func (c *conn) checkout(ctx context.Context) (time.Duration, error) {
	if c.tc == nil {
		now := time.Now()
		idle := now.Sub(c.since)
		if !c.expires.IsZero() && now.After(c.expires) {
			return idle, c.drop(dialer.ReasonLifetime)
		}
		if p := c.c.cfg.PingAfterIdle; p > 0 && idle > p && !c.ping(ctx) {
			return idle, c.drop(dialer.ReasonIdle)
		}
		c.lent, c.since = true, now
		return idle, nil
	}
	idle := c.tc.IdleTime()
	reason := c.tc.CheckIdle()
	if reason != dialer.ReasonNone && reason != dialer.ReasonProbeData {
		return idle, c.drop(reason)
	}
	lease, ok := c.tc.Lend()
	if !ok {
		c.bad = true
		return idle, driver.ErrBadConn
	}
	c.lease, c.lent, c.since = lease, true, time.Now()
	switch {
	case reason == dialer.ReasonProbeData:
		// Bytes arrived while idle: PostgreSQL NOTIFY or ParameterStatus are
		// harmless, the FATAL before a kill is not. A bounded ping decides.
		if !c.ping(ctx) {
			return idle, c.drop(reason)
		}
	case c.c.cfg.PingAfterIdle > 0 && idle > c.c.cfg.PingAfterIdle:
		// The probe sees FIN and RST, not a silent (blackholed) peer: after
		// a long idle a bounded ping does.
		if !c.ping(ctx) {
			return idle, c.drop(dialer.ReasonIdle)
		}
	}
	return idle, nil
}

// drop marks c bad, closes its socket counting reason, and returns
// driver.ErrBadConn for database/sql to close it and take another.
func (c *conn) drop(reason dialer.Reason) error {
	c.bad = true
	if c.tc != nil {
		_ = c.tc.CloseFor(reason)
	}
	return driver.ErrBadConn
}

// ping pings the inner connection within Config.PingTimeout; false when it
// failed or the driver cannot ping.
func (c *conn) ping(ctx context.Context) bool {
	p, ok := c.inner.(driver.Pinger)
	if !ok {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, c.c.cfg.PingTimeout)
	defer cancel()
	return p.Ping(ctx) == nil
}

// use lends c if database/sql handed it out without a ResetSession.
func (c *conn) use(ctx context.Context) error {
	if c.lent {
		return nil
	}
	if c.bad {
		return driver.ErrBadConn
	}
	_, err := c.checkout(ctx)
	return err
}

// written returns how many bytes went out on the socket so far.
func (c *conn) written() uint64 {
	if c.tc == nil {
		return 0
	}
	return c.tc.Info().BytesWritten
}

// guard keeps an error that happened after the statement was sent from
// reaching database/sql as driver.ErrBadConn, which would run the statement
// again on another connection (lib/pq#939): such an error becomes an
// *UncertainError and the connection is discarded at its return.
func (c *conn) guard(err error, before uint64) error {
	if err == nil || c.tc == nil || !errors.Is(err, driver.ErrBadConn) || c.written() == before {
		return err
	}
	if d := c.c.cfg.DeliberateBadConn; d != nil && d(err) {
		// The driver knows the server refused the statement (go-sql-driver's
		// rejectReadOnly): database/sql retries it on another connection,
		// as the driver intends.
		c.bad = true
		return err
	}
	c.bad = true
	return &UncertainError{Err: err}
}

// ErrUncertain is matched (errors.Is) by the error of a statement whose
// connection failed after the statement was sent: it may or may not have
// run, so herz did not let database/sql send it again.
var ErrUncertain = errors.New("herz/sqlconn: connection lost after the statement was sent; it may have run")

// UncertainError is the error of a statement whose connection failed after
// the statement was sent. It matches [ErrUncertain]; the driver's error is
// in Err and deliberately not unwrapped, because it matches
// driver.ErrBadConn and database/sql would retry the statement.
type UncertainError struct {
	// Err is the driver's error.
	Err error
}

// Error implements error.
func (e *UncertainError) Error() string { return ErrUncertain.Error() + ": " + e.Err.Error() }

// Unwrap returns ErrUncertain.
func (e *UncertainError) Unwrap() error { return ErrUncertain }

// Close implements driver.Conn.
func (c *conn) Close() error {
	c.bad = true
	return c.inner.Close()
}

// Begin implements driver.Conn (deprecated by database/sql in favour of
// BeginTx, which it always uses here).
func (c *conn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

// BeginTx implements driver.ConnBeginTx. BEGIN is safe to send again, so its
// errors pass through unchanged.
func (c *conn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if err := c.use(ctx); err != nil {
		return nil, err
	}
	if b, ok := c.inner.(driver.ConnBeginTx); ok {
		return b.BeginTx(ctx, opts)
	}
	// database/sql's own fallback for drivers without BeginTx.
	if opts.Isolation != driver.IsolationLevel(0) {
		return nil, errors.New("herz/sqlconn: the driver does not support non-default isolation levels")
	}
	if opts.ReadOnly {
		return nil, errors.New("herz/sqlconn: the driver does not support read-only transactions")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	//lint:ignore SA1019 the fallback for drivers without ConnBeginTx
	return c.inner.Begin() //nolint:staticcheck
}

// Prepare implements driver.Conn.
func (c *conn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

// PrepareContext implements driver.ConnPrepareContext. Preparing is safe to
// repeat, so its errors pass through unchanged.
func (c *conn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	if err := c.use(ctx); err != nil {
		return nil, err
	}
	var (
		s   driver.Stmt
		err error
	)
	if p, ok := c.inner.(driver.ConnPrepareContext); ok {
		s, err = p.PrepareContext(ctx, query)
	} else {
		if err = ctx.Err(); err != nil {
			return nil, err
		}
		s, err = c.inner.Prepare(query)
	}
	if err != nil {
		return nil, err
	}
	return wrapStmt(c, s), nil
}

// ExecContext implements driver.ExecerContext; driver.ErrSkip (database/sql
// then prepares) when the driver has no direct exec.
func (c *conn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if err := c.use(ctx); err != nil {
		return nil, err
	}
	before := c.written()
	var (
		res driver.Result
		err error
	)
	switch e := c.inner.(type) {
	case driver.ExecerContext:
		res, err = e.ExecContext(ctx, query, args)
	case driver.Execer: //nolint:staticcheck // legacy drivers
		var vals []driver.Value
		if vals, err = legacyArgs(ctx, args); err != nil {
			return nil, err
		}
		res, err = e.Exec(query, vals)
	default:
		return nil, driver.ErrSkip
	}
	return res, c.guard(err, before)
}

// QueryContext implements driver.QueryerContext; driver.ErrSkip (database/sql
// then prepares) when the driver has no direct query. The rows are the
// driver's own, with every optional interface they have.
func (c *conn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if err := c.use(ctx); err != nil {
		return nil, err
	}
	before := c.written()
	var (
		rows driver.Rows
		err  error
	)
	switch q := c.inner.(type) {
	case driver.QueryerContext:
		rows, err = q.QueryContext(ctx, query, args)
	case driver.Queryer: //nolint:staticcheck // legacy drivers
		var vals []driver.Value
		if vals, err = legacyArgs(ctx, args); err != nil {
			return nil, err
		}
		rows, err = q.Query(query, vals)
	default:
		return nil, driver.ErrSkip
	}
	return rows, c.guard(err, before)
}

// Exec implements the legacy driver.Execer for code that reaches the
// connection through sql.Conn.Raw (database/sql itself uses ExecContext).
func (c *conn) Exec(query string, args []driver.Value) (driver.Result, error) {
	return c.ExecContext(context.Background(), query, namedArgs(args))
}

// Query implements the legacy driver.Queryer for code that reaches the
// connection through sql.Conn.Raw (database/sql itself uses QueryContext).
func (c *conn) Query(query string, args []driver.Value) (driver.Rows, error) {
	return c.QueryContext(context.Background(), query, namedArgs(args))
}

// namedArgs is database/sql's conversion of positional values.
func namedArgs(args []driver.Value) []driver.NamedValue {
	nv := make([]driver.NamedValue, len(args))
	for i, v := range args {
		nv[i] = driver.NamedValue{Ordinal: i + 1, Value: v}
	}
	return nv
}

// Ping implements driver.Pinger (a no-op when the driver cannot ping, as
// database/sql does).
func (c *conn) Ping(ctx context.Context) error {
	if p, ok := c.inner.(driver.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

// CheckNamedValue implements driver.NamedValueChecker: the driver's, or
// driver.ErrSkip for database/sql's default conversion.
func (c *conn) CheckNamedValue(nv *driver.NamedValue) error {
	if ch, ok := c.inner.(driver.NamedValueChecker); ok {
		return ch.CheckNamedValue(nv)
	}
	return driver.ErrSkip
}

// legacyArgs is database/sql's conversion for drivers without the context
// methods: named arguments are not supported, and a done ctx ends the call
// before it starts.
func legacyArgs(ctx context.Context, named []driver.NamedValue) ([]driver.Value, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	vals := make([]driver.Value, len(named))
	for i, nv := range named {
		if nv.Name != "" {
			return nil, errors.New("herz/sqlconn: the driver does not support named arguments")
		}
		vals[i] = nv.Value
	}
	return vals, nil
}
