// Package transport makes HTTP clients stop seeing the failures that come
// from the network. It offers two levels of adoption.
//
// # Level 1: harden an existing *http.Transport in place
//
//	if _, err := transport.Harden(http.DefaultTransport.(*http.Transport), transport.HardenConfig{}); err != nil {
//		log.Fatal(err)
//	}
//
// http.DefaultTransport stays an *http.Transport, so no library breaks
// (many do http.DefaultTransport.(*http.Transport).Clone()), and its http
// and https requests go through a herz [Transport] built from its fields
// (registered with RegisterProtocol): everything of level 2 below. Its
// clones dial through herz (verified connects, TCP keepalive derived from
// the kernel, a dead-path watchdog, jittered dial retries, a
// per-address dial breaker, HTTP/2 PING health checks). A DialContext the
// user set is kept and used (a unix socket works). See [Harden].
//
// # Level 2: the full RoundTripper, for the clients you build
//
//	tr, err := transport.New(transport.Config{})
//	...
//	defer tr.Close()
//	client := &http.Client{Transport: tr}
//
// (Assigning a [Transport] to http.DefaultTransport works for the program's
// own requests, but makes libraries that assert *http.Transport panic: use
// level 1 for http.DefaultTransport.)
//
// With a zero [Config] a [Transport] behaves like http.DefaultTransport
// (proxy from the environment, HTTP/2 attempted over TLS, the same timeouts)
// plus:
//
//   - Verified, tracked connections from a herz [dialer.Dialer]. On HTTP/1.1
//     the first write after an idle gap refuses a connection that is past
//     the server's learned idle timeout, past its (jittered) max lifetime,
//     or found dead by a MSG_PEEK probe, with zero bytes written; net/http
//     then re-sends the request on a fresh connection by itself, even a
//     POST when GetBody is set. This removes the race in which the server
//     closes an idle keep-alive connection just as a request is sent.
//   - Idle timeouts learned per server from the connections it closes and
//     from Keep-Alive: timeout=N headers; an evictor closes idle connections
//     before that deadline.
//   - HTTP/2 (net/http's bundled implementation, configured through
//     http.HTTP2Config) with PING health checks on by default
//     (H2ReadIdleTimeout 3s, H2PingTimeout 3s), so a dead HTTP/2 connection
//     is found in seconds; h2c with prior knowledge as an option. An HTTP/2
//     connection past MaxLifetime is drained: it takes no new stream and
//     closes when its last stream ends.
//   - Safe retries (see "Retry safety" below) with jittered backoff, a
//     retry budget, all within Config.RetryWindow (default 10s) so that
//     even in a whole-path blackhole the caller has its answer within it;
//     retries in one layer (the dialer does not retry under them: a request
//     makes at most 1 + MaxRetries connects). Responses are never re-sent
//     by default: statuses are an opt-in policy (RetryConfig.RetryStatus,
//     e.g. [RetryUnavailable] for 502, 503, 504 and 429 with Retry-After,
//     honoured within the caller's bounds).
//   - A per-host circuit breaker that, by default, counts only failures the
//     peer caused (connect timeouts and resets, resets on the connection,
//     attempt timeouts): statuses only when listed in
//     Config.BreakerStatuses; the caller's own input, its upload's source,
//     DNS answers, its cancellation or deadline never. It replaces the
//     dialer's per-address breaker (breakers never stack), and its open
//     interval (200ms × trips, capped at 600ms) lets the first request
//     after an outage succeed within a second.
//   - An idle pool per host that keeps the connections its recent peak of
//     concurrent requests used (Config.MaxIdleConnsPerHost defaults to
//     MaxIdleConns, 100, not net/http's 2), so steady concurrency does not
//     churn connections and TIME_WAIT sockets. Plain HTTP/1.1 requests use
//     herz's own pool of http.ClientConns (most recently used conn first;
//     IdleConnTimeout, MaxIdleConns, MaxIdleConnsPerHost and MaxConnsPerHost
//     as net/http applies them; a waiting request takes a conn returned
//     meanwhile; a request that found a stale conn is re-sent on another as
//     net/http's pool does; a caller's httptrace hooks in net/http's order),
//     which knows each conn's owner without per-request bookkeeping and is
//     faster than net/http's pool; HTTPS, proxies, h2c and AttemptTimeout
//     use net/http's pool.
//   - Built from the program's own *http.Transport with Config.Base: every
//     net/http field of it honoured, its DialContext wrapped.
//   - Per-request control through the context ([WithoutRetries],
//     [WithoutBreaker]), a hook on each retry (Config.OnRetry) and a
//     status-retry policy (RetryConfig.RetryStatus) that can never make an
//     unsafe request retryable.
//   - [Transport.Stats], a printable snapshot like sql.DBStats and
//     pgxpool's Stat (in flight, waits for a connection, breaker rejects,
//     limits), and OpenTelemetry metrics through Config.MeterProvider.
//
// # What callers observe
//
// What a caller sees is what net/http would have shown it: a request
// net/http refuses (an invalid header, method or URL, an unsupported
// scheme) is refused by net/http itself, with its error, before anything
// is dialed, retried or counted; a failed connect returns the error
// net.Dialer gave (the *net.OpError, or the *net.DNSError of an NXDOMAIN,
// inside http.Client's *url.Error), not herz's dialer error; a timeout the
// caller configured (ResponseHeaderTimeout, Client.Timeout, the context)
// bounds the whole call, retries included, with net/http's error texts;
// the request body is closed on every path. herz's own errors are those it
// decided: an open breaker (wrapping [breaker.ErrOpen]), [ErrClosed],
// [AttemptTimeoutError]. Why herz retried is in [Stats], Config.OnRetry
// and the herz.retries metric.
//
// # Retry safety
//
// By default herz re-sends only what is provably safe and invisible to the
// caller. Whatever the method: the dialer refused a stale connection
// before writing (stale_conn), no connection could be made (a refused or
// failed connect, not an NXDOMAIN; connect_failure), HTTP/2 REFUSED_STREAM
// (refused_stream) or a GOAWAY above the stream (goaway); a body is
// replayed through GetBody. A request net/http itself would replay (GET,
// HEAD, OPTIONS, TRACE, or one with an Idempotency-Key or
// X-Idempotency-Key header) is also re-sent after other failures of its
// connection before a response (idempotent_error) and after an attempt
// timeout the caller configured (attempt_timeout). Never re-sent: a
// request whose upload source failed, one that timed out on
// ResponseHeaderTimeout, one the caller canceled, and by default any
// response, PUT or DELETE after their bytes may have reached the server
// (a DELETE that ran but lost its response gives its error, as with
// net/http, not the 404 of a re-send). Opt in with RetryConfig.RetryStatus
// (statuses, status_NNN) and RetryConfig.IdempotentMethods (PUT, DELETE).
// Each retry is counted by its reason in [Stats.Retries] and the
// herz.retries metric.
//
// # Metrics
//
// Recorded through Config.MeterProvider (default: the global one, which
// records nothing until the application installs an SDK), on the meter
// github.com/herz-go/herz:
//
//	name                         kind                        unit          attributes
//	http.client.active_requests  up-down counter             {request}     server.address, server.port
//	http.client.open_connections observable up-down counter  {connection}  http.connection.state (active|idle), server.address, server.port
//	http.client.connection.duration histogram                s             server.address, server.port
//	herz.retries                 counter                     {retry}       herz.component=transport, herz.peer, herz.reason (as Stats.Retries)
//	herz.retries.refused         counter                     {retry}       herz.component=transport, herz.peer
//	herz.breaker.transitions     counter                     {transition}  herz.component=transport, herz.peer (host:port), herz.from, herz.to
//	herz.breaker.state           observable gauge            {state}       herz.component=transport, herz.peer; 0 closed, 1 half-open, 2 open
//
// and, from the Transport's dialer: herz.dials, herz.dial.duration,
// herz.dial.errors, herz.dial.verify_failures, herz.probes,
// herz.evictions, herz.conns.open and herz.conns.idle (see package
// internal/telemetry's documentation). While the request breaker is on the
// dialer has no breaker of its own, so the breaker series are the request
// breaker's; with Config.DisableBreaker they are the dial breaker's.
//
// Per-peer attributes (herz.peer, server.address, server.port) name at most
// 1,024 distinct peers per recorder; later peers report as "_other". To drop
// them altogether, give the SDK a View that filters them out (see
// ExampleTransport_dropPeerAttributes): the series then add up over peers.
package transport
