// Command redis is a tiny Redis client on herz's raw connection pool: every
// command acquires a verified, probed, live connection, speaks RESP on it and
// releases it (or destroys it when the exchange broke). RESP PING is the
// pool's heartbeat for idle connections.
//
//	go run ./examples/redis [-addr 127.0.0.1:6379]
package main
