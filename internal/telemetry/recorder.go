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
)

// Recorder records herz metrics on the instruments it owns (see the Metric*
// constants). A nil *Recorder is valid and records nothing: every method is
// nil-safe, so packages hold a *Recorder without checking it. A Recorder is
// safe for concurrent use.
//
// The recording methods first ask the instruments whether they are enabled
// and return at once when none is: with no MeterProvider installed (the
// global default) or a no-op one they cost a few nanoseconds and never
// allocate. Every peer passed in is normalised by [Peer], so an address that
// still carries credentials or a path never reaches an attribute. The
// attribute sets are cached by the raw strings passed in (at most 1024
// combinations per method, then the oldest is dropped), so recording the same
// peer and reason again does not rebuild or allocate them.
type Recorder struct {
	meter metric.Meter
	bound peerBound // caps the distinct herz.peer values

	// The attribute-set builders, bound once so that recording does not
	// allocate a method value per call.
	peerReasonSetFn func([2]string) attribute.Set
	peerSetFn       func(string) attribute.Set

	dials              metric.Int64Counter
	dialDuration       metric.Float64Histogram
	dialErrors         metric.Int64Counter
	verifyFailures     metric.Int64Counter
	probes             metric.Int64Counter
	evictions          metric.Int64Counter
	retries            metric.Int64Counter
	retriesRefused     metric.Int64Counter
	breakerTransitions metric.Int64Counter

	connsOpen    metric.Int64ObservableUpDownCounter
	connsIdle    metric.Int64ObservableUpDownCounter
	breakerState metric.Int64ObservableGauge

	// Attribute sets by the raw strings they were built from, per method:
	// built once per combination instead of on every record (bounded).
	dialSets, dialErrorSets, verifySets, probeSets, evictionSets, refusedSets optCache[[2]string]
	retrySets, breakerSets                                                    optCache[[3]string]
	transitionSets                                                            optCache[[4]string]
	peerSets                                                                  optCache[string]
}

// New creates the herz instruments on mp's meter [ScopeName]. A nil mp means
// otel.GetMeterProvider(), the global provider, which records nothing until
// the application installs one (and then forwards to it). The error joins
// every instrument that could not be created.
func New(mp metric.MeterProvider) (*Recorder, error) {
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	m := meter(mp)
	r := &Recorder{meter: m}
	r.peerReasonSetFn, r.peerSetFn = r.peerReasonSet, r.peerSet
	var errs []error
	counter := func(name, unit, desc string) metric.Int64Counter {
		c, err := m.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	r.dials = counter(MetricDials, unitDial, "Connections dialed, by peer and result.")
	r.dialErrors = counter(MetricDialErrors, unitError, "Failed dials, by peer and error kind.")
	r.verifyFailures = counter(MetricVerifyFailures, unitFailure, "Connections rejected by post-connect verification (SO_ERROR, getpeername, self-connect), by reason.")
	r.probes = counter(MetricProbes, unitProbe, "Liveness probes of connections, by result.")
	r.evictions = counter(MetricEvictions, unitConnection, "Connections closed by herz before use, by reason.")
	r.retries = counter(MetricRetries, unitRetry, "Retries made, by component and by why the retry was safe.")
	r.retriesRefused = counter(MetricRetriesRefused, unitRetry, "Retries refused by the retry budget.")
	r.breakerTransitions = counter(MetricBreakerTransitions, unitTransition, "Circuit breaker state changes.")

	var err error
	r.dialDuration, err = m.Float64Histogram(MetricDialDuration,
		metric.WithUnit(unitSeconds),
		metric.WithDescription("Time to dial and verify a connection."),
		metric.WithExplicitBucketBoundaries(dialDurationBuckets...))
	errs = append(errs, err)
	r.connsOpen, err = m.Int64ObservableUpDownCounter(MetricConnsOpen,
		metric.WithUnit(unitConnection), metric.WithDescription("Open connections, by peer."))
	errs = append(errs, err)
	r.connsIdle, err = m.Int64ObservableUpDownCounter(MetricConnsIdle,
		metric.WithUnit(unitConnection), metric.WithDescription("Idle connections, by peer."))
	errs = append(errs, err)
	r.breakerState, err = m.Int64ObservableGauge(MetricBreakerState,
		metric.WithUnit(unitState),
		metric.WithDescription("Circuit breaker state: 0 closed, 1 half-open, 2 open."))
	errs = append(errs, err)

	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("herz/telemetry: creating instruments: %w", err)
	}
	return r, nil
}

