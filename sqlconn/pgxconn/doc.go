// Package pgxconn opens PostgreSQL through pgx/v5's database/sql driver
// (github.com/jackc/pgx/v5/stdlib) with every connection dialed by the herz
// dialer and checked by package sqlconn before each reuse. Only programs
// that import this package compile pgx.
//
// The connection's DialFunc is [sqlconn.DialContext] (a DialFunc the
// application set is kept and wrapped: see [FromConfig]), so the socket under
// each pgx connection is a tracked *dialer.Conn: a connection handed out
// again is probed at every reuse (one MSG_PEEK system call, no round trip).
// pgx's own ping after one second idle, bounded only by the caller's
// context, is turned off: sqlconn's ping after Config.PingAfterIdle (1s)
// replaces it, bounded by Config.PingTimeout. The DSN's connect_timeout
// bounds the whole connect. No query is sent that the application did not
// send; set Config.IdleHint to [sqlconn.PostgresIdleHint] to learn each
// session's idle_session_timeout at connect. A host given as
// a Unix socket directory is dialed by herz and adopted: its connections are
// probed at reuse (no TCP checks), with the bounded ping after
// Config.PingAfterIdle.
package pgxconn
