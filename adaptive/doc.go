// Package adaptive derives herz's timeouts from the kernel's TCP settings and
// learns each peer's idle timeout from what the peer does.
//
// [ReadKernel] reads the TCP timing sysctls from /proc/sys (or any fs.FS) into
// a [Kernel]; a missing or garbled file leaves its field at a documented
// fallback and is reported, never a panic. [Derive] turns a Kernel into a
// [Profile]: TCP keepalive idle/interval/count, the dead-path bound, the
// liveness-probe interval, the idle timeout for pooled connections and a dial
// timeout, every formula documented next to its constant. The rule that
// matters most: a NAT or conntrack entry expires after a fixed silence, and
// TCP keepalive keeps it alive only when both the idle time and the probe
// interval are below that limit, so Derive sizes both from it. [Source] serves
// the current Profile and re-reads the kernel lazily.
//
// [Learner] learns each peer's idle timeout: every idle connection the peer
// closes is a sample, an advertised timeout (HTTP Keep-Alive: timeout=N, MySQL
// wait_timeout, PostgreSQL idle_session_timeout) is a hint, and the deadline
// to use is a robust low quantile of recent samples times a safety margin.
//
// This package imports only package keepalive and the standard library; it
// knows nothing about HTTP, gRPC or SQL.
package adaptive
