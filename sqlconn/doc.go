// Package sqlconn wraps any database/sql driver so that a connection the
// server has closed (wait_timeout, idle_session_timeout,
// pg_terminate_backend, KILL, a failover) is dropped before a query is sent
// on it: the caller sees no error.
//
// # Use
//
// One sub-package per driver routes the driver's dialing through the herz
// dialer; a program compiles only the driver it imports:
//
//	db, err := pgxconn.Open("postgres://app@db:5432/app", sqlconn.Config{})  // jackc/pgx/v5 stdlib
//	db, err := pqconn.Open("postgres://app@db:5432/app", sqlconn.Config{})   // lib/pq
//	db, err := mysqlconn.Open("app@tcp(db:3306)/app", sqlconn.Config{})      // go-sql-driver/mysql
//
// [Wrap] wraps any driver.Connector and [Open] any registered driver by
// name. A driver whose dialing is not routed through [DialContext] has no
// socket herz can probe: its connections get only the ping bounded by
// Config.PingTimeout when they were idle longer than Config.PingAfterIdle,
// and the lifetime limit.
//
// # What happens at each step
//
// database/sql tells a driver connection when it is handed out and given
// back, and herz sets the socket's ownership (see package dialer) from that,
// never from read and write times:
//
//   - Connect: the new connection is Lent to its caller.
//   - IsValid (driver.Validator), called when the caller is done: the
//     connection is Returned and becomes Idle; herz's lifetime, idle and
//     learned-deadline rules and the dialer's evictor apply only now.
//   - ResetSession (driver.SessionResetter), called before a used connection
//     is handed out again: the connection is checked — lifetime (10 minutes
//     by default, at least 10% jitter), the server's learned idle deadline,
//     the idle limit, and one MSG_PEEK system call (no round trip). FIN or
//     RST: it is closed and ResetSession answers driver.ErrBadConn, so
//     database/sql silently takes another connection (nothing was sent).
//     Unread bytes: a ping bounded by Config.PingTimeout (250ms) decides, as
//     PostgreSQL legitimately sends NOTIFY and ParameterStatus messages, but
//     also the FATAL message before a kill. A connection idle longer than
//     Config.PingAfterIdle (1s) gets that bounded ping too: a silent,
//     blackholed peer shows no FIN. Then the connection is Lent.
//   - While lent — a long query, an open transaction, a held *sql.Conn —
//     herz never closes it, whatever its silence.
//
// A blackholed connection never holds a checkout longer than the ping bound
// plus one dial: the inner driver's own session reset (pgx pings after 1s
// idle) is bounded by Config.PingTimeout too.
//
// # Statements are never sent twice
//
// database/sql re-runs an operation on another connection when the driver
// answers driver.ErrBadConn. A driver that answers it after the statement
// was written makes the statement run twice (lib/pq#939; measured here on
// lib/pq 1.12.3: a statement whose backend was terminated while it ran was
// executed a second time, with no error to the caller). herz counts the
// bytes written on the socket around every Exec and Query: an ErrBadConn
// after bytes went out becomes an [*UncertainError] matching [ErrUncertain]
// (the statement may have run) and the connection is discarded. Errors of
// BEGIN, PREPARE and Ping pass unchanged: sending them again is harmless.
//
// # Connecting
//
// Connect goes through a per-server circuit breaker (package breaker) and
// retries refused and reset connects with jittered exponential backoff, one
// layer: the connector's own Dialer has its dial retries and breaker off.
// Config.ConnectTimeout (or the DSN's own connect_timeout / timeout) bounds
// the whole Connect, retries included; a timeout is not retried. Once the
// breaker is open, one probe connect at a time looks for the database every
// 10–60ms, and a caller the breaker refuses waits for the next probe
// (within its context), refused only when a probe that started after it
// arrived failed: as soon as a probe connects, its
// connection serves the next caller and nobody is refused any more, without
// waiting for the breaker's open interval to end. From the moment the
// breaker opens, connects go one at a time, and the pool refills in slow
// start (1, 2, 4, … connects at once). The
// driver's own dial hook (a DialFunc or Dialer the application set) is
// wrapped, never replaced ([WrapDial]).
//
// The driver's contract is kept: its errors are returned unchanged (only a
// rejection by the breaker is a [*ConnectError]; a context that ended while
// herz waited returns ctx.Err() itself); its deliberate ErrBadConn cases
// still let database/sql retry (Config.DeliberateBadConn); no query is sent
// that the application did not send. Idle timeouts the server announces can
// be learned at connect by asking for them (Config.IdleHint: MySQL
// wait_timeout, PostgreSQL idle_session_timeout), so idle connections are
// evicted at 75% of them; idle closes that happen anyway are learned by the
// dialer. [Inner] unwraps the connection sql.Conn.Raw passes, for code that
// asserts the driver's own type.
//
// # Secrets
//
// A connect failure is the driver's own error, as with the plain driver
// (the drivers leave the password out of theirs); herz's own errors — a
// [*ConnectError] from the breaker, an invalid DSN at Open — pass any
// driver text through [Redact] and name the server by host:port only, and
// metric attributes go through the same host:port normalisation. herz logs
// nothing. (A driver's own logger is the driver's: go-sql-driver/mysql
// logs to stderr when herz closes a dead connection under it; set its
// logger with mysql.SetLogger.)
//
// # Metrics
//
// Recorded through package internal/telemetry with the OpenTelemetry
// semantic-convention names:
//
//	db.client.connection.count        {connection}  db.client.connection.pool.name, db.client.connection.state (idle|used); from sql.DB.Stats, with OpenDB
//	db.client.connection.max          {connection}  db.client.connection.pool.name; from sql.DB.Stats, with OpenDB
//	db.client.connection.create_time  s             db.client.connection.pool.name; each successful Connect
//	db.client.connection.use_time     s             db.client.connection.pool.name; from hand-out to return
//
// and herz's own, from the connector's Dialer: herz.dials, herz.probes,
// herz.evictions by reason (lifetime, idle, learned_idle, probe_eof,
// probe_rst, probe_data, evicted), and herz.breaker.transitions of the
// connect breaker (herz.peer is Config.Server as host:port). database/sql does not expose individual acquire
// waits, timeouts or pending requests, so db.client.connection.wait_time,
// .timeouts and .pending_requests are not recorded.
package sqlconn
