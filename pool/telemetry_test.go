package pool_test

import (
	"context"
	"strings"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/herz-go/herz/internal/testenv"
	"github.com/herz-go/herz/pool"
)

// The pool records OpenTelemetry's db.client.connection.* instruments with
// its name and server, and herz.pool.evictions by reason, as the SDK sees
// them.
func TestTelemetryRecordsPoolInstruments(t *testing.T) {
	addr := testenv.RequireRedis(t)
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())

	p := newHerz(t, pool.Config{Addr: addr, Name: "cache", MaxConns: 2, MeterProvider: mp, HealthCheckPeriod: -1})
	name := clientName("telemetry")
	holdN(t, p, 2, setName(name))
	testenv.RedisKillClients(t, name)
	time.Sleep(50 * time.Millisecond) // let the FINs land
	if acq, errs := holdN(t, p, 1, redisPing); acq+errs != 0 {
		t.Fatalf("%d acquire and %d PING errors", acq, errs)
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			seen[m.Name] = true
			var attrsOK bool
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, dp := range d.DataPoints {
					v, ok := dp.Attributes.Value("db.client.connection.pool.name")
					attrsOK = ok && v.AsString() == "cache"
					if m.Name == "herz.pool.evictions" {
						r, _ := dp.Attributes.Value("herz.reason")
						if dp.Value < 1 || r.AsString() == "" {
							t.Errorf("herz.pool.evictions point %v = %d", dp.Attributes, dp.Value)
						}
					}
				}
			case metricdata.Histogram[float64]:
				for _, dp := range d.DataPoints {
					v, ok := dp.Attributes.Value("db.client.connection.pool.name")
					_, port := dp.Attributes.Value("server.port")
					attrsOK = ok && v.AsString() == "cache" && port
				}
			default:
				attrsOK = true
			}
			pooled := strings.HasPrefix(m.Name, "db.client.") || strings.HasPrefix(m.Name, "herz.pool.")
			if pooled && !attrsOK {
				t.Errorf("%s: a point without db.client.connection.pool.name=cache (and server.port): %+v", m.Name, m.Data)
			}
		}
	}
	for _, want := range []string{
		"db.client.connection.count", "db.client.connection.max", "db.client.connection.idle.min",
		"db.client.connection.create_time", "db.client.connection.wait_time", "db.client.connection.use_time",
		"herz.pool.evictions",
	} {
		if !seen[want] {
			t.Errorf("instrument %s not recorded; seen %v", want, seen)
		}
	}
}
