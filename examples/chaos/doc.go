// Command chaos is herz's demo: local servers that misbehave on purpose, and
// what the standard library and herz callers see, side by side.
//
//	go run ./examples/chaos     (or: make demo)
//
// Everything runs on 127.0.0.1 and ends by itself in under a minute. The
// HTTP, SSE and upgrade rows need nothing installed; the PostgreSQL, MariaDB
// and Redis rows run when those servers listen on their usual 127.0.0.1
// ports ($HERZ_PG_DSN and $HERZ_MYSQL_DSN choose other databases) and are
// listed as skipped, with the reason, otherwise. -short (or HERZ_DEMO_SHORT=1)
// runs a tenth of the HTTP requests and no database rows: what the tests run.
package main
