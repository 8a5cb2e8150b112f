package telemetry

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// MetricEjections counts backends ejected by a load balancer (package
// grpcconn's herz_outlier): counter {ejection} with herz.peer (the backend's
// address) and herz.reason ("consecutive_failures", "failure_ratio",
// "latency"). OpenTelemetry's conventions have no instrument for it.
const MetricEjections = "herz.ejections"

const unitEjection = "{ejection}"

// BalancerRecorder records the metrics of a load balancer. It is separate
// from [Recorder] because a balancer is built by grpc-go, not by the client
// that owns the Recorder. A nil *BalancerRecorder records nothing. It is safe
// for concurrent use.
type BalancerRecorder struct {
	ejections metric.Int64Counter
	sets      optCache[[2]string]
	bound     peerBound
}

// NewBalancerRecorder creates the balancer instruments on mp's meter
// [ScopeName]; a nil mp means the global MeterProvider.
func NewBalancerRecorder(mp metric.MeterProvider) (*BalancerRecorder, error) {
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	c, err := meter(mp).Int64Counter(MetricEjections, metric.WithUnit(unitEjection),
		metric.WithDescription("Backends ejected by herz's outlier-detecting balancer, by reason."))
	if err != nil {
		return nil, fmt.Errorf("herz/telemetry: creating %s: %w", MetricEjections, err)
	}
	return &BalancerRecorder{ejections: c}, nil
}

// Ejection records one ejection of the backend peer (herz.ejections) with
// its herz.reason.
func (r *BalancerRecorder) Ejection(ctx context.Context, peer, reason string) {
	if r == nil || !r.ejections.Enabled(ctx) {
		return
	}
	r.ejections.Add(ctx, 1, r.sets.get([2]string{peer, reason}, func(k [2]string) attribute.Set {
		return attribute.NewSet(AttrPeer.String(r.bound.name(Peer(k[0]))), AttrReason.String(k[1]))
	}))
}
