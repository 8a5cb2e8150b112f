// Package sockopt is the only place in herz that makes socket system calls.
//
// Everything here works on a [syscall.RawConn] and runs inside its Control
// method, so it never blocks behind a goroutine that is reading the same
// connection (net/http's readLoop, a gRPC transport reader): Control only pins
// the file descriptor, unlike RawConn.Read, which waits for readability.
//
// Linux has the full implementation. On other platforms the functions compile,
// report [Supported] false and degrade honestly: probes answer [Unknown],
// verification is skipped and TCP_INFO returns [ErrUnsupported].
package sockopt
