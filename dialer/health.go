package dialer

import (
	"math"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// PeerHealth is what a Dialer knows about one peer: exponentially weighted
// moving averages of request outcomes and latency, and the peer's baseline
// round-trip time from TCP_INFO.
type PeerHealth struct {
	// SuccessRatio is the EWMA of successes (1) and failures (0); 1 when all succeed.
	SuccessRatio float64
	// Latency is the EWMA of observed dial and request latencies.
	Latency time.Duration
	// RTT is the peer's baseline smoothed RTT, biased towards the minimum; 0 if unknown.
	RTT time.Duration
	// Samples is the number of outcomes observed.
	Samples uint64
	// Updated is when the peer was last seen (refreshed every few samples).
	Updated time.Time
}

const (
	// ewmaAlpha weights the newest sample: about the last 10 samples dominate.
	ewmaAlpha = 0.2
	// maxPeers bounds the per-peer table so random host names cannot grow
	// memory without limit; the least recently seen peer is dropped when full.
	maxPeers = 4096
	// touchEvery: the last-seen time (one clock read) and the peer's place
	// in the LRU order (an exclusive lock) are refreshed every touchEvery
	// samples, not on every request.
	touchEvery = 16
)

// peerEntry is one peer's health. Its fields are atomics so the per-request
// update needs only the table's read lock; concurrent updates may each win a
// compare-and-swap in any order, which an EWMA tolerates.
// An entry dropped from the table meanwhile takes the updates in flight with
// it.
type peerEntry struct {
	ratio   atomic.Uint64 // float64 bits
	latency atomic.Int64  // ns
	rtt     atomic.Int64  // ns
	samples atomic.Uint64
	seen    atomic.Int64 // unix ns
}

// peerTable holds peer health in a golang-lru cache bounded by maxPeers. A
// lookup takes the cache's read lock and does not reorder it; every
// touchEvery-th sample of a peer moves it to the front, so the peer dropped
// when the table is full is the one least recently seen (within touchEvery
// samples). Entries update atomically.
type peerTable struct {
	c *lru.Cache[string, *peerEntry]
}

// init creates the cache; New calls it once.
func (t *peerTable) init() {
	// lru.New fails only for a size ≤ 0, and maxPeers is a positive constant.
	t.c, _ = lru.New[string, *peerEntry](maxPeers)
}

// entry returns peer's entry, creating it (and making room) when missing.
func (t *peerTable) entry(peer string) *peerEntry {
	if e, ok := t.c.Peek(peer); ok {
		return e
	}
	e := &peerEntry{}
	e.ratio.Store(math.Float64bits(1))
	e.seen.Store(time.Now().UnixNano())
	if prev, ok, _ := t.c.PeekOrAdd(peer, e); ok {
		return prev // another goroutine added it first
	}
	return e
}

func (t *peerTable) observe(peer string, latency time.Duration, ok bool) {
	e := t.entry(peer)
	v := 0.0
	if ok {
		v = 1
	}
	n := e.samples.Add(1)
	if n == 1 {
		e.ratio.Store(math.Float64bits(v))
		e.latency.Store(int64(latency))
		return
	}
	for {
		old := e.ratio.Load()
		r := math.Float64frombits(old)
		if e.ratio.CompareAndSwap(old, math.Float64bits(r+ewmaAlpha*(v-r))) {
			break
		}
	}
	for {
		old := e.latency.Load()
		if e.latency.CompareAndSwap(old, old+int64(ewmaAlpha*float64(int64(latency)-old))) {
			break
		}
	}
	if n%touchEvery == 0 {
		e.seen.Store(time.Now().UnixNano())
		t.c.Get(peer) // most recently seen in the LRU order
	}
}

// observeRTT folds a healthy connection's smoothed RTT into the peer's
// baseline: down quickly, up slowly, so one congested connection does not
// move the baseline it is judged against.
func (t *peerTable) observeRTT(peer string, rtt time.Duration) {
	if rtt <= 0 {
		return
	}
	e := t.entry(peer)
	for {
		old := e.rtt.Load()
		var nv int64
		switch r := int64(rtt); {
		case old == 0:
			nv = r
		case r < old:
			nv = (old + r) / 2
		default:
			nv = old + (r-old)/20
		}
		if e.rtt.CompareAndSwap(old, nv) {
			return
		}
	}
}

func (t *peerTable) get(peer string) (PeerHealth, bool) {
	e, ok := t.c.Peek(peer)
	if !ok {
		return PeerHealth{}, false
	}
	return PeerHealth{
		SuccessRatio: math.Float64frombits(e.ratio.Load()),
		Latency:      time.Duration(e.latency.Load()),
		RTT:          time.Duration(e.rtt.Load()),
		Samples:      e.samples.Load(),
		Updated:      time.Unix(0, e.seen.Load()),
	}, true
}

func (t *peerTable) baselineRTT(peer string) time.Duration {
	e, ok := t.c.Peek(peer)
	if !ok {
		return 0
	}
	return time.Duration(e.rtt.Load())
}
