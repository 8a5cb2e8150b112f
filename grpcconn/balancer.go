package grpcconn

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/balancer/endpointsharding"
	"google.golang.org/grpc/balancer/pickfirst"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/serviceconfig"
	"google.golang.org/grpc/status"

	"github.com/herz-go/herz/dialer"
	"github.com/herz-go/herz/internal/telemetry"
)

// BalancerName is the name under which the outlier-ejecting round-robin
// balancer is registered with grpc-go (in this package's init, grpc-go's only
// registration mechanism). The default service config of [DialOptions]
// selects it; a service config of your own can name it too, with an
// [OutlierConfig] as JSON (durations in nanoseconds).
const BalancerName = "herz_outlier"

func init() { balancer.Register(builder{}) }

// Ejection reasons: the herz.reason attribute of herz.ejections.
const (
	reasonConsecutive  = "consecutive_failures"
	reasonFailureRatio = "failure_ratio"
	reasonLatency      = "latency"
)

type builder struct{}

// Name returns [BalancerName].
func (builder) Name() string { return BalancerName }

// lbConfig is the parsed JSON config of the balancer.
type lbConfig struct {
	serviceconfig.LoadBalancingConfig `json:"-"`
	OutlierConfig
}

// ParseConfig parses an [OutlierConfig] in JSON, filling in the defaults.
func (builder) ParseConfig(js json.RawMessage) (serviceconfig.LoadBalancingConfig, error) {
	var c lbConfig
	if len(js) > 0 {
		if err := json.Unmarshal(js, &c.OutlierConfig); err != nil {
			return nil, fmt.Errorf("herz/grpcconn: %s config: %w", BalancerName, err)
		}
	}
	s, err := Config{Outlier: c.OutlierConfig}.withDefaults()
	if err != nil {
		return nil, err
	}
	c.OutlierConfig = s.Outlier
	return &c, nil
}

// Build returns a new herz_outlier balancer with the default config (the
// service config's arrives with the first UpdateClientConnState).
func (builder) Build(cc balancer.ClientConn, opts balancer.BuildOptions) balancer.Balancer {
	b := &outlierBalancer{cc: cc, eps: map[string]*endpoint{}}
	s, _ := Config{}.withDefaults()
	b.cfg.Store(&s.Outlier)
	b.lastEval.Store(time.Now().UnixNano())
	b.Balancer = endpointsharding.NewBalancer(wrappedCC{cc, b}, opts, balancer.Get(pickfirst.Name).Build, endpointsharding.Options{})
	return b
}

// outlierBalancer is endpointsharding with pick_first leaves (as grpc-go's
// round_robin), whose aggregated picker is replaced by one that skips
// ejected endpoints. The state of every endpoint's health is kept here.
type outlierBalancer struct {
	balancer.Balancer // endpointsharding
	cc                balancer.ClientConn

	hooks    atomic.Pointer[hooks] // the client's telemetry, learned at the first pick through herz's interceptors
	panicked atomic.Bool           // fewer than PanicThreshold of the endpoints are usable: ignore ejections
	lastEval atomic.Int64          // unix ns of the last interval evaluation

	// mu guards the fields below and every endpoint's ejections, timer and
	// ready flag. It is never held while calling into grpc-go.
	cfg atomic.Pointer[OutlierConfig]

	mu        sync.Mutex
	eps       map[string]*endpoint // by first address
	closed    bool
	lifeTimer *time.Timer    // checkLifetimes, every Interval
	holding   bool           // a recycle is in progress: hold picker updates back
	held      balancer.State // the last state held back

	// topMu serializes every call into endpointsharding and its leaves:
	// grpc-go's (serialized by grpc-go's serializer), the leaves' subchannel
	// callbacks (see wrappedCC.NewSubConn) and recycle's (from a timer). It
	// is taken before mu, and never by updateState.
	topMu    sync.Mutex
	resolved resolver.State // the last resolver state, guarded by topMu
}

// endpoint is the health of one backend.
type endpoint struct {
	addr    string
	ejected atomic.Bool

	// Counters of the current interval (atomics: every call's Done adds).
	ok, fail, latN, latSum atomic.Int64
	consecutive            atomic.Int64

	// Guarded by outlierBalancer.mu.
	ready     bool
	ejections int
	timer     *time.Timer
	// connGen counts the times the endpoint became ready (a new
	// connection); ejectGen is connGen when it was last ejected for its
	// failures (failedEject): calls cut by a crash are evidence against the
	// connection that died, and a new connection ends that ejection.
	connGen     int
	ejectGen    int
	failedEject bool
	ejectSeq    uint64 // numbers the ejections, so a stale timer ends none
}

