package adaptive

import (
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// LearnerConfig configures a [Learner]. The zero value is a good production
// default.
type LearnerConfig struct {
	// MaxPeers bounds how many peers are remembered; beyond it the least
	// recently used peer is forgotten, so random host names cannot grow
	// memory without limit. Default 1024; zero means the default; negative
	// is invalid.
	MaxPeers int
	// Samples is the number of recent idle-close samples kept per peer (a
	// ring buffer). Default 16; zero means the default; valid up to 1024.
	Samples int
	// MinSamples is the number of samples needed before an estimate is given
	// from samples alone (a hint is used at once); whatever it is, two of
	// them, from closes at different moments, must agree (within 25 %): one
	// close at an odd idle age (a graceful restart) is never a deadline. It is also the length of a
	// run of consecutive outlying samples that makes the peer re-learned
	// (see [Learner.Observe]). Default 3; zero means the default; must not
	// exceed Samples.
	MinSamples int
	// Quantile is the low quantile of the samples used as the estimate of
	// the peer's idle timeout: a low quantile errs toward closing early
	// (costs a reconnect) rather than late (costs an error), and ignores a
	// rare early close. Must be in [0,1]; zero means the default 0.1.
	Quantile float64
	// Margin is the safety factor: the idle deadline herz uses is the
	// estimate × Margin. Must be in [0,1]; zero means the default 0.75
	// (measured here to remove the close-while-sending race against a
	// net/http server, see ARCHITECTURE.md).
	Margin float64
	// MaxAge is how long a peer's estimate is trusted without a new sample
	// or hint. Once herz closes connections before the learned deadline the
	// peer stops closing them, so no sample shows that its timeout grew;
	// when MaxAge passes the peer is re-learned from scratch. Default 1 hour;
	// zero means the default; negative is invalid.
	MaxAge time.Duration
	// BurstWindow: idle closes of one peer within this window of each other,
	// at idle ages that disagree by more than 25%, are a mass close — a
	// graceful restart, a shutdown, a failover — not idle timeouts, and are
	// all discarded. Default 25ms; zero means the default; negative turns
	// burst detection off (every sample counts).
	BurstWindow time.Duration
}

// Defaults for [LearnerConfig].
const (
	defaultMaxPeers   = 1024
	defaultSamples    = 16
	maxSamples        = 1024
	defaultMinSamples = 3
	defaultQuantile   = 0.1
	defaultMargin     = 0.75
	defaultMaxAge     = time.Hour
	defaultBurst      = 25 * time.Millisecond
	// minSample: closes after less idle than this are hang-ups (Connection:
	// close style), not idle timeouts; they only help recognise a burst.
	minSample = time.Millisecond
	// burstSlack: idle ages within this of each other always agree (timer noise).
	burstSlack = 5 * time.Millisecond

	// A sample more than relearnTolerance above (or below) the current
	// sample estimate is an outlier; MinSamples consecutive outliers on the
	// same side (at least minRelearnRun) mean the peer's idle timeout
	// changed: the older samples are dropped and the run is kept.
	relearnTolerance = 0.25
	minRelearnRun    = 2
)

// withDefaults validates c and returns a copy with defaults filled in.
func (c LearnerConfig) withDefaults() (LearnerConfig, error) {
	switch {
	case c.MaxPeers < 0:
		return c, fmt.Errorf("herz/adaptive: LearnerConfig.MaxPeers must be >= 0, got %d", c.MaxPeers)
	case c.Samples < 0 || c.Samples > maxSamples:
		return c, fmt.Errorf("herz/adaptive: LearnerConfig.Samples must be in [0, %d], got %d", maxSamples, c.Samples)
	case c.MinSamples < 0:
		return c, fmt.Errorf("herz/adaptive: LearnerConfig.MinSamples must be >= 0, got %d", c.MinSamples)
	case !(c.Quantile >= 0 && c.Quantile <= 1): // also rejects NaN
		return c, fmt.Errorf("herz/adaptive: LearnerConfig.Quantile must be in [0,1], got %v", c.Quantile)
	case !(c.Margin >= 0 && c.Margin <= 1):
		return c, fmt.Errorf("herz/adaptive: LearnerConfig.Margin must be in [0,1], got %v", c.Margin)
	case c.MaxAge < 0:
		return c, fmt.Errorf("herz/adaptive: LearnerConfig.MaxAge must be >= 0, got %v", c.MaxAge)
	}
	if c.MaxPeers == 0 {
		c.MaxPeers = defaultMaxPeers
	}
	if c.Samples == 0 {
		c.Samples = defaultSamples
	}
	if c.MinSamples == 0 {
		c.MinSamples = min(defaultMinSamples, c.Samples)
	}
	if c.MinSamples > c.Samples {
		return c, fmt.Errorf("herz/adaptive: LearnerConfig.MinSamples (%d) must not exceed Samples (%d)", c.MinSamples, c.Samples)
	}
	if c.Quantile == 0 {
		c.Quantile = defaultQuantile
	}
	if c.Margin == 0 {
		c.Margin = defaultMargin
	}
	if c.MaxAge == 0 {
		c.MaxAge = defaultMaxAge
	}
	switch {
	case c.BurstWindow == 0:
		c.BurstWindow = defaultBurst
	case c.BurstWindow < 0:
		c.BurstWindow = -1
	}
	return c, nil
}

// Learner learns each peer's idle timeout from observations and gives the
// idle deadline to use for it. Peers are identified by a string, normally
// "host:port". It is safe for concurrent use.
//
// The estimate for a peer is the minimum of its latest hint and the
// Quantile-th lowest of its recent samples (once there are MinSamples of
// them); the idle deadline is the estimate × Margin, never zero. See
// [Learner.Observe] for how a changed peer is re-learned.
type Learner struct {
	cfg   LearnerConfig // frozen
	epoch time.Time     // origin of now(), with a monotonic reading

	// mu guards peers (an LRU cache bounded by MaxPeers: random host names
	// cannot grow memory without limit), every peer's learning state and
	// scratch. IdleDeadline and Estimate take it for reading and look peers
	// up without reordering them; Observe, ObserveHint and Survived move a
	// peer to the front.
	mu      sync.RWMutex
	peers   *simplelru.LRU[string, *peer]
	scratch []time.Duration // sort buffer for quantiles, len cfg.Samples

	// index mirrors peers (key → *peer) for the readers, IdleDeadline and
	// Estimate, which run on every connection reuse: a sync.Map load takes
	// no lock and writes no shared memory, where a read lock's counter
	// would move between cores on every call. Written under mu.
	index sync.Map
}

// peer is the learning state of one peer. All fields but the atomics are
// guarded by Learner.mu.
type peer struct {
	key string
	// ref is set by readers (IdleDeadline, Estimate): when the LRU is
	// full, a recently read peer gets a second chance (CLOCK), so readers
	// never need the write lock.
	ref atomic.Bool
	// The estimate, deadline and expires below as the readers see them,
	// published under Learner.mu after every change (see publish).
	pubEstimate, pubDeadline, pubExpires atomic.Int64

	samples []time.Duration // ring of recent samples, allocated on the first one
	pos     int             // next ring slot to write
	high    int             // current run of samples above the sample estimate
	low     int             // current run of samples below the sample estimate
	hint    time.Duration   // latest advertised timeout, 0 = none

	sampleEst time.Duration // quantile of samples, 0 = fewer than MinSamples
	estimate  time.Duration // min of hint and sampleEst (ignoring zeros), 0 = none
	deadline  time.Duration // estimate × Margin, ≥ 1ns when estimate > 0
	expires   int64         // when the last sample or hint is MaxAge old, in Learner.now units

	// The current burst of samples (see LearnerConfig.BurstWindow): when it
	// began, its first sample, whether it was found to be a mass close, and
	// the state to go back to if it is.
	survived     int // Survived reports in a row since the last sample
	inBurst      bool
	burstAt      int64
	burstFirst   time.Duration
	burstDiscard bool
	bak          snapshot
}

// snapshot is the learning state of a peer before a burst of samples.
type snapshot struct {
	samples                       []time.Duration
	pos, high, low                int
	sampleEst, estimate, deadline time.Duration
	expires                       int64
}

func (p *peer) save() {
	p.bak.samples = append(p.bak.samples[:0], p.samples...)
	p.bak.pos, p.bak.high, p.bak.low = p.pos, p.high, p.low
	p.bak.sampleEst, p.bak.estimate, p.bak.deadline, p.bak.expires = p.sampleEst, p.estimate, p.deadline, p.expires
}

func (p *peer) restore() {
	p.samples = append(p.samples[:0], p.bak.samples...)
	p.pos, p.high, p.low = p.bak.pos, p.bak.high, p.bak.low
	p.sampleEst, p.estimate, p.deadline, p.expires = p.bak.sampleEst, p.bak.estimate, p.bak.deadline, p.bak.expires
}

// NewLearner returns a Learner, or an error naming the invalid field of cfg.
func NewLearner(cfg LearnerConfig) (*Learner, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	l := &Learner{
		cfg:     c,
		epoch:   time.Now(),
		scratch: make([]time.Duration, c.Samples),
	}
	// A peer leaving the LRU (forgotten, or evicted by a new one) leaves
	// the readers' index with it; the callback runs under l.mu.
	l.peers, err = simplelru.NewLRU(c.MaxPeers, func(key string, _ *peer) { l.index.Delete(key) })
	if err != nil {
		return nil, fmt.Errorf("herz/adaptive: LearnerConfig.MaxPeers: %w", err)
	}
	return l, nil
}

// publish makes p's current estimate visible to the readers. l.mu is held.
// The three values are stored one by one: a reader racing with a change may
// see the new value with the old expiry or the reverse, which only makes it
// answer as if it had read just before or just after the change.
func (p *peer) publish() {
	p.pubEstimate.Store(int64(p.estimate))
	p.pubDeadline.Store(int64(p.deadline))
	p.pubExpires.Store(p.expires)
}

// Config returns the configuration in use, with defaults filled in.
func (l *Learner) Config() LearnerConfig { return l.cfg }

// Observe records that a connection to peer that had been idle for `idle`
// was closed by the peer (EOF or RST with no request in flight): a sample of
// the peer's idle timeout. Samples under 1ms are hang-ups, not timeouts: they
// only count toward recognising a mass close (below). Zero and negative
// ones are ignored.
//
// Re-learning: a sample more than 25 % above or below the current sample
// estimate is an outlier. One outlier is absorbed by the low quantile; a run
// of MinSamples (at least 2) consecutive outliers on the same side means the
// peer's timeout changed (it was reconfigured or replaced): the older
// samples are dropped and the run becomes the new sample set, so the estimate
// follows at once. A peer with no sample or hint for MaxAge is re-learned
// from scratch.
//
// Mass closes: samples of one peer arriving within BurstWindow of each other
// at idle ages that disagree (a restart or shutdown closing every idle
// connection at once) are all discarded, and the estimate stays as it was.
// Those that agree are one event and count as one sample (a stalled peer
// closing at once every conn its timers held back must not agree with
// itself).
func (l *Learner) Observe(peer string, idle time.Duration) { l.ObserveClosed(peer, idle, 0) }

// ObserveClosed is [Learner.Observe] for a close that happened ago before
// now, as dated by the kernel (the arrival of the peer's FIN) when the
// reader noticed it later: mass closes are then told apart by when they
// happened, not by when busy readers got to them.
func (l *Learner) ObserveClosed(peer string, idle, ago time.Duration) {
	if idle <= 0 {
		return
	}
	now := l.now()
	at := now - int64(max(ago, 0))
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.touch(peer, now)
	defer p.publish()
	if d := at - p.burstAt; l.cfg.BurstWindow > 0 && p.inBurst && max(d, -d) < int64(l.cfg.BurstWindow) {
		if p.burstDiscard {
			return
		}
		if !SameTimeout(p.burstFirst, idle) {
			// Closed together at unrelated idle ages: a restart or shutdown
			// closing every idle connection, not an idle timeout.
			p.restore()
			p.burstDiscard = true
			return
		}
		if p.burstFirst >= minSample {
			// Closed together at the same idle age: one event, already
			// sampled by the burst's first close. Counting each of its
			// closes would let one stall of a loaded peer (every conn
			// whose timer it held back closed at once) agree with itself
			// and become a deadline, or a run that re-learns the peer.
			return
		}
	} else {
		p.inBurst, p.burstAt, p.burstFirst, p.burstDiscard = true, at, idle, false
		p.save()
	}
	if idle < minSample {
		return // a hang-up, not an idle timeout: it only tells a burst apart
	}
	p.survived = 0
	p.addSample(idle, l.cfg, l.scratch)
	l.recompute(p, now)
}

// ObserveDiscarded records a close of peer, ago before now, that is not an
// idle-timeout sample: its owner found it part of a mass close, or
// contradicted by a conn that stayed open longer (the dialer checks a
// peer's other conns). Like a mass close the learner finds itself, it
// discards every sample within BurstWindow of it, those already taken
// included: the other closes of that moment may reach the learner later,
// when their conns' evidence is gone.
func (l *Learner) ObserveDiscarded(peer string, ago time.Duration) {
	if l.cfg.BurstWindow <= 0 {
		return
	}
	now := l.now()
	at := now - int64(max(ago, 0))
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.touch(peer, now)
	defer p.publish()
	if d := at - p.burstAt; p.inBurst && max(d, -d) < int64(l.cfg.BurstWindow) {
		if !p.burstDiscard {
			p.restore()
			p.burstDiscard = true
		}
		return
	}
	p.inBurst, p.burstAt, p.burstFirst, p.burstDiscard = true, at, 0, true
	p.save()
}

// SameTimeout reports whether idle ages ref and x are samples of the same
// idle timeout, up to timer and scheduling noise: within burstSlack (5 ms)
// or 25 % of ref of each other. The learner tells mass closes apart with it
// (see [Learner.Observe]); so does the dialer, from a peer's other conns.
func SameTimeout(ref, x time.Duration) bool {
	d := x - ref
	return max(d, -d) <= max(burstSlack, time.Duration(float64(ref)*relearnTolerance))
}

// Survived records that a connection to peer stayed open while idle for
// `idle`, longer than the peer's learned idle timeout (a probe found it
// alive): the peer does not close idle connections where herz believed. When
// this happens twice in a row (no idle-close sample in between) with idle
// exceeding by more than 25 % both the estimate and every sample that
// agrees with it (the estimate is their low quantile), the samples are dropped and
// the peer is re-learned from its next idle closes (an advertised hint stays
// unless idle exceeds it too). This is how a deadline learned from a bad
// sample, which herz then always beats, is corrected.
func (l *Learner) Survived(peer string, idle time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	p, _ := l.peers.Get(peer)
	if p == nil || p.estimate == 0 || float64(idle) <= float64(p.agreedMax())*(1+relearnTolerance) {
		return
	}
	defer p.publish()
	if p.survived++; p.survived < minRelearnRun {
		return // one could be a peer slow to close; two in a row are not
	}
	p.survived = 0
	p.clearSamples()
	if p.hint > 0 && float64(idle) > float64(p.hint)*(1+relearnTolerance) {
		p.hint = 0
	}
	l.recompute(p, now)
}

// agreedMax is the largest idle-close sample that agrees with the estimate
// ([SameTimeout]), or the estimate itself. The estimate is a low quantile
// and the samples are dated by clocks with milliseconds of noise (a reader
// scheduled late, the kernel's jiffies): a conn outliving the estimate by
// 25 % may still be within what the peer's closes showed, and is only
// evidence against the estimate when it outlives all of them.
func (p *peer) agreedMax() time.Duration {
	m := p.estimate
	for _, s := range p.samples {
		if s > m && SameTimeout(p.estimate, s) {
			m = s
		}
	}
	return m
}

// ObserveHint records that peer advertised its idle timeout (HTTP
// "Keep-Alive: timeout=N", MySQL wait_timeout, PostgreSQL
// idle_session_timeout, a gRPC server's MaxConnectionIdle). A hint is used at
// once, without waiting for MinSamples. When samples show the peer closing
// sooner (a middlebox on the path), the smaller value wins. A hint different
// from the previous one means the peer changed: its samples are dropped.
// Zero and negative hints are ignored.
func (l *Learner) ObserveHint(peer string, timeout time.Duration) {
	if timeout <= 0 {
		return
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.touch(peer, now)
	defer p.publish()
	if p.hint != 0 && p.hint != timeout {
		p.clearSamples()
	}
	p.hint = timeout
	l.recompute(p, now)
}

// Estimate returns the learned idle timeout of peer, and false when there is
// none yet (fewer than MinSamples samples and no hint) or it is older than
// MaxAge.
func (l *Learner) Estimate(peer string) (time.Duration, bool) {
	return l.read(peer, estimateOf)
}

// IdleDeadline returns how long a connection to peer may stay idle before it
// must not be reused: Estimate × Margin, always positive. It returns false
// when nothing is known about the peer; the caller then uses its default
// (adaptive's Profile.IdleTimeout).
//
// It is called on every connection reuse: a lock-free map lookup and a
// clock read, no lock, no allocation and no write to shared memory (once
// the peer is marked recently read).
func (l *Learner) IdleDeadline(peer string) (time.Duration, bool) {
	return l.read(peer, deadlineOf)
}

func estimateOf(p *peer) int64 { return p.pubEstimate.Load() }
func deadlineOf(p *peer) int64 { return p.pubDeadline.Load() }

// read returns the published value field(p) of key when it is set and not
// older than MaxAge, from the readers' index: no lock, and the LRU is not
// reordered (the ref bit gives the peer its second chance instead).
func (l *Learner) read(key string, field func(*peer) int64) (time.Duration, bool) {
	v, ok := l.index.Load(key)
	if !ok {
		return 0, false
	}
	p := v.(*peer)
	if !p.ref.Load() {
		p.ref.Store(true)
	}
	if x := field(p); x > 0 && l.now() < p.pubExpires.Load() {
		return time.Duration(x), true
	}
	return 0, false
}

// now returns the monotonic time since l.epoch in nanoseconds: one clock
// read, where time.Now takes two (wall and monotonic).
func (l *Learner) now() int64 { return int64(time.Since(l.epoch)) }

// Forget drops everything learned about peer.
func (l *Learner) Forget(peer string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.peers.Remove(peer)
}

// Len returns the number of peers remembered (at most MaxPeers).
func (l *Learner) Len() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.peers.Len()
}

// touch returns the state of key, created if needed (forgetting the least
// recently updated peer beyond MaxPeers), moved to the front of the LRU and
// reset if it expired. l.mu must be held.
func (l *Learner) touch(key string, now int64) *peer {
	p, ok := l.peers.Get(key)
	if !ok {
		// Full: give peers read since they were last moved a second
		// chance before the oldest is forgotten by Add.
		for n := l.peers.Len(); l.peers.Len() >= l.cfg.MaxPeers && n > 0; n-- {
			k, old, _ := l.peers.GetOldest()
			if !old.ref.Load() {
				break
			}
			old.ref.Store(false)
			l.peers.Get(k) // to the front
		}
		p = &peer{key: key}
		l.peers.Add(key, p)
		l.index.Store(key, p)
		return p
	}
	if now >= p.expires {
		p.clearSamples()
		p.hint, p.sampleEst, p.estimate, p.deadline = 0, 0, 0, 0
	}
	return p
}

// addSample adds one sample to the ring, applying the re-learning rule. buf
// is scratch space of len cfg.Samples.
func (p *peer) addSample(d time.Duration, cfg LearnerConfig, buf []time.Duration) {
	if p.samples == nil {
		p.samples = make([]time.Duration, 0, cfg.Samples)
	}
	if est := p.sampleEst; est > 0 {
		switch {
		case float64(d) > float64(est)*(1+relearnTolerance):
			p.high, p.low = p.high+1, 0
		case float64(d) < float64(est)*(1-relearnTolerance):
			p.high, p.low = 0, p.low+1
		default:
			p.high, p.low = 0, 0
		}
	}
	if len(p.samples) < cap(p.samples) {
		p.samples = append(p.samples, d)
	} else {
		p.samples[p.pos] = d
	}
	p.pos = (p.pos + 1) % cap(p.samples)

	if run := min(max(cfg.MinSamples, minRelearnRun), cap(p.samples)); p.high >= run || p.low >= run {
		// Keep only the last `run` samples, oldest first, at the start of the ring.
		n := len(p.samples)
		for i := range run {
			buf[i] = p.samples[(p.pos-run+i+n)%n]
		}
		p.samples = append(p.samples[:0], buf[:run]...)
		p.pos, p.high, p.low = run%cap(p.samples), 0, 0
	}
}

// clearSamples drops the samples (keeping the ring's memory).
func (p *peer) clearSamples() {
	p.samples = p.samples[:0]
	p.pos, p.high, p.low, p.sampleEst = 0, 0, 0, 0
}

// recompute updates p's estimate and deadline from its samples and hint,
// the latest of which arrived at now. l.mu must be held (it uses l.scratch).
func (l *Learner) recompute(p *peer, now int64) {
	p.sampleEst = 0
	if n := len(p.samples); n >= l.cfg.MinSamples && n > 1 {
		p.sampleEst = agreedQuantile(p.samples, l.cfg.Quantile, l.scratch[:n])
	}
	switch {
	case p.hint > 0 && p.sampleEst > 0:
		p.estimate = min(p.hint, p.sampleEst)
	case p.hint > 0:
		p.estimate = p.hint
	default:
		p.estimate = p.sampleEst
	}
	p.deadline = 0
	if p.estimate > 0 {
		p.deadline = max(time.Duration(float64(p.estimate)*l.cfg.Margin), 1)
	}
	p.expires = now + min(int64(l.cfg.MaxAge), math.MaxInt64-now)
}

// agreedQuantile is the rule that turns closes into a deadline: the lowest
// sample at or above the q-quantile that another sample agrees with
// ([SameTimeout]), or 0 when no two samples agree. One close at an odd idle
// age — a graceful restart closes every idle conn at whatever age it has, a
// server killed, a failover — is never a deadline by itself; an idle
// timeout closes conns at the same age again and again, and its second
// close makes the deadline act. buf must have len(samples).
func agreedQuantile(samples []time.Duration, q float64, buf []time.Duration) time.Duration {
	copy(buf, samples)
	slices.Sort(buf)
	for i := int(q * float64(len(buf)-1)); i < len(buf); i++ {
		if (i > 0 && SameTimeout(buf[i-1], buf[i])) || (i+1 < len(buf) && SameTimeout(buf[i], buf[i+1])) {
			return buf[i]
		}
	}
	return 0
}

// lowQuantile returns the q-quantile of samples (the element of rank
// floor(q × (n-1)) in ascending order, so never interpolated and never below
// the second-lowest sample when q × (n-1) ≥ 1), sorting a copy in buf,
// which must have len(samples).
func lowQuantile(samples []time.Duration, q float64, buf []time.Duration) time.Duration {
	copy(buf, samples)
	slices.Sort(buf)
	return buf[int(q*float64(len(buf)-1))]
}
