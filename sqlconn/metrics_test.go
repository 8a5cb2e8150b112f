package sqlconn_test

import (
	"context"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/herz-go/herz/sqlconn"
)

// TestMetrics: a pool opened with OpenDB reports the db.client.connection.*
// instruments, the pool named after Config.Server without credentials.
func TestMetrics(t *testing.T) {
	rd := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(rd))
	defer mp.Shutdown(context.Background())
	c, err := sqlconn.New(&fakeConnector{}, sqlconn.Config{MeterProvider: mp, Server: "app:s3cret@db.example:5432"})
	if err != nil {
		t.Fatal(err)
	}
	db := sqlconn.OpenDB(c)
	defer db.Close()
	db.SetMaxOpenConns(4)
	for range 3 {
		if _, err := db.Exec("x"); err != nil {
			t.Fatal(err)
		}
	}
	var rm metricdata.ResourceMetrics
	if err := rd.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			seen[m.Name] = true
			var sets []attribute.Set
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					sets = append(sets, p.Attributes)
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					sets = append(sets, p.Attributes)
				}
			}
			for _, set := range sets {
				if enc := set.Encoded(attribute.DefaultEncoder()); strings.Contains(enc, "s3cret") || !strings.Contains(enc, "db.example:5432") && strings.Contains(enc, "pool.name") {
					t.Errorf("%s attributes %s: want the pool named db.example:5432 without the password", m.Name, enc)
				}
			}
		}
	}
	for _, name := range []string{"db.client.connection.count", "db.client.connection.max", "db.client.connection.create_time", "db.client.connection.use_time"} {
		if !seen[name] {
			t.Errorf("no %s collected; have %v", name, seen)
		}
	}
}
