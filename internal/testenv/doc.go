// Package testenv is herz's fault laboratory: real servers, a fault-injecting
// proxy, network namespaces and database helpers for the tests and
// benchmarks of transport/, sqlconn/, grpcconn/, dialer/, pool/ and
// benchmarks/. Library code never imports it, and it imports no other herz
// package. Every server and proxy binds 127.0.0.1 (ephemeral ports) and is
// closed in t.Cleanup; none leaves a goroutine behind.
//
// # Skipping, and not skipping under CI
//
// [SkipOrFail] skips with a reason, or fails when [CI] is true (env CI=true):
// CI must run every test, so a missing prerequisite there is an error.
// [RequireRoot], [RequireCommand], [RequirePG] and [RequireMySQL] use it.
//
// # A misbehaving HTTP server
//
// [NewHTTPServer] starts a real net/http server speaking [HTTP1], [HTTPS]
// (HTTP/2 over TLS, self-signed; trust it with [HTTPServer.ClientTLSConfig]
// or use [HTTPServer.Client]) or [H2C]. [HTTPOptions] make it close idle
// keep-alive connections (IdleTimeout), reset every n-th request's
// connection with an RST after executing it (ResetEvery), answer slowly
// (Delay, or ?sleep=250ms per request), with a body of any size. At run
// time, [HTTPServer.SetStatus] starts and ends a 503 storm with Retry-After,
// [HTTPServer.Stop] and [HTTPServer.Restart] take it down and up on the same
// port, and [HTTPServer.GoAway] restarts it gracefully (GOAWAY on HTTP/2).
// It counts executions per X-Request-Id ([HTTPServer.Executions]) and
// [HTTPServer.Duplicates], which must stay 0 in every soak (P10):
//
//	srv := testenv.NewHTTPServer(t, testenv.HTTPOptions{IdleTimeout: 20 * time.Millisecond})
//	client := &http.Client{Transport: transport.New(transport.Config{})}
//	// ... POST with X-Request-Id ...
//	if srv.Duplicates() != 0 { t.Errorf(...) }
//
// # A fault-injecting TCP proxy
//
// [NewProxy] puts a TCP proxy in front of anything (PostgreSQL, MariaDB, a
// gRPC or HTTP server, an [EchoServer]). [Proxy.SetFault] switches it at run
// time between [NoFault], [Refuse] (dials get ECONNREFUSED), [ResetAll]
// (every connection gets an RST), [Blackhole] (nothing flows, no FIN, no
// RST), [Latency] and [CloseAfterBytes] (a peer dying mid-message):
//
//	srv := testenv.NewHTTPServer(t, testenv.HTTPOptions{})
//	p := testenv.NewProxy(t, srv.Addr()) // or "127.0.0.1:5432"
//	// ... requests to "http://" + p.Addr() ...
//	p.SetFault(testenv.Blackhole())
//
// A user-space proxy cannot make the kernel stop ACKing or drop SYNs: its
// own kernel still acknowledges what the client sends. For that, use a
// network namespace.
//
// # Network namespaces
//
// [InNetns] runs a test body in a fresh network namespace (only lo, up), in
// which [BlackholePort] (iptables DROP both ways: no ACK, no FIN, no RST,
// SYNs unanswered), [ConntrackExpiry] (a NAT that forgets idle connections)
// and [Sysctl] change the network without touching the host's:
//
//	func TestDeadConnFoundAfterBlackhole(t *testing.T) {
//		testenv.InNetns(t, func(t *testing.T) {
//			srv := testenv.NewHTTPServer(t, testenv.HTTPOptions{Protocol: testenv.HTTPS})
//			// ... warm a connection up ...
//			testenv.BlackholePort(t, testenv.Port(t, srv.Addr()))
//			// ... the next request must fail within the configured bound ...
//		})
//	}
//
// A namespace belongs to a thread, and Go runs goroutines on any thread, so
// InNetns re-executes the test binary (filtered with -test.run to the
// calling test) as a child cloned into a new namespace, and runs body
// there; see InNetns for what that means for the code around the call. The
// helpers refuse to run anywhere but in such a child. Needs Linux, root, ip
// and iptables.
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
// # Leak counters
//
// [OpenFDs] and [Goroutines] report descriptors and goroutines for soak
// benchmarks; tests check goroutines with goleak in TestMain, as this
// package's own tests do (in the InNetns children too).
package testenv