type wrappedCC struct {
	balancer.ClientConn
	b *outlierBalancer
}

// UpdateState intercepts endpointsharding's aggregated state to replace its
// picker.
func (w wrappedCC) UpdateState(s balancer.State) { w.b.updateState(s) }

// NewSubConn makes the pick_first leaves' subchannel state callbacks (which
// grpc-go runs on its serializer) take topMu, so that they never run
// concurrently with a recycle's calls into the same leaves.
func (w wrappedCC) NewSubConn(addrs []resolver.Address, opts balancer.NewSubConnOptions) (balancer.SubConn, error) {
	if l := opts.StateListener; l != nil {
		b := w.b
		opts.StateListener = func(s balancer.SubConnState) {
			b.topMu.Lock()
			defer b.topMu.Unlock()
			l(s)
		}
	}
	return w.ClientConn.NewSubConn(addrs, opts)
}

// UpdateClientConnState takes the config and the resolver's endpoints and
// hands the endpoints to endpointsharding.
func (b *outlierBalancer) UpdateClientConnState(s balancer.ClientConnState) error {
	if c, ok := s.BalancerConfig.(*lbConfig); ok {
		oc := c.OutlierConfig
		b.cfg.Store(&oc)
	}
	// pickfirst.EnableHealthListener is not set: health updates would reach
	// the leaves outside topMu (and herz_outlier does its own health).
	rs := s.ResolverState
	b.topMu.Lock()
	defer b.topMu.Unlock()
	b.resolved = rs
	b.mu.Lock()
	if b.lifeTimer == nil && !b.closed {
		b.lifeTimer = time.AfterFunc(b.cfg.Load().Interval, b.checkLifetimes)
	}
	b.mu.Unlock()
	return b.Balancer.UpdateClientConnState(balancer.ClientConnState{ResolverState: rs})
}

// ResolverError forwards a resolver error to endpointsharding.
func (b *outlierBalancer) ResolverError(err error) {
	b.topMu.Lock()
	defer b.topMu.Unlock()
	b.Balancer.ResolverError(err)
}

// ExitIdle forwards to endpointsharding.
func (b *outlierBalancer) ExitIdle() {
	b.topMu.Lock()
	defer b.topMu.Unlock()
	b.Balancer.ExitIdle()
}

// Close stops the ejection and lifetime timers and closes endpointsharding.
func (b *outlierBalancer) Close() {
	b.topMu.Lock()
	defer b.topMu.Unlock()
	b.mu.Lock()
	b.closed = true
	for _, ep := range b.eps {
		if ep.timer != nil {
			ep.timer.Stop()
		}
	}
	if b.lifeTimer != nil {
		b.lifeTimer.Stop()
	}
	b.mu.Unlock()
	b.Balancer.Close()
}

// checkLifetimes runs every Interval: the endpoints with a connection past
// the dialer's MaxLifetime are recycled.
func (b *outlierBalancer) checkLifetimes() {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	addrs := make(map[string]bool, len(b.eps))
	for addr := range b.eps {
		addrs[addr] = true
	}
	b.mu.Unlock()
	if h := b.hooks.Load(); h != nil {
		if expired := h.conns.takeExpired(addrs); len(expired) > 0 {
			b.recycle(expired)
		}
	}
	b.mu.Lock()
	if !b.closed {
		b.lifeTimer.Reset(b.cfg.Load().Interval)
	}
	b.mu.Unlock()
}

// recycle drains the connections of the endpoints at addrs gracefully: it
// removes them from endpointsharding, which shuts their pick_first
// subchannels down (grpc-go then closes each transport once its last
// stream ended: no new streams, none cut), and adds them back at once,
// which dials new connections. Picker updates are held back in between, so
// callers never see the intermediate state; the endpoints keep their
// outlier history.
func (b *outlierBalancer) recycle(addrs []string) {
	b.topMu.Lock()
	defer b.topMu.Unlock()
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.holding = true
	b.mu.Unlock()
	drop := make(map[string]bool, len(addrs))
	for _, a := range addrs {
		drop[a] = true
	}
	without := b.resolved
	without.Endpoints = nil
	for _, ep := range b.resolved.Endpoints {
		if len(ep.Addresses) == 0 || !drop[ep.Addresses[0].Addr] {
			without.Endpoints = append(without.Endpoints, ep)
		}
	}
	without.Addresses = nil
	full := b.resolved
	_ = b.Balancer.UpdateClientConnState(balancer.ClientConnState{ResolverState: without})
	_ = b.Balancer.UpdateClientConnState(balancer.ClientConnState{ResolverState: full})
	b.mu.Lock()
	b.holding = false
	held := b.held
	b.held = balancer.State{}
	b.mu.Unlock()
	if held.Picker != nil {
		b.updateState(held)
	}
	if h := b.hooks.Load(); h != nil {
		h.drains.Add(uint64(len(addrs)))
	}
}

