// Package mysqlconn opens MySQL and MariaDB through go-sql-driver/mysql
// with every connection dialed by the herz dialer and checked by package
// sqlconn before each reuse. Only programs that import this package
// compile go-sql-driver/mysql.
//
// The connector's mysql.Config.DialFunc is [sqlconn.DialContext] (per
// connector: nothing is registered globally), so the socket under each
// connection is a tracked *dialer.Conn, probed when the connection is handed
// out again; the driver's own checkConnLiveness does the same check again
// and may be turned off (checkConnLiveness=false in the DSN). A DialFunc the
// application set, or a network it registered with
// mysql.RegisterDialContext, still dials (see [FromConfig]). The DSN's
// timeout bounds the whole connect, and rejectReadOnly keeps its meaning:
// database/sql retries a statement the server refused as read-only on a new
// connection. No query is sent that the application did not send; set
// Config.IdleHint to [sqlconn.MySQLIdleHint] to learn each session's
// wait_timeout at connect.
package mysqlconn
