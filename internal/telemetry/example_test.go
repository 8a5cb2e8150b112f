package telemetry_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/herz-go/herz/internal/telemetry"
)

func ExamplePeer() {
	for _, addr := range []string{
		"db.internal:5432",
		"postgres://app:hunter2@DB.internal:5432/orders?sslmode=require",
		"app:hunter2@tcp(db.internal:3306)/orders",
		"host=db.internal port=5432 user=app password='hunter2'",
		"https://api.example.com/v1/users?token=abc",
		"dns:///orders.svc:50051",
		"unix:///run/app.sock",
	} {
		fmt.Println(telemetry.Peer(addr))
	}
	// Output:
	// db.internal:5432
	// db.internal:5432
	// db.internal:3306
	// db.internal:5432
	// api.example.com:443
	// orders.svc:50051
	// unix
}

// The application owns the MeterProvider (here the SDK with a manual reader;
// in production an OTLP or Prometheus exporter); herz packages record through
// one Recorder.
func ExampleRecorder() {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())

	rec, err := telemetry.New(mp)
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	rec.Dial(ctx, "postgres://app:hunter2@db.internal:5432/orders", 3*time.Millisecond, "")
	rec.Retry(ctx, telemetry.ComponentTransport, "api.example.com:443", "nothing_written")

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		panic(err)
	}
	var lines []string
	for _, m := range rm.ScopeMetrics[0].Metrics {
		switch data := m.Data.(type) {
		case metricdata.Sum[int64]:
			dp := data.DataPoints[0]
			lines = append(lines, fmt.Sprintf("%s %s %d %s", m.Name, m.Unit, dp.Value, dp.Attributes.Encoded(attribute.DefaultEncoder())))
		case metricdata.Histogram[float64]:
			dp := data.DataPoints[0]
			lines = append(lines, fmt.Sprintf("%s %s count=%d sum=%g %s", m.Name, m.Unit, dp.Count, dp.Sum, dp.Attributes.Encoded(attribute.DefaultEncoder())))
		}
	}
	sort.Strings(lines)
	fmt.Println(strings.Join(lines, "\n"))
	// Output:
	// herz.dial.duration s count=1 sum=0.003 herz.peer=db.internal:5432,herz.result=ok
	// herz.dials {dial} 1 herz.peer=db.internal:5432,herz.result=ok
	// herz.retries {retry} 1 herz.component=transport,herz.peer=api.example.com:443,herz.reason=nothing_written
}
