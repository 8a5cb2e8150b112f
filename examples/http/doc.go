// Command http shows herz's transport as a one-line drop-in for
// http.DefaultTransport: it starts a local test server, fetches from it with
// the default client and prints the transport's Stats.
//
//	go run ./examples/http
package main
