// Package pqconn opens PostgreSQL through lib/pq with every connection
// dialed by the herz dialer and checked by package sqlconn before each
// reuse. Only programs that import this package compile lib/pq.
//
// The connector's Dialer routes lib/pq's dialing through
// [sqlconn.DialContext], so the socket under each connection is a tracked
// *dialer.Conn, probed when the connection is handed out again (a Dialer of
// the application's is kept and wrapped: see [FromConfig]). The DSN's
// connect_timeout bounds the whole connect, every host included. No query is
// sent that the application did not send; set Config.IdleHint to
// [sqlconn.PostgresIdleHint] to learn each session's idle_session_timeout at
// connect. Errors are lib/pq's own, where lib/pq returns them: an invalid
// DSN passed to [Open] fails at first use, as with sql.Open.
package pqconn
