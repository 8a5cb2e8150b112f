package telemetry_test

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/herz-go/herz/internal/telemetry"
)

// newSDKRecorder returns a Recorder on a real SDK MeterProvider read by a
// manual reader.
func newSDKRecorder(t testing.TB, opts ...sdkmetric.Option) (*telemetry.Recorder, *sdkmetric.ManualReader) {
	t.Helper()
	rd := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(append(opts, sdkmetric.WithReader(rd))...)
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	r, err := telemetry.New(mp)
	if err != nil {
		t.Fatalf("New = %v", err)
	}
	return r, rd
}

// collect returns the herz metrics collected by rd, by name, checking that
// they all come from the herz scope.
func collect(t testing.TB, rd *sdkmetric.ManualReader) map[string]metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := rd.Collect(context.Background(), &rm); err != nil {
		t.Fatalf("Collect = %v", err)
	}
	out := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != telemetry.ScopeName {
			t.Fatalf("metrics in scope %q, want %q", sm.Scope.Name, telemetry.ScopeName)
		}
		for _, m := range sm.Metrics {
			out[m.Name] = m
		}
	}
	return out
}

func metricNamed(t testing.TB, got map[string]metricdata.Metrics, name, unit string) metricdata.Metrics {
	t.Helper()
	m, ok := got[name]
	if !ok {
		t.Fatalf("no metric %q collected; have %v", name, keys(got))
	}
	if m.Unit != unit {
		t.Fatalf("%s unit = %q, want %q", name, m.Unit, unit)
	}
	if m.Description == "" {
		t.Fatalf("%s has no description", name)
	}
	return m
}

func keys(m map[string]metricdata.Metrics) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

func point(v int64, kvs ...attribute.KeyValue) metricdata.DataPoint[int64] {
	return metricdata.DataPoint[int64]{Attributes: attribute.NewSet(kvs...), Value: v}
}

func counter(points ...metricdata.DataPoint[int64]) metricdata.Sum[int64] {
	return metricdata.Sum[int64]{Temporality: metricdata.CumulativeTemporality, IsMonotonic: true, DataPoints: points}
}

var (
	peer      = telemetry.AttrPeer.String
	component = telemetry.AttrComponent.String
	result    = telemetry.AttrResult.String
	reason    = telemetry.AttrReason.String
	kind      = telemetry.AttrKind.String
)

