package faultlab

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// IdleCloseRace is the keep-alive race: the backend closes idle
// connections after idle (net/http Server.IdleTimeout), and 4 workers send
// mix spaced [Around] idle, so many requests are written just as the server
// closes their connection. A warm-up of 3×idle lets a client that learns
// idle timeouts see one first. Named "idle-close-post" (or -get, -mixed).
func IdleCloseRace(mix Mix, idle time.Duration) Scenario {
	return Scenario{
		Name:     "idle-close-" + mix.String(),
		Backends: []HTTPOptions{{IdleTimeout: idle}},
		Mix:      mix,
		Gap:      Around(idle),
		Warmup:   3 * idle,
		Fault: func(_ context.Context, e *Env) {
			e.FaultOn("server idle timeout " + idle.String())
		},
	}
}

// ResetStorm makes the backend execute every n-th request, then reset its
// connection (RST) instead of answering: the request's side effect
// happened, no answer came. A client that re-sends such a POST shows up in
// dups. Mixed GETs and POSTs every 2 ms. Named "rst-storm".
func ResetStorm(every int) Scenario {
	return Scenario{
		Name:     "rst-storm",
		Backends: []HTTPOptions{{ResetEvery: every}},
		Mix:      Mixed,
		Gap:      Every(2 * time.Millisecond),
		Fault: func(_ context.Context, e *Env) {
			e.FaultOn(fmt.Sprintf("RST every %dth request", every))
		},
	}
}

// OutageAndReturn stops the backend (dials refused, connections closed) at
// a third of the run and restarts it on the same port at two thirds;
// recover-ms is how long after its return the first request succeeded.
// Mixed GETs and POSTs every 5 ms. Named "outage-and-return".
func OutageAndReturn() Scenario {
	return Scenario{
		Name:     "outage-and-return",
		Backends: []HTTPOptions{{}},
		Mix:      Mixed,
		Gap:      Every(5 * time.Millisecond),
		Fault: func(ctx context.Context, e *Env) {
			if !e.At(ctx, 1.0/3) {
				return
			}
			e.FaultOn("server down")
			e.Servers[0].Stop()
			e.At(ctx, 2.0/3)
			if e.Servers[0].Restart() == nil && ctx.Err() == nil {
				e.FaultOff()
				e.MarkRecovery()
			}
		},
	}
}

// Storm503 answers every request with 503 and Retry-After: retryAfter
// (seconds or an HTTP date; "" for none) from a quarter to three quarters
// of the run; srv-reqs/op shows how much a client multiplied the load by
// retrying. Mixed GETs and POSTs every 5 ms. Named "503-storm".
func Storm503(retryAfter string) Scenario {
	return Scenario{
		Name:     "503-storm",
		Backends: []HTTPOptions{{}},
		Mix:      Mixed,
		Gap:      Every(5 * time.Millisecond),
		Fault: func(ctx context.Context, e *Env) {
			defer e.Servers[0].SetStatus(0, "")
			if e.At(ctx, 0.25) {
				e.FaultOn("503 storm")
				e.Servers[0].SetStatus(http.StatusServiceUnavailable, retryAfter)
				if e.At(ctx, 0.75) {
					e.FaultOff()
				}
			}
		},
	}
}

// SlowBackend round-robins GETs over three backends, the last one 10×
// slower (20 ms instead of 2 ms per request); slow-share-% is the share of
// requests the slow one served, which a client that moves traffic away
// from slow peers lowers below 33%. Named "slow-backend".
func SlowBackend() Scenario {
	return Scenario{
		Name: "slow-backend",
		Backends: []HTTPOptions{
			{Delay: 2 * time.Millisecond}, {Delay: 2 * time.Millisecond}, {Delay: 20 * time.Millisecond},
		},
		ReportShare: true,
	}
}

// GoAwayRestarts restarts an HTTP/2 backend ([HTTPS]) gracefully n times
// during the run, evenly spaced: a GOAWAY frame on every open connection,
// a new listener on the same port. A client should move to a new connection
// without a caller-visible error. Mixed GETs and POSTs every 2 ms. Named
// "goaway".
func GoAwayRestarts(n int) Scenario {
	return Scenario{
		Name:     "goaway",
		Backends: []HTTPOptions{{Protocol: HTTPS}},
		Mix:      Mixed,
		Gap:      Every(2 * time.Millisecond),
		Fault: func(ctx context.Context, e *Env) {
			for i := 1; i <= n; i++ {
				if !e.At(ctx, float64(i)/float64(n+1)) {
					return
				}
				e.FaultOn("GOAWAY")
				_ = e.Servers[0].GoAway() // a failed re-bind shows as errors
				e.FaultOff()
			}
		},
	}
}

// ProxyFaults soaks your own servers (a database, a gRPC server, anything
// on TCP) through a [Proxy] each, switching every proxy to fault from the
// fraction from to the fraction to of the run (e.g. ResetAll() from 0.3 to
// 0.31 for a burst of resets, Blackhole() from 0.4 to 0.6 for a partition).
// Your client must dial [Target].Addrs. Mixed ops every 2 ms. Named
// "proxy-" + fault.
func ProxyFaults(fault Fault, from, to float64, upstreams ...string) Scenario {
	return Scenario{
		Name:      "proxy-" + fault.String(),
		Upstreams: upstreams,
		Mix:       Mixed,
		Gap:       Every(2 * time.Millisecond),
		Steps:     []Step{{At: from, Fault: fault}, {At: to, Fault: NoFault()}},
	}
}
