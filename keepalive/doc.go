// Package keepalive holds herz's liveness settings for idle connections and an
// application-level heartbeat runner.
//
// [Params] are the TCP keepalive settings (TCP_KEEPIDLE, TCP_KEEPINTVL,
// TCP_KEEPCNT) the herz dialer applies to every connection. Unlike
// net.Dialer.KeepAlive, which sets only the idle time and leaves the probe
// interval at Go's 15 s default, Params always sets all three: a NAT or
// conntrack entry that expires after 5 s of silence is kept alive only when
// both the idle time and the interval are below that limit. Package adaptive
// derives Params from the kernel's settings; the zero Params means "use that
// derived default".
//
// [Heartbeat] runs an application ping (an HTTP/2 PING, a SQL "SELECT 1", a
// custom protocol's NOOP) at a jittered interval with a per-ping timeout,
// backs off exponentially after failures and declares the peer dead after a
// number of consecutive failed pings. It runs in the caller's goroutine and
// stops with its context.
//
// This package knows nothing about HTTP, gRPC or SQL and imports no other herz
// package.
package keepalive