func TestRecorderCountersHaveTheirNamesUnitsAndAttributes(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		record func(r *telemetry.Recorder)
		metric string
		unit   string
		want   metricdata.Sum[int64]
	}{
		{
			name: "dials by result",
			record: func(r *telemetry.Recorder) {
				r.Dial(ctx, "db:5432", time.Millisecond, "")
				r.Dial(ctx, "db:5432", time.Millisecond, "")
				r.Dial(ctx, "db:5432", time.Second, "refused")
			},
			metric: "herz.dials", unit: "{dial}",
			want: counter(
				point(2, peer("db:5432"), result("ok")),
				point(1, peer("db:5432"), result("error")),
			),
		},
		{
			name: "dial errors by kind",
			record: func(r *telemetry.Recorder) {
				r.Dial(ctx, "db:5432", time.Millisecond, "")
				r.Dial(ctx, "db:5432", time.Second, "refused")
				r.Dial(ctx, "db:5432", time.Second, "timeout")
				r.Dial(ctx, "db:5432", time.Second, "timeout")
			},
			metric: "herz.dial.errors", unit: "{error}",
			want: counter(
				point(1, peer("db:5432"), kind("refused")),
				point(2, peer("db:5432"), kind("timeout")),
			),
		},
		{
			name:   "verify failures by reason",
			record: func(r *telemetry.Recorder) { r.VerifyFailure(ctx, "10.0.0.1:80", "self_connect") },
			metric: "herz.dial.verify_failures", unit: "{failure}",
			want: counter(point(1, peer("10.0.0.1:80"), reason("self_connect"))),
		},
		{
			name: "probes by result",
			record: func(r *telemetry.Recorder) {
				r.Probe(ctx, "a:1", "alive")
				r.Probe(ctx, "a:1", "eof")
				r.Probe(ctx, "b:2", "alive")
			},
			metric: "herz.probes", unit: "{probe}",
			want: counter(
				point(1, peer("a:1"), result("alive")),
				point(1, peer("a:1"), result("eof")),
				point(1, peer("b:2"), result("alive")),
			),
		},
		{
			name:   "evictions by reason",
			record: func(r *telemetry.Recorder) { r.Eviction(ctx, "[::1]:8080", "lifetime") },
			metric: "herz.evictions", unit: "{connection}",
			want: counter(point(1, peer("[::1]:8080"), reason("lifetime"))),
		},
		{
			name: "retries by component and reason",
			record: func(r *telemetry.Recorder) {
				r.Retry(ctx, telemetry.ComponentTransport, "api:443", "nothing_written")
				r.Retry(ctx, telemetry.ComponentTransport, "api:443", "nothing_written")
				r.Retry(ctx, telemetry.ComponentGRPC, "api:443", "refused_stream")
			},
			metric: "herz.retries", unit: "{retry}",
			want: counter(
				point(2, component("transport"), peer("api:443"), reason("nothing_written")),
				point(1, component("grpc"), peer("api:443"), reason("refused_stream")),
			),
		},
		{
			name:   "retries refused by the budget",
			record: func(r *telemetry.Recorder) { r.RetryRefused(ctx, telemetry.ComponentSQL, "db:3306") },
			metric: "herz.retries.refused", unit: "{retry}",
			want: counter(point(1, component("sql"), peer("db:3306"))),
		},
		{
			name:   "breaker transitions",
			record: func(r *telemetry.Recorder) { r.BreakerTransition(ctx, "transport", "api:443", "closed", "open") },
			metric: "herz.breaker.transitions", unit: "{transition}",
			want: counter(point(1, component("transport"), peer("api:443"),
				telemetry.AttrFrom.String("closed"), telemetry.AttrTo.String("open"))),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, rd := newSDKRecorder(t)
			tt.record(r)
			m := metricNamed(t, collect(t, rd), tt.metric, tt.unit)
			metricdatatest.AssertAggregationsEqual(t, tt.want, m.Data, metricdatatest.IgnoreTimestamp())
		})
	}
}

func TestRecorderDialDurationIsAHistogramInSeconds(t *testing.T) {
	r, rd := newSDKRecorder(t)
	ctx := context.Background()
	r.Dial(ctx, "db:5432", 250*time.Millisecond, "")
	r.Dial(ctx, "db:5432", 1500*time.Millisecond, "")
	r.Dial(ctx, "db:5432", 3*time.Second, "timeout")
	m := metricNamed(t, collect(t, rd), "herz.dial.duration", "s")
	h, ok := m.Data.(metricdata.Histogram[float64])
	if !ok {
		t.Fatalf("herz.dial.duration is %T, want a float64 histogram", m.Data)
	}
	if len(h.DataPoints) != 2 {
		t.Fatalf("%d data points, want 2 (ok and error)", len(h.DataPoints))
	}
	for _, dp := range h.DataPoints {
		res, _ := dp.Attributes.Value(telemetry.AttrResult)
		want := map[string]struct {
			count uint64
			sum   float64
		}{"ok": {2, 1.75}, "error": {1, 3}}[res.AsString()]
		if dp.Count != want.count || dp.Sum != want.sum {
			t.Errorf("result=%s: count %d sum %v, want %d and %v", res.AsString(), dp.Count, dp.Sum, want.count, want.sum)
		}
		if p, _ := dp.Attributes.Value(telemetry.AttrPeer); p.AsString() != "db:5432" {
			t.Errorf("peer = %q", p.AsString())
		}
		// Second-scale buckets, not the SDK's millisecond-scale defaults.
		if len(dp.Bounds) == 0 || dp.Bounds[0] > 0.001 || dp.Bounds[len(dp.Bounds)-1] < 10 {
			t.Errorf("bounds %v: want sub-millisecond to ≥10s buckets", dp.Bounds)
		}
	}
}

