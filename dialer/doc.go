// Package dialer dials, verifies, wraps, tracks, probes and evicts TCP connections.
//
// Every connection herz hands out comes from a [Dialer]:
//
//   - the connect is verified (SO_ERROR is 0, getpeername succeeds, a TCP
//     self-connect is rejected); a failed check is a typed, retryable [*VerifyError];
//   - socket options are set at dial: TCP keepalive idle/interval/count
//     derived from the kernel by package adaptive unless configured, and
//     TCP_USER_TIMEOUT while connecting;
//   - refused connects are retried with exponential backoff and jitter, all
//     within Config.Timeout and the context's deadline; timeouts and
//     unreachable hosts are not retried, and fail with net.Dialer's own
//     errors; a per-address circuit breaker, which refusals never trip, makes
//     an address whose connects time out fail fast;
//   - a watchdog finds dead paths on connections in use from the kernel's
//     TCP_INFO (written data unacknowledged, nothing acknowledged, for the
//     bound) and fails their I/O with ETIMEDOUT, while a live peer that
//     keeps its receive window closed is never cut;
//   - the connection is wrapped in a [*Conn] that keeps the fast paths of
//     *net.TCPConn and records activity with atomics;
//   - [Conn.Probe] answers "is this connection still good?" with one
//     non-blocking MSG_PEEK system call, even while another goroutine is
//     blocked reading it;
//   - an evictor closes idle connections that are dead, too old, idle past the
//     peer's learned idle deadline, or score badly, before anyone picks them.
//
// [Dialer.DialContext] has the signature net/http, grpc-go and the SQL drivers
// accept, so adapters only route their dialing through it.
package dialer
