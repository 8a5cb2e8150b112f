// Command http shows herz's transport at both adoption levels against a
// local test server:
//
//  1. the one-line drop-in, http.DefaultTransport = transport.Must(transport.Config{}),
//     which every http.Get and every client without a Transport of its own
//     then uses;
//  2. a Transport of its own per client, with a Config (here a per-attempt
//     timeout and a stricter retry budget), closed when the client is done.
//
// It prints the responses and each transport's Stats.
//
//	go run ./examples/http
package main
