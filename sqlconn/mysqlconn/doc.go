// Package mysqlconn opens MySQL and MariaDB through go-sql-driver/mysql
// with every connection dialed by the herz dialer and checked by package
// sqlconn before each reuse. Only programs that import this package
// compile go-sql-driver/mysql.
//
// The connector's mysql.Config.DialFunc is [sqlconn.DialContext] (per
// connector: nothing is registered globally), so the socket under each
// connection is a tracked *dialer.Conn, probed when the connection is handed
// out again; the driver's own checkConnLiveness does the same check again
// and may be turned off (checkConnLiveness=false in the DSN). Each new
// session's wait_timeout is learned ([sqlconn.MySQLIdleHint]), so idle
// connections are evicted before the server closes them.
package mysqlconn
