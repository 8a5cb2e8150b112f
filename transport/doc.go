// Package transport is a drop-in replacement for http.DefaultTransport that
// does not show callers the failures that come from the network:
//
//	http.DefaultTransport = transport.Must(transport.Config{})
//
// or, per client:
//
//	tr, err := transport.New(transport.Config{})
//	...
//	defer tr.Close()
//	client := &http.Client{Transport: tr}
//
// With a zero [Config] a [Transport] behaves like http.DefaultTransport
// (proxy from the environment, HTTP/2 attempted over TLS, the same timeouts
// and pool sizes) plus:
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
//   - HTTP/2 through golang.org/x/net/http2 with PING health checks on by
//     default (H2ReadIdleTimeout 3s, H2PingTimeout 3s), so a dead HTTP/2
//     connection is found in seconds; h2c with prior knowledge as an option.
//   - Safe retries (see [Transport.RoundTrip]) with jittered backoff,
//     Retry-After, a retry budget, and a per-host circuit breaker.
//   - [Transport.Stats], a printable snapshot like sql.DBStats, and
//     OpenTelemetry metrics through Config.MeterProvider.
//
// # Retry safety
//
// A request whose bytes may have reached the server is never re-sent unless
// it is idempotent. Retries whose safety does not depend on the method:
// the dialer refused a stale connection before writing (stale_conn), no
// connection could be made (connect_failure), HTTP/2 REFUSED_STREAM
// (refused_stream) or a GOAWAY above the stream (goaway). Idempotent
// requests (GET HEAD OPTIONS TRACE PUT DELETE, or an Idempotency-Key /
// X-Idempotency-Key header) are also retried after other transport errors
// (idempotent_error, attempt_timeout) and on 502, 503, 504 and 429
// (status_NNN). Each retry is counted by that reason in [Stats.Retries] and
// the herz.retries metric.
package transport