type readyChild struct {
	picker balancer.Picker
	ep     *endpoint
}

// updateState builds the picker over the ready children.
func (b *outlierBalancer) updateState(s balancer.State) {
	children := endpointsharding.ChildStatesFromPicker(s.Picker)
	var ready []readyChild
	b.mu.Lock()
	if b.holding {
		b.held = s
		b.mu.Unlock()
		return
	}
	seen := make(map[string]bool, len(children))
	for _, ch := range children {
		if len(ch.Endpoint.Addresses) == 0 {
			continue
		}
		addr := ch.Endpoint.Addresses[0].Addr
		seen[addr] = true
		ep := b.eps[addr]
		if ep == nil {
			ep = &endpoint{addr: addr}
			b.eps[addr] = ep
		}
		wasReady := ep.ready
		ep.ready = ch.State.ConnectivityState == connectivity.Ready
		if ep.ready && !wasReady {
			b.connectedLocked(ep)
		}
		if ep.ready {
			ready = append(ready, readyChild{picker: ch.State.Picker, ep: ep})
		}
	}
	for addr, ep := range b.eps {
		if !seen[addr] {
			if ep.timer != nil {
				ep.timer.Stop()
			}
			delete(b.eps, addr)
		}
	}
	b.updatePanicLocked()
	closed := b.closed
	b.mu.Unlock()
	if closed {
		return
	}
	if len(ready) == 0 {
		b.cc.UpdateState(s) // connecting, idle or failing: endpointsharding's picker
		return
	}
	p := &picker{b: b, ready: ready}
	p.next.Store(rand.Uint32())
	b.cc.UpdateState(balancer.State{ConnectivityState: connectivity.Ready, Picker: p})
}

// connectedLocked records that ep has a new ready connection: a connect
// success is evidence that the backend is back. Its run of failures (those
// of the connection that died) is forgotten, and an ejection for failures
// made before this connection ends, forgiven: a backend whose calls were cut
// by its crash serves again as soon as it accepts a connection, as with
// round_robin, instead of staying ejected for BaseEjection. An ejection for
// latency stands (the connection is not what was slow).
func (b *outlierBalancer) connectedLocked(ep *endpoint) {
	ep.connGen++
	ep.consecutive.Store(0)
	if !ep.ejected.Load() || !ep.failedEject || ep.ejectGen >= ep.connGen {
		return
	}
	if ep.ejections > 0 {
		ep.ejections--
	}
	if ep.timer != nil {
		ep.timer.Stop()
	}
	b.unEjectLocked(ep)
}

// healthyExcept reports whether an endpoint other than ep (nil: any) is
// healthy: ready, not ejected, and its last counted call (if any since it
// connected) a success. A target-level breaker counts a backend's failure
// only when no other backend is healthy, and refuses no call while one is.
func (b *outlierBalancer) healthyExcept(ep *endpoint) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return false
	}
	for _, e := range b.eps {
		if e != ep && e.ready && !e.ejected.Load() && e.consecutive.Load() == 0 {
			return true
		}
	}
	return false
}

// updatePanicLocked sets panic mode when too few endpoints are usable.
func (b *outlierBalancer) updatePanicLocked() {
	cfg := b.cfg.Load()
	if cfg.PanicThreshold < 0 || len(b.eps) == 0 {
		b.panicked.Store(false)
		return
	}
	usable := 0
	for _, ep := range b.eps {
		if ep.ready && !ep.ejected.Load() {
			usable++
		}
	}
	b.panicked.Store(float64(usable) < cfg.PanicThreshold*float64(len(b.eps)))
}

// picker is round-robin over the ready children, skipping ejected ones
// unless none is left or the balancer is in panic mode.
type picker struct {
	b     *outlierBalancer
	ready []readyChild
	next  atomic.Uint32
}

