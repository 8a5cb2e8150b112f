package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/semconv/v1.43.0/dbconv"
)

// MetricPoolEvictions is the herz instrument of package pool that the
// semantic conventions lack: connections a pool closed, by reason.
const MetricPoolEvictions = "herz.pool.evictions" // counter {connection}: pool name, server, reason

// Values of the db.client.connection.state attribute.
const (
	PoolStateIdle = "idle"
	PoolStateUsed = "used"
)

// poolTimeBuckets are the histogram bounds (seconds) of the pool's create,
// wait and use times: from a hand-out of an idle conn (microseconds) to a
// long-held subscription.
var poolTimeBuckets = []float64{0.00001, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60}

// PoolRecorder records the metrics of one raw connection pool (package
// pool) with OpenTelemetry's db.client.connection.* instruments, which fit a
// generic pool, plus herz.pool.evictions:
//
//	name                                kind                         unit          attributes
//	db.client.connection.count          observable up-down counter   {connection}  pool, server, db.client.connection.state (idle|used)
//	db.client.connection.max            observable up-down counter   {connection}  pool, server
//	db.client.connection.idle.min       observable up-down counter   {connection}  pool, server
//	db.client.connection.create_time    histogram                    s             pool, server
//	db.client.connection.wait_time      histogram                    s             pool, server
//	db.client.connection.use_time       histogram                    s             pool, server
//	db.client.connection.timeouts       counter                      {timeout}     pool, server
//	herz.pool.evictions                 counter                      {connection}  pool, server, herz.reason
//
// where pool is db.client.connection.pool.name and server is server.address
// and server.port. A nil *PoolRecorder records nothing. It is safe for
// concurrent use.
type PoolRecorder struct {
	create, wait, use metric.Float64Histogram
	timeouts          metric.Int64Counter
	evictions         metric.Int64Counter
	unregister        func() error

	base                  []attribute.KeyValue
	opt, idleOpt, usedOpt metric.MeasurementOption

	evictMu   sync.RWMutex // guards evictOpts
	evictOpts map[string]metric.MeasurementOption
}

// PoolCounts reports a pool's current connection counts for the observable
// instruments; it must not block.
type PoolCounts func() (idle, used, maxConns, minIdle int64)

// NewPoolRecorder creates the instruments of the pool named name dialing
// addr (host:port) on mp's meter [ScopeName] (nil: the global provider), and
// registers counts for the observable ones; call Close to unregister.
func NewPoolRecorder(mp metric.MeterProvider, name, addr string, counts PoolCounts) (*PoolRecorder, error) {
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	m := meter(mp)
	r := &PoolRecorder{evictOpts: make(map[string]metric.MeasurementOption)}
	r.base = []attribute.KeyValue{semconv.DBClientConnectionPoolName(name)}
	if host, port, err := net.SplitHostPort(Peer(addr)); err == nil {
		r.base = append(r.base, semconv.ServerAddress(host))
		if n, err := strconv.Atoi(port); err == nil {
			r.base = append(r.base, semconv.ServerPort(n))
		}
	}
	r.opt = metric.WithAttributeSet(attribute.NewSet(r.base...))
	r.idleOpt = metric.WithAttributeSet(attribute.NewSet(append(r.base, semconv.DBClientConnectionStateIdle)...))
	r.usedOpt = metric.WithAttributeSet(attribute.NewSet(append(r.base, semconv.DBClientConnectionStateUsed)...))

	buckets := metric.WithExplicitBucketBoundaries(poolTimeBuckets...)
	create, err1 := dbconv.NewClientConnectionCreateTime(m, buckets)
	wait, err2 := dbconv.NewClientConnectionWaitTime(m, buckets)
	use, err3 := dbconv.NewClientConnectionUseTime(m, buckets)
	timeouts, err4 := dbconv.NewClientConnectionTimeouts(m)
	count, err5 := dbconv.NewClientConnectionCountObservable(m)
	maxc, err6 := dbconv.NewClientConnectionMaxObservable(m)
	idleMin, err7 := dbconv.NewClientConnectionIdleMinObservable(m)
	evictions, err8 := m.Int64Counter(MetricPoolEvictions, metric.WithUnit(unitConnection),
		metric.WithDescription("Connections closed by a herz pool before use, by reason."))
	if err := errors.Join(err1, err2, err3, err4, err5, err6, err7, err8); err != nil {
		return nil, fmt.Errorf("herz/telemetry: creating pool instruments: %w", err)
	}
	r.create, r.wait, r.use = create.Inst(), wait.Inst(), use.Inst()
	r.timeouts, r.evictions = timeouts.Inst(), evictions
	reg, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		idle, used, mx, mn := counts()
		o.ObserveInt64(count.Inst(), idle, r.idleOpt)
		o.ObserveInt64(count.Inst(), used, r.usedOpt)
		o.ObserveInt64(maxc.Inst(), mx, r.opt)
		o.ObserveInt64(idleMin.Inst(), mn, r.opt)
		return nil
	}, count.Inst(), maxc.Inst(), idleMin.Inst())
	if err != nil {
		return nil, fmt.Errorf("herz/telemetry: registering the pool count callback: %w", err)
	}
	r.unregister = once(reg)
	return r, nil
}

// Close unregisters the observable instruments' callback. It may be called
// more than once.
func (r *PoolRecorder) Close() {
	if r != nil {
		_ = r.unregister()
	}
}

// Now returns the current time when the wait or use time is recorded, and
// the zero Time otherwise, so that an uninstrumented pool reads no clock.
func (r *PoolRecorder) Now() time.Time {
	ctx := context.Background()
	if r == nil || !(r.wait.Enabled(ctx) || r.use.Enabled(ctx)) {
		return time.Time{}
	}
	return time.Now()
}

// Create records the time one connection took to dial.
func (r *PoolRecorder) Create(d time.Duration) { r.hist(r.pick(0), d) }

// Wait records the time one Acquire took.
func (r *PoolRecorder) Wait(d time.Duration) { r.hist(r.pick(1), d) }

// Use records how long one connection was held by its caller.
func (r *PoolRecorder) Use(d time.Duration) { r.hist(r.pick(2), d) }

func (r *PoolRecorder) pick(i int) metric.Float64Histogram {
	if r == nil {
		return nil
	}
	return [...]metric.Float64Histogram{r.create, r.wait, r.use}[i]
}

func (r *PoolRecorder) hist(h metric.Float64Histogram, d time.Duration) {
	ctx := context.Background()
	if h == nil || !h.Enabled(ctx) {
		return
	}
	h.Record(ctx, d.Seconds(), r.opt)
}

// Timeout records an Acquire that ended with its context.
func (r *PoolRecorder) Timeout() {
	ctx := context.Background()
	if r == nil || !r.timeouts.Enabled(ctx) {
		return
	}
	r.timeouts.Add(ctx, 1, r.opt)
}

// Eviction records a connection the pool closed before use, with its
// herz.reason (a bounded vocabulary chosen by package pool).
func (r *PoolRecorder) Eviction(reason string) {
	ctx := context.Background()
	if r == nil || !r.evictions.Enabled(ctx) {
		return
	}
	r.evictMu.RLock()
	opt, ok := r.evictOpts[reason]
	r.evictMu.RUnlock()
	if !ok {
		opt = metric.WithAttributeSet(attribute.NewSet(append(append([]attribute.KeyValue(nil), r.base...), AttrReason.String(reason))...))
		r.evictMu.Lock()
		if len(r.evictOpts) < maxCachedSets {
			r.evictOpts[reason] = opt
		}
		r.evictMu.Unlock()
	}
	r.evictions.Add(ctx, 1, opt)
}