// Dial records one dial to peer that took d: herz.dials and
// herz.dial.duration with herz.result ok or error, and for a failure
// (errKind != "") herz.dial.errors with herz.kind = errKind.
func (r *Recorder) Dial(ctx context.Context, peer string, d time.Duration, errKind string) {
	if r == nil {
		return
	}
	dials, dur := r.dials.Enabled(ctx), r.dialDuration.Enabled(ctx)
	errs := errKind != "" && r.dialErrors.Enabled(ctx)
	if dials || dur {
		result := ResultOK
		if errKind != "" {
			result = ResultError
		}
		opt := r.dialSets.get([2]string{peer, result}, func(k [2]string) attribute.Set {
			return attribute.NewSet(AttrPeer.String(r.peer(k[0])), AttrResult.String(k[1]))
		})
		if dials {
			r.dials.Add(ctx, 1, opt)
		}
		if dur {
			r.dialDuration.Record(ctx, d.Seconds(), opt)
		}
	}
	if errs {
		r.dialErrors.Add(ctx, 1, r.dialErrorSets.get([2]string{peer, errKind}, func(k [2]string) attribute.Set {
			return attribute.NewSet(AttrPeer.String(r.peer(k[0])), AttrKind.String(k[1]))
		}))
	}
}

// VerifyFailure records a connection rejected by post-connect verification
// (herz.dial.verify_failures), with herz.reason such as "so_error",
// "no_peer" or "self_connect".
func (r *Recorder) VerifyFailure(ctx context.Context, peer, reason string) {
	if r == nil || !r.verifyFailures.Enabled(ctx) {
		return
	}
	r.verifyFailures.Add(ctx, 1, r.verifySets.get([2]string{peer, reason}, r.peerReasonSetFn))
}

// Probe records one liveness probe of a connection to peer (herz.probes)
// with its herz.result.
func (r *Recorder) Probe(ctx context.Context, peer, result string) {
	if r == nil || !r.probes.Enabled(ctx) {
		return
	}
	r.probes.Add(ctx, 1, r.probeSets.get([2]string{peer, result}, func(k [2]string) attribute.Set {
		return attribute.NewSet(AttrPeer.String(r.peer(k[0])), AttrResult.String(k[1]))
	}))
}

// Eviction records a connection to peer closed by herz (herz.evictions) with
// its herz.reason.
func (r *Recorder) Eviction(ctx context.Context, peer, reason string) {
	if r == nil || !r.evictions.Enabled(ctx) {
		return
	}
	r.evictions.Add(ctx, 1, r.evictionSets.get([2]string{peer, reason}, r.peerReasonSetFn))
}

// Retry records a retry made by component (one of the Component* values) to
// peer (herz.retries), with herz.reason naming why it was safe.
func (r *Recorder) Retry(ctx context.Context, component, peer, reason string) {
	if r == nil || !r.retries.Enabled(ctx) {
		return
	}
	r.retries.Add(ctx, 1, r.retrySets.get([3]string{component, peer, reason}, func(k [3]string) attribute.Set {
		return attribute.NewSet(AttrComponent.String(k[0]), AttrPeer.String(r.peer(k[1])), AttrReason.String(k[2]))
	}))
}

// RetryRefused records a retry that the retry budget refused
// (herz.retries.refused).
func (r *Recorder) RetryRefused(ctx context.Context, component, peer string) {
	if r == nil || !r.retriesRefused.Enabled(ctx) {
		return
	}
	r.retriesRefused.Add(ctx, 1, r.refusedSets.get([2]string{component, peer}, func(k [2]string) attribute.Set {
		return attribute.NewSet(AttrComponent.String(k[0]), AttrPeer.String(r.peer(k[1])))
	}))
}