// Pick picks the next ready, not ejected backend and wraps its Done to
// record the call's outcome.
func (p *picker) Pick(info balancer.PickInfo) (balancer.PickResult, error) {
	n := uint32(len(p.ready))
	ch := &p.ready[p.next.Add(1)%n]
	if ch.ep.ejected.Load() && !p.b.panicked.Load() {
		// Skipping advances the shared counter too, so the backends after
		// an ejected one do not inherit its share.
		for range n - 1 {
			if c := &p.ready[p.next.Add(1)%n]; !c.ep.ejected.Load() {
				ch = c
				break
			}
		}
	}
	res, err := ch.picker.Pick(info)
	if err != nil {
		return res, err
	}
	c, _ := info.Ctx.Value(callKey{}).(*call)
	if c == nil {
		ep, inner := ch.ep, res.Done
		res.Done = func(di balancer.DoneInfo) {
			p.b.done(ep, di, -1)
			if inner != nil {
				inner(di)
			}
		}
		return res, nil
	}
	if p.b.hooks.Load() == nil {
		p.b.hooks.CompareAndSwap(nil, c.h)
	}
	c.b, c.ep, c.inner, c.start = p.b, ch.ep, res.Done, time.Now()
	res.Done = c.doneFn
	return res, nil
}

// failure classifies a call's result for outlier detection: 1 failure, 0
// success, -1 neither.
func failure(err error) int {
	if err == nil {
		return 0
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Internal, codes.Unknown, codes.DataLoss:
		return 1
	case codes.Canceled:
		return -1
	}
	return 0
}

// done records one call's outcome for ep; lat < 0 means no latency sample.
func (b *outlierBalancer) done(ep *endpoint, di balancer.DoneInfo, lat time.Duration) {
	cfg := b.cfg.Load()
	switch failure(di.Err) {
	case 1:
		ep.fail.Add(1)
		if n := ep.consecutive.Add(1); cfg.ConsecutiveFailures > 0 && n >= int64(cfg.ConsecutiveFailures) && !ep.ejected.Load() {
			b.eject([]*endpoint{ep}, reasonConsecutive)
		}
	case 0:
		ep.ok.Add(1)
		ep.consecutive.Store(0)
		if lat >= 0 {
			ep.latN.Add(1)
			ep.latSum.Add(int64(lat))
		}
	}
	now := time.Now().UnixNano()
	last := b.lastEval.Load()
	if now-last >= int64(cfg.Interval) && b.lastEval.CompareAndSwap(last, now) {
		b.evaluate()
	}
}

// evaluate compares the endpoints' failure ratios and latencies over the
// interval that just ended, ejects the outliers and starts a new interval.
func (b *outlierBalancer) evaluate() {
	type sample struct {
		ep        *endpoint
		ratio     float64
		lat       float64
		hasRatio  bool
		hasLat    bool
		isOutlier bool
	}
	cfg := b.cfg.Load()
	b.mu.Lock()
	samples := make([]sample, 0, len(b.eps))
	for _, ep := range b.eps {
		ok, fail := ep.ok.Swap(0), ep.fail.Swap(0)
		latN, latSum := ep.latN.Swap(0), ep.latSum.Swap(0)
		s := sample{ep: ep}
		if int(ok+fail) >= cfg.MinRequests && !ep.ejected.Load() {
			s.hasRatio, s.ratio = true, float64(fail)/float64(ok+fail)
		}
		if int(latN) >= cfg.MinRequests && !ep.ejected.Load() {
			s.hasLat, s.lat = true, float64(latSum)/float64(latN)
		}
		samples = append(samples, s)
	}
	b.mu.Unlock()

	var byRatio, byLat []*endpoint
	others := make([]float64, 0, len(samples))
	for i, s := range samples {
		if cfg.FailureRatio >= 0 && s.hasRatio {
			others = others[:0]
			for j, o := range samples {
				if j != i && o.hasRatio {
					others = append(others, o.ratio)
				}
			}
			if len(others) > 0 && s.ratio-median(others) >= cfg.FailureRatio {
				byRatio = append(byRatio, s.ep)
				samples[i].isOutlier = true
			}
		}
		if cfg.LatencyFactor >= 1 && s.hasLat {
			others = others[:0]
			for j, o := range samples {
				if j != i && o.hasLat {
					others = append(others, o.lat)
				}
			}
			if len(others) > 0 {
				m := median(others)
				if s.lat >= cfg.LatencyFactor*m && s.lat-m >= float64(cfg.LatencyMinExcess) {
					byLat = append(byLat, s.ep)
					samples[i].isOutlier = true
				}
			}
		}
	}
	// A backend healthy for a whole interval has one ejection forgiven.
	b.mu.Lock()
	for _, s := range samples {
		if !s.isOutlier && !s.ep.ejected.Load() && s.ep.ejections > 0 {
			s.ep.ejections--
		}
	}
	b.mu.Unlock()
	b.eject(byRatio, reasonFailureRatio)
	b.eject(byLat, reasonLatency)
}