func TestRecorderObserveConnsReportsOpenAndIdlePerPeerUntilUnregistered(t *testing.T) {
	r, rd := newSDKRecorder(t)
	unregister, err := r.ObserveConns(func(observe func(peer string, open, idle int64)) {
		observe("a:1", 5, 2)
		observe("https://user:secret@b:2/x", 3, 3)
	})
	if err != nil {
		t.Fatalf("ObserveConns = %v", err)
	}
	// A second owner with a connection to the same peer adds to its count.
	unregister2, err := r.ObserveConns(func(observe func(peer string, open, idle int64)) {
		observe("a:1", 1, 0)
	})
	if err != nil {
		t.Fatalf("ObserveConns = %v", err)
	}
	got := collect(t, rd)
	upDown := func(points ...metricdata.DataPoint[int64]) metricdata.Sum[int64] {
		return metricdata.Sum[int64]{Temporality: metricdata.CumulativeTemporality, IsMonotonic: false, DataPoints: points}
	}
	metricdatatest.AssertAggregationsEqual(t,
		upDown(point(6, peer("a:1")), point(3, peer("b:2"))),
		metricNamed(t, got, "herz.conns.open", "{connection}").Data, metricdatatest.IgnoreTimestamp())
	metricdatatest.AssertAggregationsEqual(t,
		upDown(point(2, peer("a:1")), point(3, peer("b:2"))),
		metricNamed(t, got, "herz.conns.idle", "{connection}").Data, metricdatatest.IgnoreTimestamp())

	for _, u := range []func() error{unregister, unregister, unregister2} { // twice is fine
		if err := u(); err != nil {
			t.Fatalf("unregister = %v", err)
		}
	}
	for name, m := range collect(t, rd) {
		if s, ok := m.Data.(metricdata.Sum[int64]); ok && len(s.DataPoints) > 0 {
			t.Fatalf("%s still reported after unregister: %+v", name, s.DataPoints)
		}
	}
}

func TestRecorderObserveBreakersReportsStateAsAGauge(t *testing.T) {
	r, rd := newSDKRecorder(t)
	unregister, err := r.ObserveBreakers("transport", func(observe func(key string, state int64)) {
		observe("api:443", telemetry.BreakerOpen)
		observe("db:5432", telemetry.BreakerHalfOpen)
		observe("cache:6379", telemetry.BreakerClosed)
	})
	if err != nil {
		t.Fatalf("ObserveBreakers = %v", err)
	}
	defer unregister()
	m := metricNamed(t, collect(t, rd), "herz.breaker.state", "{state}")
	metricdatatest.AssertAggregationsEqual(t,
		metricdata.Gauge[int64]{DataPoints: []metricdata.DataPoint[int64]{
			point(2, component("transport"), peer("api:443")), point(1, component("transport"), peer("db:5432")), point(0, component("transport"), peer("cache:6379")),
		}},
		m.Data, metricdatatest.IgnoreTimestamp())
}

