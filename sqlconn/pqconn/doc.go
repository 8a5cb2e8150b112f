// Package pqconn opens PostgreSQL through lib/pq with every connection
// dialed by the herz dialer and checked by package sqlconn before each
// reuse. Only programs that import this package compile lib/pq.
//
// The connector's Dialer routes lib/pq's dialing through
// [sqlconn.DialContext], so the socket under each connection is a tracked
// *dialer.Conn, probed when the connection is handed out again. The
// idle_session_timeout of each new session is learned
// ([sqlconn.PostgresIdleHint]).
package pqconn
