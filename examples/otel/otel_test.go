package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestMetricsEndpointHasHerzAndAppSeries runs the example's /metrics
// handler in-process after a few requests through herz and checks that
// herz's series are there, next to the application's own counter.
func TestMetricsEndpointHasHerzAndAppSeries(t *testing.T) {
	a, err := newApp()
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	be := backend()
	defer be.Close()
	if err := a.traffic(context.Background(), be.URL, 4); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	a.metrics.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("/metrics answered %d", rec.Code)
	}
	body := rec.Body.String()
	for _, want := range []string{
		"# TYPE herz_dials_total counter",
		"# TYPE herz_dial_duration_seconds histogram",
		"# TYPE herz_probes_total counter",
		"# TYPE herz_conns_open gauge",
		"# TYPE herz_conns_idle gauge",
		"# TYPE herz_breaker_state gauge",
		`herz_retries_total{herz_component="transport",herz_peer="` + be.Listener.Addr().String() + `",herz_reason="status_503"`,
		`herz_dials_total{herz_peer="` + be.Listener.Addr().String() + `",herz_result="ok"`,
		"shop_orders_total{",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", body)
	}
}

// TestRunPrint runs the command's -print mode.
func TestRunPrint(t *testing.T) {
	var out bytes.Buffer
	if err := run("127.0.0.1:0", true, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"herz_dials_total{", "herz_retries_total{", "shop_orders_total{"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("-print output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "_bucket{") {
		t.Errorf("-print output has histogram buckets:\n%s", out.String())
	}
}
