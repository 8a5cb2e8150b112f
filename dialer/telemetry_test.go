package dialer_test

import (
	"context"
	"net"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/herz-go/herz/dialer"
	"github.com/herz-go/herz/internal/sockopt"
)

// sums collects every int64 sum data point of the named instrument, keyed by
// the value of attribute key.
func sums(t *testing.T, rm metricdata.ResourceMetrics, name string, key attribute.Key) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			data, ok := m.Data.(metricdata.Sum[int64])
			if !ok {
				t.Fatalf("%s is %T, want an int64 sum", name, m.Data)
			}
			for _, dp := range data.DataPoints {
				v, _ := dp.Attributes.Value(key)
				out[v.Emit()] += dp.Value
				if p, ok := dp.Attributes.Value("herz.peer"); ok {
					if _, _, err := net.SplitHostPort(p.AsString()); err != nil {
						t.Errorf("%s herz.peer = %q, want host:port", name, p.AsString())
					}
				}
			}
		}
	}
	return out
}

// TestTelemetryRecordsDialsProbesAndEvictions runs real dials, probes and an
// eviction against loopback and reads what the OTel SDK actually recorded.
func TestTelemetryRecordsDialsProbesAndEvictions(t *testing.T) {
	if !sockopt.Supported {
		t.Skip("probes are Linux-only")
	}
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())

	srv := newServer(t)
	d := newDialer(t, dialer.Config{MeterProvider: mp, DisableEvictor: true})
	c := dial(t, d, srv.addr())
	l, _ := c.Lend()
	c.Return(l) // idle in its pool: the evictor may act on it
	s := srv.accept(t)
	c.Probe()
	s.SetLinger(0)
	s.Close()
	eventually(t, 2*time.Second, "the RST to land", func() bool { return c.Probe().Dead() })
	if n := d.EvictStale(); n != 1 {
		t.Fatalf("EvictStale = %d, want 1", n)
	}
	// A refused dial: nothing listens on a port we just released.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	d.DialContext(context.Background(), "tcp", dead)

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	if got := sums(t, rm, "herz.dials", "herz.result"); got["ok"] != 1 || got["error"] < 1 {
		t.Errorf("herz.dials by result = %v, want ok=1 and errors", got)
	}
	if got := sums(t, rm, "herz.dial.errors", "herz.kind"); got["refused"] < 1 {
		t.Errorf("herz.dial.errors by kind = %v, want refused", got)
	}
	if got := sums(t, rm, "herz.probes", "herz.result"); got["alive"] < 1 || got["reset"]+got["peer_closed"] < 1 {
		t.Errorf("herz.probes by result = %v, want alive and a dead result", got)
	}
	if got := sums(t, rm, "herz.evictions", "herz.reason"); got["probe_rst"]+got["probe_eof"] != 1 {
		t.Errorf("herz.evictions by reason = %v, want one probe_rst/probe_eof", got)
	}
}
