// Command http shows herz's transport at both adoption levels against a
// local test server:
//
//  1. the one line that cannot break a library,
//     transport.Harden(http.DefaultTransport.(*http.Transport), transport.HardenConfig{}):
//     http.DefaultTransport stays an *http.Transport (so the
//     http.DefaultTransport.(*http.Transport).Clone() idiom keeps working,
//     shown here) and dials through herz, with HTTP/2 health pings;
//  2. the full RoundTripper for a client of its own, with a Config (here a
//     per-attempt timeout and a stricter retry budget), closed when the
//     client is done: retries, a request breaker, stale-connection refusal.
//
// It prints the responses, the hardened transport's dialer Stats and the
// client transport's Stats.
//
//	go run ./examples/http
package main
