package telemetry_test

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/herz-go/herz/internal/telemetry"
)

func TestHTTPRecorderUsesTheSemanticConventions(t *testing.T) {
	rd := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(rd))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	r, err := telemetry.NewHTTP(mp)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r.ActiveRequests(ctx, "API.example.com:443", 1)
	r.ActiveRequests(ctx, "api.example.com:443", 1)
	r.ActiveRequests(ctx, "api.example.com:443", -1)
	r.ActiveRequests(ctx, "10.0.0.1:8080", 1)
	got := collect(t, rd)
	metricdatatest.AssertAggregationsEqual(t, metricdata.Sum[int64]{
		Temporality: metricdata.CumulativeTemporality,
		DataPoints: []metricdata.DataPoint[int64]{
			{Attributes: attribute.NewSet(attribute.String("server.address", "api.example.com"), attribute.Int("server.port", 443)), Value: 1},
			{Attributes: attribute.NewSet(attribute.String("server.address", "10.0.0.1"), attribute.Int("server.port", 8080)), Value: 1},
		},
	}, metricNamed(t, got, "http.client.active_requests", "{request}").Data, metricdatatest.IgnoreTimestamp())
}

func TestNilHTTPRecorderRecordsNothing(t *testing.T) {
	var r *telemetry.HTTPRecorder
	r.ActiveRequests(context.Background(), "p:1", 1)
}

func BenchmarkHTTPRecorderActiveRequests(b *testing.B) {
	rd := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(rd))
	b.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	r, err := telemetry.NewHTTP(mp)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		r.ActiveRequests(ctx, "api.example.com:443", 1)
		r.ActiveRequests(ctx, "api.example.com:443", -1)
	}
}
