package grpcconn_test

import (
	"context"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/herz-go/herz/grpcconn"
	"github.com/herz-go/herz/internal/telemetry"
)

// TestTelemetryEjectionsAndRetries reads herz.ejections and herz.retries
// through the OpenTelemetry SDK's manual reader after a backend failing
// every call was ejected.
func TestTelemetryEjectionsAndRetries(t *testing.T) {
	t.Parallel()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	srvs := threeBackends(t)
	srvs[0].setFailRatio(1)
	r, ropt := resolverFor(srvs)
	c := herzClient(t, r.Scheme()+":///backends", grpcconn.Config{MeterProvider: mp}, ropt)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range 100 {
		if err := callUnary(ctx, c, "herz", "t"+string(rune(i))); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if sum, ok := m.Data.(metricdata.Sum[int64]); ok {
				for _, dp := range sum.DataPoints {
					got[m.Name] += dp.Value
					if m.Name == telemetry.MetricEjections {
						if v, _ := dp.Attributes.Value(telemetry.AttrPeer); v.AsString() != srvs[0].addr {
							t.Errorf("ejection of %q, want %s", v.AsString(), srvs[0].addr)
						}
					}
				}
			}
		}
	}
	t.Logf("%v", got)
	if got[telemetry.MetricEjections] < 1 || got[telemetry.MetricRetries] < 1 {
		t.Errorf("herz.ejections %d, herz.retries %d: want both ≥ 1", got[telemetry.MetricEjections], got[telemetry.MetricRetries])
	}
}
