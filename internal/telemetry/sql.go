package telemetry

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/semconv/v1.43.0/dbconv"
)

// The OpenTelemetry database client connection-pool instruments package
// sqlconn records through an SQLRecorder. Names, units and descriptions come
// from the generated semconv package (dbconv), never retyped here.
//
//	name                          kind                        unit          attributes
//	db.client.connection.count    observable up-down counter  {connection}  db.client.connection.pool.name, db.client.connection.state (idle|used)
//	db.client.connection.max      observable up-down counter  {connection}  db.client.connection.pool.name
//	db.client.connection.create_time  histogram               s             db.client.connection.pool.name
//	db.client.connection.use_time     histogram               s             db.client.connection.pool.name
//
// The pool name is the application's (sqlconn.Config.PoolName) or the
// server's host:port passed through [Peer], so it never carries a password.

// SQLPoolStats is what an SQLRecorder's observer reports about one pool at a
// collection.
type SQLPoolStats struct {
	// Idle and Used count the pool's open connections by state.
	Idle, Used int64
	// Max is the most connections the pool may open (0: no limit).
	Max int64
}

// SQLRecorder records the db.client.connection.* semantic-convention metrics
// of database/sql pools. A nil *SQLRecorder is valid and records nothing. It
// is safe for concurrent use.
type SQLRecorder struct {
	meter      metric.Meter
	createTime dbconv.ClientConnectionCreateTime
	useTime    dbconv.ClientConnectionUseTime
	count      dbconv.ClientConnectionCountObservable
	max        dbconv.ClientConnectionMaxObservable

	poolSets optCache[string]
}

// NewSQL creates the database client instruments on mp's meter [ScopeName];
// a nil mp means the global provider (see [New]).
func NewSQL(mp metric.MeterProvider) (*SQLRecorder, error) {
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	m := meter(mp)
	r := &SQLRecorder{meter: m}
	var errs [4]error
	r.createTime, errs[0] = dbconv.NewClientConnectionCreateTime(m)
	r.useTime, errs[1] = dbconv.NewClientConnectionUseTime(m)
	r.count, errs[2] = dbconv.NewClientConnectionCountObservable(m)
	r.max, errs[3] = dbconv.NewClientConnectionMaxObservable(m)
	if err := errors.Join(errs[:]...); err != nil {
		return nil, fmt.Errorf("herz/telemetry: creating database client instruments: %w", err)
	}
	return r, nil
}

func (r *SQLRecorder) poolOpt(pool string) metric.MeasurementOption {
	return r.poolSets.get(pool, func(p string) attribute.Set {
		return attribute.NewSet(semconv.DBClientConnectionPoolName(p))
	})
}

// ConnCreated records how long opening one connection of pool took
// (db.client.connection.create_time).
func (r *SQLRecorder) ConnCreated(ctx context.Context, pool string, d time.Duration) {
	if r == nil || !r.createTime.Enabled(ctx) {
		return
	}
	r.createTime.Inst().Record(ctx, d.Seconds(), r.poolOpt(pool))
}

// ConnUsed records how long a connection of pool was checked out
// (db.client.connection.use_time).
func (r *SQLRecorder) ConnUsed(ctx context.Context, pool string, d time.Duration) {
	if r == nil || !r.useTime.Enabled(ctx) {
		return
	}
	r.useTime.Inst().Record(ctx, d.Seconds(), r.poolOpt(pool))
}

// ObservePool registers stats to report pool's connection counts and limit
// at each collection (db.client.connection.count by state,
// db.client.connection.max). stats must not block and must not call back
// into the recorder. The returned unregister stops the reports and may be
// called more than once. On a nil SQLRecorder it registers nothing.
func (r *SQLRecorder) ObservePool(pool string, stats func() SQLPoolStats) (unregister func() error, err error) {
	if r == nil {
		return func() error { return nil }, nil
	}
	poolAttr := semconv.DBClientConnectionPoolName(pool)
	idle := metric.WithAttributeSet(attribute.NewSet(poolAttr, semconv.DBClientConnectionStateIdle))
	used := metric.WithAttributeSet(attribute.NewSet(poolAttr, semconv.DBClientConnectionStateUsed))
	only := metric.WithAttributeSet(attribute.NewSet(poolAttr))
	reg, err := r.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		s := stats()
		o.ObserveInt64(r.count.Inst(), s.Idle, idle)
		o.ObserveInt64(r.count.Inst(), s.Used, used)
		if s.Max > 0 {
			o.ObserveInt64(r.max.Inst(), s.Max, only)
		}
		return nil
	}, r.count.Inst(), r.max.Inst())
	if err != nil {
		return nil, fmt.Errorf("herz/telemetry: registering the pool observer: %w", err)
	}
	var once sync.Once
	return func() error {
		var err error
		once.Do(func() { err = reg.Unregister() })
		return err
	}, nil
}
