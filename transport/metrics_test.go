package transport_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/herz-go/herz/internal/testenv"
	"github.com/herz-go/herz/transport"
)

// TestMetricsFollowTheSemanticConventions reads the Transport's metrics
// through the OpenTelemetry SDK's manual reader: http.client.active_requests
// with server.address and server.port counts a request in flight and drops
// back to 0.
func TestMetricsFollowTheSemanticConventions(t *testing.T) {
	rd := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(rd))
	t.Cleanup(func() { mp.Shutdown(context.Background()) })
	srv := testenv.NewHTTPServer(t, testenv.HTTPOptions{})
	tr := newHerz(t, srv, testenv.HTTP1, transport.Config{MeterProvider: mp, Retry: transport.RetryConfig{Initial: time.Millisecond}})
	ctx := ctx10s(t)

	done := make(chan struct{})
	go func() {
		defer close(done)
		send(ctx, tr, http.MethodGet, srv.URL()+"/?sleep=300ms")
	}()
	want := attribute.NewSet(attribute.String("server.address", "127.0.0.1"), attribute.Int("server.port", testenv.Port(t, srv.Addr())))
	active := func() (int64, bool) {
		var rm metricdata.ResourceMetrics
		if err := rd.Collect(context.Background(), &rm); err != nil {
			t.Fatal(err)
		}
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				if m.Name != "http.client.active_requests" {
					continue
				}
				if m.Unit != "{request}" {
					t.Errorf("unit %q", m.Unit)
				}
				for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
					if dp.Attributes.Equals(&want) {
						return dp.Value, true
					}
					t.Errorf("attributes %v, want %v", dp.Attributes.ToSlice(), want.ToSlice())
				}
			}
		}
		return 0, false
	}
	var v int64
	for i := 0; i < 100 && v == 0; i++ {
		time.Sleep(2 * time.Millisecond)
		v, _ = active()
	}
	if v != 1 {
		t.Errorf("http.client.active_requests during a slow request = %d, want 1", v)
	}
	<-done
	if v, ok := active(); !ok || v != 0 {
		t.Errorf("http.client.active_requests after it = %d (found %v), want 0", v, ok)
	}

	// http.client.open_connections: the conn is back in the pool, idle.
	var rm metricdata.ResourceMetrics
	if err := rd.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	byState := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != "http.client.open_connections" {
				continue
			}
			if m.Unit != "{connection}" {
				t.Errorf("unit %q", m.Unit)
			}
			for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
				st, _ := dp.Attributes.Value("http.connection.state")
				addr, _ := dp.Attributes.Value("server.address")
				if addr.AsString() != "127.0.0.1" {
					t.Errorf("server.address %q", addr.AsString())
				}
				byState[st.AsString()] += dp.Value
			}
		}
	}
	if byState["idle"] != 1 || byState["active"] != 0 {
		t.Errorf("http.client.open_connections by state = %v, want idle=1 active=0", byState)
	}

	// http.client.connection.duration: recorded when the conn closes.
	tr.CloseIdleConnections()
	var closed uint64
	for i := 0; i < 100 && closed == 0; i++ {
		if err := rd.Collect(context.Background(), &rm); err != nil {
			t.Fatal(err)
		}
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				if m.Name == "http.client.connection.duration" {
					if m.Unit != "s" {
						t.Errorf("unit %q", m.Unit)
					}
					for _, dp := range m.Data.(metricdata.Histogram[float64]).DataPoints {
						closed += dp.Count
					}
				}
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	if closed != 1 {
		t.Errorf("http.client.connection.duration counted %d closed conns, want 1", closed)
	}
}
