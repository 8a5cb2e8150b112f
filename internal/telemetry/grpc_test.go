package telemetry_test

import (
	"context"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/herz-go/herz/internal/telemetry"
)

func TestBalancerRecorderCountsEjectionsByPeerAndReason(t *testing.T) {
	rd := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(rd))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	r, err := telemetry.NewBalancerRecorder(mp)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r.Ejection(ctx, "10.0.0.1:443", "latency")
	r.Ejection(ctx, "10.0.0.1:443", "latency")
	r.Ejection(ctx, "user:pw@10.0.0.2:443/path", "consecutive_failures")
	m := metricNamed(t, collect(t, rd), telemetry.MetricEjections, "{ejection}")
	metricdatatest.AssertAggregationsEqual(t, counter(
		point(2, peer("10.0.0.1:443"), reason("latency")),
		point(1, peer("10.0.0.2:443"), reason("consecutive_failures")),
	), m.Data, metricdatatest.IgnoreTimestamp())

	var nilRec *telemetry.BalancerRecorder
	nilRec.Ejection(ctx, "10.0.0.1:443", "latency") // a nil recorder records nothing
}