func median(v []float64) float64 {
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// eject ejects the endpoints within the limits: at most MaxEjectedShare of
// the endpoints (at least one), and never the last usable one.
func (b *outlierBalancer) eject(eps []*endpoint, reason string) {
	if len(eps) == 0 {
		return
	}
	var done []string
	cfg := b.cfg.Load()
	b.mu.Lock()
	for _, ep := range eps {
		if b.closed || ep.ejected.Load() || b.eps[ep.addr] != ep {
			continue
		}
		n, ejected, usable := len(b.eps), 0, 0
		for _, e := range b.eps {
			if e.ejected.Load() {
				ejected++
			} else if e.ready && e != ep {
				usable++
			}
		}
		limit := max(int(cfg.MaxEjectedShare*float64(n)), 1)
		if ejected >= min(limit, n-1) || usable == 0 {
			continue
		}
		ep.ejections++
		ep.ejectGen, ep.failedEject = ep.connGen, reason != reasonLatency
		d := min(cfg.BaseEjection*time.Duration(ep.ejections), cfg.MaxEjection)
		d = time.Duration(float64(d) * (1 + cfg.Jitter*(2*rand.Float64()-1)))
		ep.ejected.Store(true)
		if ep.timer != nil {
			ep.timer.Stop()
		}
		ep.ejectSeq++
		seq := ep.ejectSeq
		ep.timer = time.AfterFunc(d, func() { b.unEject(ep, seq) })
		done = append(done, ep.addr)
	}
	b.updatePanicLocked()
	b.mu.Unlock()
	if h := b.hooks.Load(); h != nil {
		for _, addr := range done {
			h.ejection(addr, reason)
		}
	}
}

// unEject ends ep's ejection number seq: its counters start afresh.
func (b *outlierBalancer) unEject(ep *endpoint, seq uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed || !ep.ejected.Load() || ep.ejectSeq != seq {
		return
	}
	b.unEjectLocked(ep)
}

// unEjectLocked ends ep's ejection; b.mu is held.
func (b *outlierBalancer) unEjectLocked(ep *endpoint) {
	ep.consecutive.Store(0)
	ep.ok.Store(0)
	ep.fail.Store(0)
	ep.latN.Store(0)
	ep.latSum.Store(0)
	ep.ejected.Store(false)
	b.updatePanicLocked()
}

// hooks connects a balancer to the client whose interceptors route calls
// to it (the balancer is built by grpc-go from a JSON config and cannot be
// handed Go values).
type hooks struct {
	rec          *telemetry.BalancerRecorder
	conns        connSet
	ejects       atomic.Uint64
	drains       atomic.Uint64
	tooManyPings atomic.Uint64 // calls that ended with a GOAWAY "too_many_pings"
}

// connSet is the set of connections dialed through one Options, by
// address, for the balancers' lifetime checks. It is safe for concurrent use.
type connSet struct {
	mu sync.Mutex
	m  map[*dialer.Conn]string
}

func (s *connSet) add(c *dialer.Conn, addr string) {
	s.mu.Lock()
	if s.m == nil {
		s.m = map[*dialer.Conn]string{}
	}
	s.m[c] = addr
	s.mu.Unlock()
}

// takeExpired returns the addresses in addrs with a connection past its
// lifetime, and forgets those connections (they are being drained) and the
// closed ones.
func (s *connSet) takeExpired(addrs map[string]bool) []string {
	var out []string
	s.mu.Lock()
	defer s.mu.Unlock()
	for c, addr := range s.m {
		switch {
		case c.Probe().State == dialer.ProbeUnknown:
			delete(s.m, c) // closed
		case addrs[addr] && c.Expired():
			delete(s.m, c)
			if !slices.Contains(out, addr) {
				out = append(out, addr)
			}
		}
	}
	return out
}

func (h *hooks) ejection(addr, reason string) {
	h.ejects.Add(1)
	h.rec.Ejection(context.Background(), addr, reason)
}