func TestRecorderNeverPutsCredentialsPathsOrQueriesInAttributes(t *testing.T) {
	r, rd := newSDKRecorder(t)
	ctx := context.Background()
	addrs := []string{
		"postgres://admin:s3cr3t-pw@db.internal:5432/orders?sslmode=require&password=s3cr3t-pw",
		"admin:s3cr3t-pw@tcp(db.internal:5432)/orders",
		"host=db.internal port=5432 user=admin password='s3cr3t-pw' dbname=orders",
		"https://admin:s3cr3t-pw@db.internal:5432/orders/path?token=s3cr3t-pw#frag",
	}
	for _, a := range addrs {
		r.Dial(ctx, a, time.Millisecond, "refused")
		r.VerifyFailure(ctx, a, "so_error")
		r.Probe(ctx, a, "rst")
		r.Eviction(ctx, a, "idle")
		r.Retry(ctx, telemetry.ComponentSQL, a, "connect")
		r.RetryRefused(ctx, telemetry.ComponentSQL, a)
		r.BreakerTransition(ctx, "transport", a, "closed", "open")
	}
	unregister, err := r.ObserveConns(func(observe func(string, int64, int64)) {
		for _, a := range addrs {
			observe(a, 1, 1)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer unregister()
	got := collect(t, rd)
	if len(got) != 11 { // all but herz.breaker.state
		t.Fatalf("collected %d metrics, want 11: %v", len(got), keys(got))
	}
	for name, m := range got {
		forEachAttributes(m.Data, func(set attribute.Set) {
			for _, kv := range set.ToSlice() {
				v := kv.Value.Emit()
				if strings.Contains(v, "s3cr3t") || strings.Contains(v, "admin") || strings.ContainsAny(v, "/?#@") {
					t.Errorf("%s: attribute %s=%q leaks userinfo, a path or a query", name, kv.Key, v)
				}
				if kv.Key == telemetry.AttrPeer && v != "db.internal:5432" {
					t.Errorf("%s: herz.peer = %q, want db.internal:5432", name, v)
				}
			}
		})
	}
}

func forEachAttributes(data metricdata.Aggregation, fn func(attribute.Set)) {
	switch d := data.(type) {
	case metricdata.Sum[int64]:
		for _, dp := range d.DataPoints {
			fn(dp.Attributes)
		}
	case metricdata.Gauge[int64]:
		for _, dp := range d.DataPoints {
			fn(dp.Attributes)
		}
	case metricdata.Histogram[float64]:
		for _, dp := range d.DataPoints {
			fn(dp.Attributes)
		}
	}
}

func TestRecorderChecksEachInstrumentSeparately(t *testing.T) {
	// A view that drops herz.dials must not stop the duration and the errors.
	drop := sdkmetric.NewView(sdkmetric.Instrument{Name: "herz.dials"}, sdkmetric.Stream{Aggregation: sdkmetric.AggregationDrop{}})
	r, rd := newSDKRecorder(t, sdkmetric.WithView(drop))
	r.Dial(context.Background(), "db:5432", time.Second, "refused")
	got := collect(t, rd)
	if _, ok := got["herz.dials"]; ok {
		t.Fatal("herz.dials recorded despite the drop view")
	}
	metricNamed(t, got, "herz.dial.duration", "s")
	metricdatatest.AssertAggregationsEqual(t, counter(point(1, peer("db:5432"), kind("refused"))),
		metricNamed(t, got, "herz.dial.errors", "{error}").Data, metricdatatest.IgnoreTimestamp())
}

// recordAll calls every recording method once.
func recordAll(ctx context.Context, r *telemetry.Recorder) {
	r.Dial(ctx, "db:5432", time.Millisecond, "")
	r.Dial(ctx, "db:5432", time.Millisecond, "refused")
	r.VerifyFailure(ctx, "db:5432", "so_error")
	r.Probe(ctx, "db:5432", "alive")
	r.Eviction(ctx, "db:5432", "idle")
	r.Retry(ctx, telemetry.ComponentTransport, "db:5432", "idempotent")
	r.RetryRefused(ctx, telemetry.ComponentTransport, "db:5432")
	r.BreakerTransition(ctx, "sqlconn", "db:5432", "closed", "open")
}

func TestNilRecorderIsValidAndRecordsNothing(t *testing.T) {
	var r *telemetry.Recorder
	recordAll(context.Background(), r)
	for _, observe := range []func() (func() error, error){
		func() (func() error, error) { return r.ObserveConns(func(func(string, int64, int64)) {}) },
		func() (func() error, error) { return r.ObserveBreakers("transport", func(func(string, int64)) {}) },
	} {
		unregister, err := observe()
		if err != nil || unregister == nil {
			t.Fatalf("Observe on nil Recorder = (unregister nil: %t), %v; want a no-op unregister", unregister == nil, err)
		}
		if err := unregister(); err != nil {
			t.Fatalf("unregister = %v", err)
		}
	}
}

func TestRecorderOnTheGlobalAndNoopProvidersRecordsWithoutAllocating(t *testing.T) {
	global, err := telemetry.New(nil) // no SDK installed: the global no-op
	if err != nil {
		t.Fatalf("New(nil) = %v", err)
	}
	noopRec, err := telemetry.New(noop.NewMeterProvider())
	if err != nil {
		t.Fatalf("New(noop) = %v", err)
	}
	ctx := context.Background()
	for name, r := range map[string]*telemetry.Recorder{"global": global, "noop": noopRec, "nil": nil} {
		if a := testing.AllocsPerRun(100, func() { recordAll(ctx, r) }); a != 0 {
			t.Errorf("%s provider: %v allocations per run of every method, want 0", name, a)
		}
		unregister, err := r.ObserveConns(func(func(string, int64, int64)) {})
		if err != nil {
			t.Fatalf("%s: ObserveConns = %v", name, err)
		}
		if err := unregister(); err != nil {
			t.Fatalf("%s: unregister = %v", name, err)
		}
	}
}

func TestRecorderIsSafeForConcurrentUse(t *testing.T) {
	r, rd := newSDKRecorder(t)
	unregister, err := r.ObserveBreakers("transport", func(observe func(string, int64)) { observe("db:5432", telemetry.BreakerOpen) })
	if err != nil {
		t.Fatal(err)
	}
	defer unregister()
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 200 {
				recordAll(ctx, r)
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			collect(t, rd)
		}
	})
	wg.Wait()
	m := metricNamed(t, collect(t, rd), "herz.probes", "{probe}")
	metricdatatest.AssertAggregationsEqual(t, counter(point(800, peer("db:5432"), result("alive"))), m.Data, metricdatatest.IgnoreTimestamp())
}

func benchRecorder(b *testing.B, r *telemetry.Recorder) {
	ctx := context.Background()
	b.Run("Dial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			r.Dial(ctx, "db.internal:5432", time.Millisecond, "")
		}
	})
	b.Run("Probe", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			r.Probe(ctx, "db.internal:5432", "alive")
		}
	})
	b.Run("Retry", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			r.Retry(ctx, telemetry.ComponentTransport, "db.internal:5432", "idempotent")
		}
	})
	b.Run("RetryDSNPeer", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			r.Retry(ctx, telemetry.ComponentSQL, "postgres://u:p@db.internal:5432/db?sslmode=disable", "connect")
		}
	})
}

