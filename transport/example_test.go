package transport_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/herz-go/herz/transport"
)

func ExampleMust() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Keep-Alive", "timeout=5")
		fmt.Fprint(w, "hello")
	}))
	defer srv.Close()

	// A client of its own; http.DefaultTransport is hardened in place instead (see Harden).
	tr := transport.Must(transport.Config{})
	defer tr.Close()
	client := &http.Client{Transport: tr}

	resp, err := client.Get(srv.URL)
	if err != nil {
		panic(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, string(body))

	// The server's Keep-Alive header taught herz its idle timeout.
	timeout, _ := tr.Dialer().Learner().Estimate(srv.Listener.Addr().String())
	st := tr.Stats()
	fmt.Println("learned idle timeout:", timeout, "requests:", st.Requests, "dials:", st.Dials)
	// Output:
	// 200 hello
	// learned idle timeout: 5s requests: 1 dials: 1
}

// Harden adopts herz in place: the transport stays an *http.Transport, so
// libraries that assert and Clone http.DefaultTransport keep working, and
// their clones dial through herz.
func ExampleHarden() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "hello")
	}))
	defer srv.Close()

	// In a program:
	//	transport.Harden(http.DefaultTransport.(*http.Transport), transport.HardenConfig{})
	base := http.DefaultTransport.(*http.Transport).Clone()
	d, err := transport.Harden(base, transport.HardenConfig{})
	if err != nil {
		panic(err)
	}
	defer d.Close()

	clone := base.Clone() // what many libraries do with http.DefaultTransport
	defer clone.CloseIdleConnections()
	resp, err := (&http.Client{Transport: clone}).Get(srv.URL)
	if err != nil {
		panic(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, string(body), "- dials through herz:", d.Stats().Dials)
	// Output:
	// 200 hello - dials through herz: 1
}

// WithoutRetries turns herz's retries off for one request; OnRetry sees
// the retries of the others.
func ExampleWithoutRetries() {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()

	tr := transport.Must(transport.Config{
		Retry:   transport.RetryConfig{Initial: time.Millisecond, RetryStatus: transport.RetryUnavailable},
		OnRetry: func(ri transport.RetryInfo) { fmt.Println("retry after attempt", ri.Attempt, ri.Reason) },
	})
	defer tr.Close()
	client := &http.Client{Transport: tr}

	for _, ctx := range []context.Context{context.Background(), transport.WithoutRetries(context.Background())} {
		hits.Store(0)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
		resp, err := client.Do(req)
		if err != nil {
			panic(err)
		}
		resp.Body.Close()
		fmt.Println(resp.StatusCode, "after", hits.Load(), "attempt(s)")
	}
	// Output:
	// retry after attempt 1 status_503
	// retry after attempt 2 status_503
	// 503 after 3 attempt(s)
	// 503 after 1 attempt(s)
}

// A client calling many hosts can drop the per-peer attributes from herz's
// metrics with an OpenTelemetry View: every series then sums over peers.
func ExampleTransport_dropPeerAttributes() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()

	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader), sdkmetric.WithView(sdkmetric.NewView(
		sdkmetric.Instrument{Name: "*"},
		sdkmetric.Stream{AttributeFilter: attribute.NewDenyKeysFilter("herz.peer", "server.address", "server.port")},
	)))
	defer mp.Shutdown(context.Background())

	tr := transport.Must(transport.Config{MeterProvider: mp})
	defer tr.Close()
	resp, err := (&http.Client{Transport: tr}).Get(srv.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		fmt.Println(err)
		return
	}
	series, withPeer := 0, 0
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			for _, set := range attributeSets(m.Data) {
				series++
				for _, k := range []attribute.Key{"herz.peer", "server.address", "server.port"} {
					if set.HasValue(k) {
						withPeer++
					}
				}
			}
		}
	}
	fmt.Println("series recorded:", series > 0, "with a peer attribute:", withPeer)
	// Output: series recorded: true with a peer attribute: 0
}

// attributeSets returns the attribute sets of a metric's data points.
func attributeSets(data metricdata.Aggregation) []attribute.Set {
	var sets []attribute.Set
	switch d := data.(type) {
	case metricdata.Sum[int64]:
		for _, p := range d.DataPoints {
			sets = append(sets, p.Attributes)
		}
	case metricdata.Sum[float64]:
		for _, p := range d.DataPoints {
			sets = append(sets, p.Attributes)
		}
	case metricdata.Gauge[int64]:
		for _, p := range d.DataPoints {
			sets = append(sets, p.Attributes)
		}
	case metricdata.Histogram[float64]:
		for _, p := range d.DataPoints {
			sets = append(sets, p.Attributes)
		}
	}
	return sets
}
