// Package faultlab soaks your own clients under real network faults, in
// process, from `go test -bench`: a fault-injecting TCP proxy, misbehaving
// HTTP servers that count duplicate executions, network-namespace helpers
// for what only the kernel can do, and a benchmark runner that reports what
// callers saw as benchmark metrics, so that benchstat can compare a client
// before and after a change (such as switching to herz).
//
// It is the fault lab herz's own benchmarks run on (benchmarks/RESULTS.md
// comes from this code). It imports no other herz package: soaking a
// client never pulls herz into it. Everything binds 127.0.0.1 (ephemeral
// ports) or runs in a network namespace the test creates; every loop is
// bounded in count and time; nothing is global; every constructor has a
// Close that leaves no goroutine behind.
//
// # Soaking your client
//
// A benchmark file in your repository:
//
//	func BenchmarkSoak(b *testing.B) {
//		for _, sc := range []faultlab.Scenario{
//			faultlab.IdleCloseRace(faultlab.POSTs, 30*time.Millisecond),
//			faultlab.OutageAndReturn(),
//		} {
//			b.Run(sc.Name+"/mine", func(b *testing.B) {
//				faultlab.Run(b, sc, func(t faultlab.Target) (faultlab.Client, error) {
//					return faultlab.HTTPClient(newMyHTTPClient(t.TLSConfig)), nil
//				})
//			})
//		}
//	}
//
// and `go test -run '^$' -bench Soak -benchtime 1x` prints one line per
// scenario with the metrics below; `-count 10` and benchstat compare two
// versions. [Run] builds a fresh client per run through your constructor
// ([NewClient]), which receives the run's [Target] (URLs, addresses, TLS
// trust). [HTTPClient] adapts any *http.Client; [ClientFunc] adapts
// anything else (a *sql.DB, a gRPC stub, a raw pool): it gets one [Op] at a
// time from several goroutines and returns the error its caller would see.
// [Soak] is the same run without a *testing.B, returning a [Result] to
// assert on in a test (or to print from a program).
//
// # Scenarios
//
// A [Scenario] is a workload (workers, HTTP method mix, pause between
// operations, duration, an operation timeout, an optional warm-up) against
// backends it starts, under a fault schedule. Ready-made ones:
//
//   - [IdleCloseRace] "idle-close-post|get|mixed": the server closes idle
//     keep-alive connections (IdleTimeout) at about the spacing of the
//     requests, so requests race the server's FIN.
//   - [ResetStorm] "rst-storm": every n-th request is executed, then its
//     connection reset (RST) with no answer; re-sent POSTs show as dups.
//   - [OutageAndReturn] "outage-and-return": the server crashes at 1/3 of
//     the run and is back on the same port at 2/3; recover-ms.
//   - [Storm503] "503-storm": 503 with Retry-After from 1/4 to 3/4 of the
//     run; srv-reqs/op shows how much retries multiplied the load.
//   - [SlowBackend] "slow-backend": three backends, one 10× slower;
//     slow-share-% is the share it served.
//   - [GoAwayRestarts] "goaway": HTTP/2 graceful restarts (GOAWAY frames)
//     during the run.
//   - [ProxyFaults] "proxy-<fault>": your own server (database, gRPC, ...)
//     behind a [Proxy] whose fault holds for a window of the run.
//
// Build your own by filling in a Scenario: Backends ([HTTPOptions] per
// server), or Upstreams (your servers' addresses, proxied), Proxied to put
// a proxy in front of the backends too, Steps (proxy faults at fractions of
// the run) and Fault (a function that acts on the run's servers and
// proxies through [Env]).
//
// # Metrics
//
// [Run] reports, through b.ReportMetric ([Result.Report]):
//
//   - reqs: operations in the run.
//   - errors/op: share of operations whose caller got an error (for
//     [HTTPClient], any error or a status other than 200).
//   - dups: request IDs the HTTP backends executed more than once (POSTs
//     re-sent after the server acted on them); must be 0.
//   - p50-ms, p99-ms: latency percentiles of all operations, failures
//     included.
//   - new-conns: connections the client opened during the run, as the
//     backends (or the proxies in front of them) accepted them.
//   - srv-reqs/op: requests the HTTP backends saw per operation (above 1:
//     retries; below 1: failures that never reached a server).
//   - slow-share-%: the last backend's share of the requests (when
//     Scenario.ReportShare is set, as in [SlowBackend]).
//   - recover-ms: time from [Env.MarkRecovery] (the end of an outage) to the
//     first success, when there was one.
//   - leaked-goroutines, leaked-fds: goroutines and file descriptors above
//     the baseline (taken before the client was built) after the client's
//     Close, waiting up to 1 s for them to go.
//
// ns/op is reported as 0: an iteration is a whole soak run.
//
// # Timelines and figures
//
// A table hides what a fault does over time: when errors start, how long
// they last, how latency behaves while a client waits an outage out, how
// many connections it opens in the burst after a restart. Pass
// [WithFigure] to [Run] or [Soak] and the run writes its figure (errors/s,
// p99 latency and connections opened over time, the fault's window shaded)
// to an SVG or PNG file; run it before and after a change of your client
// and compare the two pictures:
//
//	faultlab.Run(b, sc, newMyClient, faultlab.WithFigure("outage-after.svg"))
//
// [WithTimeline] records the same data into [Result].Timeline without
// drawing it; [NewFigure] draws several clients' timelines on the same axes
// (herz's benchmarks and its chaos demo draw the standard library and herz
// that way). A [Timeline] is fixed-size buckets allocated before the run:
// recording an operation is a few atomic additions, no lock and no
// allocation, and without either option nothing is recorded. Scenario
// faults mark their window with [Env.FaultOn] and [Env.FaultOff]; Steps
// mark themselves. Record your own client's operations outside a soak with
// [NewTimeline] and [Timeline.Record].
//
// # The fault proxy
//
// [NewProxy] puts a TCP proxy in front of any address (PostgreSQL, MariaDB,
// Redis, a gRPC or HTTP server, an [EchoServer]). [Proxy.SetFault] switches
// it at run time, safely from any goroutine, between [NoFault], [Refuse]
// (ECONNREFUSED), [ResetAll] (RST now), [ResetAfterBytes] (RST mid-stream),
// [ResetRandom] (RST with a probability per chunk), [Blackhole] (nothing
// flows, bytes held until it heals), [AcceptAndDrop] (connections accepted,
// bytes discarded), [Latency], [Bandwidth], [CloseAfterBytes] (FIN
// mid-stream) and [IdleClose] (FIN after a quiet period):
//
//	p, err := faultlab.NewProxy("127.0.0.1:5432")
//	...
//	defer p.Close()
//	db, err := sql.Open("pgx", "postgres://u@"+p.Addr()+"/db")
//	...
//	p.SetFault(faultlab.ResetAll())
//
// A user-space proxy cannot make the kernel stop ACKing or drop SYNs: its
// own kernel still acknowledges what the client sends. For that, use a
// network namespace.
//
// # Misbehaving HTTP servers
//
// [NewHTTPServer] starts a real net/http server speaking [HTTP1], [HTTPS]
// (HTTP/2 over TLS, self-signed; trust it with [HTTPServer.ClientTLSConfig])
// or [H2C]. [HTTPOptions] make it close idle keep-alive connections
// (IdleTimeout: the idle-close race), reset every n-th request's connection
// after executing it (ResetEvery), answer slowly (Delay, or ?sleep=250ms).
// At run time [HTTPServer.SetStatus] starts and ends a 503 storm with
// Retry-After, [HTTPServer.Stop] and [HTTPServer.Restart] take it down and
// up on the same port, and [HTTPServer.GoAway] restarts it gracefully
// (GOAWAY on HTTP/2). It counts executions per [RequestIDHeader]:
// [HTTPServer.Executions] and [HTTPServer.Duplicates], the dedupe counter.
//
// # Network namespaces
//
// [InNetns] runs a test body in a fresh network namespace (only lo, up), in
// which [BlackholePort] (iptables DROP both ways: a whole-path blackhole,
// no ACK, no FIN, no RST, SYNs unanswered), [ConntrackExpiry] (a NAT that
// forgets idle connections) and [Sysctl] change the network without
// touching the host's:
//
//	func TestMyClientFindsDeadPeers(t *testing.T) {
//		faultlab.InNetns(t, func(t *testing.T) {
//			srv, _ := faultlab.NewHTTPServer(faultlab.HTTPOptions{})
//			defer srv.Close()
//			// ... warm a connection up ...
//			port := srv.Port()
//			if err := faultlab.BlackholePort(port); err != nil {
//				t.Fatal(err)
//			}
//			// ... the next request must fail within your bound ...
//		})
//	}
//
// A namespace belongs to a thread, and Go runs goroutines on any thread, so
// InNetns re-executes the test binary (filtered with -test.run to the
// calling test) as a child cloned into a new namespace, and runs body
// there; see InNetns for what that means for the code around the call. The
// helpers refuse to run anywhere but in such a child. It needs Linux, root,
// ip and iptables; without them the test is skipped with the reason
// ([NetnsAvailable]).
//
// # Leak counters
//
// [OpenFDs] and [Goroutines] report descriptors and goroutines, as the
// runner's leaked-* metrics do.
package faultlab
