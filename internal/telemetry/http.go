package telemetry

import (
	"context"
	"fmt"
	"net"
	"strconv"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/semconv/v1.43.0/httpconv"
)

// The OpenTelemetry HTTP client instruments package transport records
// through an HTTPRecorder. Names, units and descriptions come from the
// generated semconv package (httpconv), never retyped here.
//
//	name                          kind             unit       attributes
//	http.client.active_requests   up-down counter  {request}  server.address, server.port
//
// server.address and server.port are the host and port the request is sent
// to (its URL's, with the scheme's default port), normalised by [Peer].

// HTTPRecorder records the http.client.* semantic-convention metrics of
// package transport. A nil *HTTPRecorder is valid and records nothing. It is
// safe for concurrent use.
type HTTPRecorder struct {
	active httpconv.ClientActiveRequests
	sets   optCache[string]
}

// NewHTTP creates the HTTP client instruments on mp's meter [ScopeName]; a
// nil mp means the global provider (see [New]).
func NewHTTP(mp metric.MeterProvider) (*HTTPRecorder, error) {
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	r := &HTTPRecorder{}
	var err error
	if r.active, err = httpconv.NewClientActiveRequests(meter(mp)); err != nil {
		return nil, fmt.Errorf("herz/telemetry: creating HTTP client instruments: %w", err)
	}
	return r, nil
}

// ActiveRequests adds delta (+1 when a request starts, -1 when it ends) to
// http.client.active_requests of the server peer (host:port). With metrics
// off it returns before building any attribute; a cached attribute set
// makes it allocation-free for the peers in use.
func (r *HTTPRecorder) ActiveRequests(ctx context.Context, peer string, delta int64) {
	if r == nil || !r.active.Enabled(ctx) {
		return
	}
	r.active.Inst().Add(ctx, delta, r.sets.get(peer, serverSet))
}

// serverSet is the server.address and server.port set of peer.
func serverSet(peer string) attribute.Set {
	host, port, err := net.SplitHostPort(Peer(peer))
	if err != nil {
		return attribute.NewSet(semconv.ServerAddress(Peer(peer)))
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return attribute.NewSet(semconv.ServerAddress(host))
	}
	return attribute.NewSet(semconv.ServerAddress(host), semconv.ServerPort(p))
}
