// Command inspect shows what herz sees for one address: the timeouts it
// derived from this kernel, a verified dial, the kernel's TCP_INFO, a
// liveness probe and, with -http, what a few requests through herz's
// Transport teach it (the server's idle timeout, retries, evictions). The
// tool to reach for when a connection misbehaves at 3 a.m.
//
//	go run ./examples/inspect host:port
//	go run ./examples/inspect -http -n 3 -wait 10s host:port
//	go run ./examples/inspect -https -path /healthz host:443
//
// -wait keeps the last connection idle up to that long so that a server
// that idle-closes connections is caught doing it (and learned).
package main
