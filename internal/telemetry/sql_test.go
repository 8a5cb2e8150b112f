package telemetry_test

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/herz-go/herz/internal/telemetry"
)

func newSDKSQLRecorder(t *testing.T) (*telemetry.SQLRecorder, *sdkmetric.ManualReader) {
	t.Helper()
	rd := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(rd))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	r, err := telemetry.NewSQL(mp)
	if err != nil {
		t.Fatalf("NewSQL = %v", err)
	}
	return r, rd
}

func TestSQLRecorderUsesTheSemanticConventions(t *testing.T) {
	r, rd := newSDKSQLRecorder(t)
	ctx := context.Background()
	r.ConnCreated(ctx, "db:5432", 3*time.Millisecond)
	r.ConnUsed(ctx, "db:5432", 20*time.Millisecond)
	r.ConnUsed(ctx, "db:5432", 40*time.Millisecond)
	stats := telemetry.SQLPoolStats{Idle: 3, Used: 2, Max: 10}
	unregister, err := r.ObservePool("db:5432", func() telemetry.SQLPoolStats { return stats })
	if err != nil {
		t.Fatal(err)
	}
	got := collect(t, rd)
	pool := attribute.String("db.client.connection.pool.name", "db:5432")

	for name, count := range map[string]uint64{"db.client.connection.create_time": 1, "db.client.connection.use_time": 2} {
		m := metricNamed(t, got, name, "s")
		h, ok := m.Data.(metricdata.Histogram[float64])
		if !ok || len(h.DataPoints) != 1 || h.DataPoints[0].Count != count {
			t.Fatalf("%s = %+v, want one histogram point with %d values", name, m.Data, count)
		}
		if v, _ := h.DataPoints[0].Attributes.Value("db.client.connection.pool.name"); v.AsString() != "db:5432" {
			t.Errorf("%s attributes = %v", name, h.DataPoints[0].Attributes)
		}
	}
	metricdatatest.AssertAggregationsEqual(t, metricdata.Sum[int64]{
		Temporality: metricdata.CumulativeTemporality,
		DataPoints: []metricdata.DataPoint[int64]{
			{Attributes: attribute.NewSet(pool, attribute.String("db.client.connection.state", "idle")), Value: 3},
			{Attributes: attribute.NewSet(pool, attribute.String("db.client.connection.state", "used")), Value: 2},
		},
	}, metricNamed(t, got, "db.client.connection.count", "{connection}").Data, metricdatatest.IgnoreTimestamp())
	metricdatatest.AssertAggregationsEqual(t, metricdata.Sum[int64]{
		Temporality: metricdata.CumulativeTemporality,
		DataPoints:  []metricdata.DataPoint[int64]{{Attributes: attribute.NewSet(pool), Value: 10}},
	}, metricNamed(t, got, "db.client.connection.max", "{connection}").Data, metricdatatest.IgnoreTimestamp())

	if err := unregister(); err != nil {
		t.Fatal(err)
	}
	if err := unregister(); err != nil {
		t.Fatalf("second unregister = %v", err)
	}
	if m, ok := collect(t, rd)["db.client.connection.count"]; ok && len(m.Data.(metricdata.Sum[int64]).DataPoints) != 0 {
		t.Errorf("pool still observed after unregister: %+v", m.Data)
	}
}

func TestNilSQLRecorderRecordsNothing(t *testing.T) {
	var r *telemetry.SQLRecorder
	r.ConnCreated(context.Background(), "p", time.Second)
	r.ConnUsed(context.Background(), "p", time.Second)
	unregister, err := r.ObservePool("p", func() telemetry.SQLPoolStats { return telemetry.SQLPoolStats{} })
	if err != nil || unregister() != nil {
		t.Fatal("nil SQLRecorder: ObservePool failed")
	}
}
