// Package grpcconn makes plain grpc-go clients resilient: dial options that
// route connections through the herz dialer, keepalive settings servers
// accept, unary and stream interceptors with a per-target breaker and safe
// retries, and a round-robin balancer with outlier ejection that works
// without xDS. It is the only herz package that imports google.golang.org/grpc.
//
//	conn, err := grpc.NewClient(target, append(grpcconn.DialOptions(grpcconn.Config{}), creds)...)
//
// or, to release the dialer and metric callbacks on Close:
//
//	c, err := grpcconn.NewClient(target, grpcconn.Config{}, creds)
//	defer c.Close()
//
// # Connections
//
// Connections are dialed by a [dialer.Dialer] (verified connects, TCP
// keepalive derived from the kernel, a watchdog for dead paths) through
// grpc.WithContextDialer. A gRPC transport multiplexes its connection, so
// herz lends it out for life ([dialer.Conn.LendForLife]): it is never closed
// or refused for its age, idleness or a probe, and long streams are never
// cut. Max lifetime (Config.Dialer.MaxLifetime, default 10 min with jitter)
// is a graceful drain: every Outlier.Interval the balancer looks for
// connections past it ([dialer.Conn.Expired]) and recycles their backends'
// subchannels. grpc-go then closes the old transport only after its last
// stream ended (GracefulClose: no new streams, none cut) while new calls go
// to a new connection. The balancer finds the connections through the
// Options that dialed them: with one ClientConn per Options ([NewClient]) the
// match is exact; several ClientConns sharing one Options and one backend
// address may recycle each other's (a drain too early, never a cut).
//
// The dialer's per-address breaker is off here: grpc-go's reconnect backoff
// (Config.Backoff: 100ms × 1.6^n, capped at 500ms, ±20%) already holds a
// failing address off, and the two in series would delay the first success
// after a restart. ConnectParams.MinConnectTimeout is 5s (grpc-go: 20s), so a
// reconnect into a blackhole fails within the dead-peer bound.
//
// # Keepalive
//
// grpc-go servers accept a PING at most every 5 minutes by default
// (keepalive.EnforcementPolicy.MinTime), and none on a connection without
// streams; the third early PING gets GOAWAY ENHANCE_YOUR_CALM
// "too_many_pings" and the connection is closed with every RPC on it.
// grpc-go clients only double their interval afterwards. herz never pings
// faster than Config.Keepalive.ServerMinTime (default 5 min, raise or lower
// it to your servers' policy): a shorter Keepalive.Time is raised to it.
// Dead peers are found by the kernel instead, which the server's ping policy
// does not see: the dialer's watchdog (default bound 8s) ends a connection
// whose data stays unacknowledged (a peer that answers zero-window probes is
// alive, only slow), TCP keepalive one that is silent. In a
// whole-path blackhole an RPC gets its answer after ~8.4s, and a reconnect
// fails after the 5s connect timeout; plain grpc-go waits ~15 min.
//
// herz does not learn a server's ping policy by getting a connection
// killed: grpc-go exposes no hook to change a ClientConn's ping interval
// afterwards (it doubles the interval itself after a too_many_pings GOAWAY).
// A ServerMinTime set below a server's policy shows in
// [Stats].TooManyPings, which counts the calls such a GOAWAY ended.
//
// # Retries
//
// The unary interceptor retries an attempt only when the server cannot have
// executed it (the first rule that matches decides):
//
//   - a connection was picked but no stream was created on it (it closed
//     in between): "not_sent". When no backend has a ready connection,
//     grpc-go fails the call at once while it reconnects, and herz does not
//     retry it either: "fast UNAVAILABLE" during an outage;
//   - the server answered UNAVAILABLE before any response header (a
//     Trailers-Only response, told apart by the Content-Type in its
//     trailers; gRPC's status semantics: not processed): "server_unavailable".
//     UNAVAILABLE after response headers means the server had committed: not
//     retried, as by grpc-go's retryPolicy;
//   - and, only for methods [RetryConfig.Idempotent] names, a transport
//     failure after sending or an attempt timeout: "idempotent".
//
// An attempt whose request reached the server and then lost its connection
// is never retried otherwise (P10: no duplicate executions). The stream
// interceptor retries only a stream that never existed on the connection it
// picked ("stream_not_started"). Retries wait a jittered exponential backoff within
// the caller's deadline and are bounded by a retry budget (20% of calls plus
// 10/s) shared by every call made with the same [Options].
//
// herz's interceptor is the one retry layer: the default service config
// sets no grpc-go retryPolicy, and grpc.WithDisableRetry turns off any
// retryPolicy a resolver's service config would bring (two layers multiply
// attempts). grpc-go's retryPolicy could not be the layer: it retries a
// retryable code whenever no response header arrived (its TrailersOnly
// check is also true for a stream whose connection died after the request
// was sent), so it may re-run an executed call. grpc-go's transparent retry
// of streams that never reached a server or that the server provably did
// not process (GOAWAY above the stream, REFUSED_STREAM) stays on: grpc-go
// checks it before WithDisableRetry, and it never duplicates. With
// Retry.MaxRetries set to [NoRetries], herz does not disable grpc-go's
// retries, so a service config's retryPolicy applies instead.
//
// [Config.AttemptTimeout] bounds each unary attempt (grpc-go has no such
// option: grpc-go#2260, #6811); a timed-out attempt ends with
// DEADLINE_EXCEEDED naming the timeout.
//
// # Breaker
//
// One breaker per target (ClientConn.Target()), on package breaker: only
// transport-level failures count (an attempt sent whose connection then
// failed, an attempt timeout); statuses the server sent are answers, and
// calls that found no ready connection count neither way (grpc-go already
// fails those fast). With herz_outlier, a failure on one backend is that
// backend's evidence (its ejection): the target's breaker counts it only
// when no other backend is healthy (ready, not ejected, its last call a
// success), so it opens only when every backend is failing. While open, a
// call fails at once with an [*OpenError] (codes.Unavailable naming the
// target, wrapping [breaker.ErrOpen]) unless it would not fail fast with
// plain grpc-go either: a call with grpc.WaitForReady(true) waits for a
// ready connection within its own deadline, and no call is refused while a
// backend is healthy (a backend that connects again after a crash is).
//
// # Outlier ejection
//
// grpc-go's outlier detection lives under xds/internal and needs xDS
// (grpc-go#7647). The default service config selects [BalancerName]
// (herz_outlier): grpc-go's endpointsharding with a pick_first leaf per
// backend (as grpc-go's round_robin), and a picker that skips ejected
// backends. A backend is ejected after consecutive failures, or when, over a
// one-second interval, its failure ratio or mean latency is an outlier
// against the median of the other backends; for BaseEjection × its
// ejection count, capped, with jitter. At most MaxEjectedShare of the
// backends are ejected, at least one backend is always kept, and in panic
// mode (too few usable backends) ejections are ignored. See [OutlierConfig].
// The balancer learns of calls through the picker's Done callbacks; its
// metrics reach the client's MeterProvider through the interceptors' call
// context.
//
// # Metrics
//
// Through internal/telemetry (names listed there), with herz.component
// "grpc":
//
//	herz.retries               counter  {retry}       herz.component, herz.peer (the target), herz.reason
//	herz.retries.refused       counter  {retry}       herz.component, herz.peer
//	herz.breaker.transitions   counter  {transition}  herz.component=grpcconn, herz.peer (the target), herz.from, herz.to
//	herz.breaker.state         gauge    {state}       herz.component=grpcconn, herz.peer (the target)
//	herz.ejections             counter  {ejection}    herz.peer (the backend), herz.reason (consecutive_failures|failure_ratio|latency)
//
// plus the dialer's (herz.dials, herz.probes, herz.conns.open, …).
package grpcconn
