// Package testenv holds herz's test-only helpers: the fault lab of the
// public package faultlab wrapped for herz's tests, skipping rules for CI,
// and database helpers, for the tests and benchmarks of transport/,
// sqlconn/, grpcconn/, dialer/, pool/ and benchmarks/. Library code never
// imports it.
//
// # Skipping, and not skipping under CI
//
// [SkipOrFail] skips with a reason, or fails when [CI] is true (env CI=true):
// CI must run every test, so a missing prerequisite there is an error.
// [RequireRoot], [RequireCommand], [RequirePG], [RequireMySQL] and
// [InNetns] use it.
//
// # The fault lab
//
// Servers, the fault proxy and the network-namespace helpers live in
// github.com/herz-go/herz/faultlab, which users soak their own clients with
// (see its docs for every fault and scenario). The names here are short
// forms for herz's tests: [NewHTTPServer], [NewProxy] and [NewEchoServer]
// take a testing.TB, fail the test instead of returning an error and close
// what they start in t.Cleanup; [InNetns] fails under CI where faultlab's
// skips; [BlackholePort], [UnblackholePort], [ConntrackExpiry] and
// [Sysctl] fail the test on error. The types are aliases of faultlab's,
// except [HTTPServer], whose Restart and GoAway report errors with
// t.Errorf:
//
//	srv := testenv.NewHTTPServer(t, testenv.HTTPOptions{IdleTimeout: 20 * time.Millisecond})
//	client := &http.Client{Transport: transport.New(transport.Config{})}
//	// ... POST with X-Request-Id ...
//	if srv.Duplicates() != 0 { t.Errorf(...) }
//
// # Databases
//
// [PGDSN] and [MySQLDSN] give the DSNs of the machine's PostgreSQL and
// MariaDB ($HERZ_PG_DSN, $HERZ_MYSQL_DSN). [KillIdlePG] and [KillIdleMySQL]
// end the idle sessions of this process (pg_terminate_backend, KILL), and
// [PGDSNWithIdleSessionTimeout] and [MySQLDSNWithWaitTimeout] make the
// server close idle sessions by itself; neither touches other processes'
// sessions on the shared server. The helpers take *sql.DB, so this package
// compiles no driver; its tests use pgx and go-sql-driver/mysql.
//
// # Redis
//
// [RequireRedis] gives the machine's Redis ([RedisAddr], started by .ci/run
// when down). [RedisDo], [RedisSend] and [RedisRead] speak RESP2 on any
// conn; [RedisSetConfig] changes a server parameter (CONFIG SET timeout 1)
// and restores it in t.Cleanup; [RedisKillClients] kills only the clients
// named with CLIENT SETNAME, never other processes' connections.
package testenv