// BenchmarkRecorderGlobalNoop measures the cost when the application has
// installed no MeterProvider: the default for every herz user.
func BenchmarkRecorderGlobalNoop(b *testing.B) {
	r, err := telemetry.New(nil)
	if err != nil {
		b.Fatal(err)
	}
	benchRecorder(b, r)
}

func BenchmarkRecorderNoopProvider(b *testing.B) {
	r, err := telemetry.New(noop.NewMeterProvider())
	if err != nil {
		b.Fatal(err)
	}
	benchRecorder(b, r)
}

func BenchmarkRecorderSDK(b *testing.B) {
	r, _ := newSDKRecorder(b)
	benchRecorder(b, r)
}

func TestRecorderAttributeCacheIsBoundedAndStaysCorrectPastItsBound(t *testing.T) {
	r, rd := newSDKRecorder(t)
	ctx := context.Background()
	n := telemetry.MaxCachedSets + 500
	for i := range n {
		r.Probe(ctx, "10.0."+strconv.Itoa(i/256)+"."+strconv.Itoa(i%256)+":80", "alive")
		if c := telemetry.CachedProbeSets(r); c > telemetry.MaxCachedSets {
			t.Fatalf("after %d peers the cache holds %d sets, bound is %d", i+1, c, telemetry.MaxCachedSets)
		}
	}
	// Raw spellings of one peer share its series.
	r.Probe(ctx, "10.0.0.0:80", "alive")
	r.Probe(ctx, "http://user:pw@10.0.0.0:80/x", "alive")
	m := metricNamed(t, collect(t, rd), "herz.probes", "{probe}")
	sum := m.Data.(metricdata.Sum[int64])
	// Series are bounded too: the first MaxPeerSeries peers keep their
	// name, the rest share the OtherPeer series.
	if want := min(n, telemetry.MaxPeerSeries) + 1; len(sum.DataPoints) != want {
		t.Fatalf("%d series, want %d", len(sum.DataPoints), want)
	}
	for _, dp := range sum.DataPoints {
		p, _ := dp.Attributes.Value(telemetry.AttrPeer)
		want := int64(1)
		switch p.AsString() {
		case "10.0.0.0:80":
			want = 3
		case telemetry.OtherPeer:
			want = int64(n - telemetry.MaxPeerSeries)
		}
		if dp.Value != want {
			t.Fatalf("peer %s counted %d, want %d", p.AsString(), dp.Value, want)
		}
	}
}

// TestRecorderScopeCarriesTheModuleVersion: the instrumentation scope has
// herz's name and the module version (never empty).
func TestRecorderScopeCarriesTheModuleVersion(t *testing.T) {
	r, rd := newSDKRecorder(t)
	r.Probe(context.Background(), "api:443", "alive")
	var rm metricdata.ResourceMetrics
	if err := rd.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	if len(rm.ScopeMetrics) == 0 {
		t.Fatal("nothing recorded")
	}
	sc := rm.ScopeMetrics[0].Scope
	if sc.Name != telemetry.ScopeName || sc.Version == "" || sc.Version != telemetry.Version() {
		t.Fatalf("scope %q version %q, want %q with version %q", sc.Name, sc.Version, telemetry.ScopeName, telemetry.Version())
	}
}