// BreakerTransition records a state change of the breaker for key
// (herz.breaker.transitions): component (transport, dialer, grpcconn,
// sqlconn) is herz.component, telling the layers' breakers apart; the key,
// normalised by [Peer], is the herz.peer attribute; from and to are herz.from
// and herz.to.
func (r *Recorder) BreakerTransition(ctx context.Context, component, key, from, to string) {
	if r == nil || !r.breakerTransitions.Enabled(ctx) {
		return
	}
	r.breakerTransitions.Add(ctx, 1, r.transitionSets.get([4]string{component, key, from, to}, func(k [4]string) attribute.Set {
		return attribute.NewSet(AttrComponent.String(k[0]), AttrPeer.String(r.peer(k[1])), AttrFrom.String(k[2]), AttrTo.String(k[3]))
	}))
}

func (r *Recorder) peerReasonSet(k [2]string) attribute.Set {
	return attribute.NewSet(AttrPeer.String(r.peer(k[0])), AttrReason.String(k[1]))
}

func (r *Recorder) peerSet(peer string) attribute.Set {
	return attribute.NewSet(AttrPeer.String(r.peer(peer)))
}

// peer is the herz.peer value of raw: normalised by [Peer], and "_other"
// once this recorder has reported MaxPeerSeries distinct peers.
func (r *Recorder) peer(raw string) string { return r.bound.name(Peer(raw)) }

// ObserveConns registers fn to report connection counts at each collection:
// fn calls observe once per peer with the open and idle connection counts
// (herz.conns.open and herz.conns.idle, with herz.peer). Counts that several
// owners report for the same peer add up. observe may only be called while fn
// runs; fn must not block and must not call back into the Recorder.
//
// The returned unregister stops the reports (call it when the owner closes);
// it may be called more than once. On a nil Recorder ObserveConns registers
// nothing and returns a no-op unregister.
func (r *Recorder) ObserveConns(fn func(observe func(peer string, open, idle int64))) (unregister func() error, err error) {
	if r == nil {
		return noUnregister, nil
	}
	reg, err := r.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		fn(func(peer string, open, idle int64) {
			opt := r.peerSets.get(peer, r.peerSetFn)
			o.ObserveInt64(r.connsOpen, open, opt)
			o.ObserveInt64(r.connsIdle, idle, opt)
		})
		return nil
	}, r.connsOpen, r.connsIdle)
	if err != nil {
		return nil, fmt.Errorf("herz/telemetry: registering the connection count callback: %w", err)
	}
	return once(reg), nil
}

// ObserveBreakers registers fn to report breaker states at each collection:
// fn calls observe once per breaker key with its state ([BreakerClosed],
// [BreakerHalfOpen] or [BreakerOpen]) as herz.breaker.state, with the key,
// normalised by [Peer], as herz.peer and component (transport, dialer,
// grpcconn, sqlconn) as herz.component, which tells the breakers of the
// layers apart. The rules of [Recorder.ObserveConns]
// apply.
func (r *Recorder) ObserveBreakers(component string, fn func(observe func(key string, state int64))) (unregister func() error, err error) {
	if r == nil {
		return noUnregister, nil
	}
	reg, err := r.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		fn(func(key string, state int64) {
			o.ObserveInt64(r.breakerState, state, r.breakerSets.get([3]string{component, key}, func(k [3]string) attribute.Set {
				return attribute.NewSet(AttrComponent.String(k[0]), AttrPeer.String(r.peer(k[1])))
			}))
		})
		return nil
	}, r.breakerState)
	if err != nil {
		return nil, fmt.Errorf("herz/telemetry: registering the breaker state callback: %w", err)
	}
	return once(reg), nil
}

func noUnregister() error { return nil }

// once makes reg.Unregister safe to call more than once.
func once(reg metric.Registration) func() error {
	return sync.OnceValue(func() error {
		if err := reg.Unregister(); err != nil {
			return fmt.Errorf("herz/telemetry: unregistering a callback: %w", err)
		}
		return nil
	})
}
