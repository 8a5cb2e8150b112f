// Command sql shows herz's database/sql wrapper on the local PostgreSQL and
// MariaDB: for each, two pools, the bare driver and the driver through
// herz, are warmed up; every idle session of this process is killed (as a
// failover, a restart or the server's idle timeout would); then both pools
// run the same queries.
//
//	go run ./examples/sql      ($HERZ_PG_DSN, $HERZ_MYSQL_DSN; defaults: the local servers)
//
// go-sql-driver/mysql runs with its own checkConnLiveness off here, so that
// what is shown is herz's check.
package main
