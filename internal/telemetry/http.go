package telemetry

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

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
//	name                          kind                        unit          attributes
//	http.client.active_requests   up-down counter             {request}     server.address, server.port
//	http.client.open_connections  observable up-down counter  {connection}  http.connection.state (active|idle), server.address, server.port
//	http.client.connection.duration  histogram                s             server.address, server.port
//
// server.address and server.port are the host and port the request is sent
// to (its URL's, with the scheme's default port), normalised by [Peer].

// HTTPRecorder records the http.client.* semantic-convention metrics of
// package transport. A nil *HTTPRecorder is valid and records nothing. It is
// safe for concurrent use.
type HTTPRecorder struct {
	meter     metric.Meter
	active    httpconv.ClientActiveRequests
	open      httpconv.ClientOpenConnectionsObservable
	duration  httpconv.ClientConnectionDuration
	sets      optCache[string]
	stateSets optCache[[2]string]
	bound     peerBound
	serverFn  func(string) attribute.Set
}

// NewHTTP creates the HTTP client instruments on mp's meter [ScopeName]; a
// nil mp means the global provider (see [New]).
func NewHTTP(mp metric.MeterProvider) (*HTTPRecorder, error) {
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	r := &HTTPRecorder{meter: meter(mp)}
	r.serverFn = r.serverSet
	var err error
	if r.active, err = httpconv.NewClientActiveRequests(r.meter); err != nil {
		return nil, fmt.Errorf("herz/telemetry: creating HTTP client instruments: %w", err)
	}
	if r.open, err = httpconv.NewClientOpenConnectionsObservable(r.meter); err != nil {
		return nil, fmt.Errorf("herz/telemetry: creating HTTP client instruments: %w", err)
	}
	if r.duration, err = httpconv.NewClientConnectionDuration(r.meter); err != nil {
		return nil, fmt.Errorf("herz/telemetry: creating HTTP client instruments: %w", err)
	}
	return r, nil
}

// ConnectionClosed records how long a connection to the server peer
// (host:port) was open, in http.client.connection.duration.
func (r *HTTPRecorder) ConnectionClosed(ctx context.Context, peer string, open time.Duration) {
	if r == nil || !r.duration.Inst().Enabled(ctx) {
		return
	}
	r.duration.Inst().Record(ctx, open.Seconds(), r.sets.get(peer, r.serverFn))
}

// ObserveOpenConnections registers fn to report, at each collection, the
// open connections per server peer (host:port) as
// http.client.open_connections: active ones (in use by a request or an
// HTTP/2 transport) and idle ones (in the pool). fn must not block. The
// returned function unregisters the callback; it is safe to call more than
// once.
func (r *HTTPRecorder) ObserveOpenConnections(fn func(observe func(peer string, active, idle int64))) (unregister func() error, err error) {
	if r == nil {
		return noUnregister, nil
	}
	reg, err := r.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		fn(func(peer string, active, idle int64) {
			for _, st := range [...]struct {
				state string
				n     int64
			}{{string(httpconv.ConnectionStateActive), active}, {string(httpconv.ConnectionStateIdle), idle}} {
				o.ObserveInt64(r.open.Inst(), st.n, r.stateSets.get([2]string{peer, st.state}, func(k [2]string) attribute.Set {
					base := r.serverSet(k[0])
					return attribute.NewSet(append(base.ToSlice(), attribute.String("http.connection.state", k[1]))...)
				}))
			}
		})
		return nil
	}, r.open.Inst())
	if err != nil {
		return nil, fmt.Errorf("herz/telemetry: registering the open connections callback: %w", err)
	}
	return once(reg), nil
}

// ActiveRequests adds delta (+1 when a request starts, -1 when it ends) to
// http.client.active_requests of the server peer (host:port). With metrics
// off it returns before building any attribute; a cached attribute set
// makes it allocation-free for the peers in use.
func (r *HTTPRecorder) ActiveRequests(ctx context.Context, peer string, delta int64) {
	if r == nil || !r.active.Enabled(ctx) {
		return
	}
	r.active.Inst().Add(ctx, delta, r.sets.get(peer, r.serverFn))
}

// serverSet is the server.address and server.port set of peer (only
// server.address, OtherPeer, beyond MaxPeerSeries distinct peers).
func (r *HTTPRecorder) serverSet(peer string) attribute.Set {
	name := r.bound.name(Peer(peer))
	host, port, err := net.SplitHostPort(name)
	if err != nil {
		return attribute.NewSet(semconv.ServerAddress(name))
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return attribute.NewSet(semconv.ServerAddress(host))
	}
	return attribute.NewSet(semconv.ServerAddress(host), semconv.ServerPort(p))
}
