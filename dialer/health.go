package dialer

import (
	"slices"
	"sync"
	"time"
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
	// Updated is when the last outcome was observed.
	Updated time.Time
}

const (
	// ewmaAlpha weights the newest sample: about the last 10 samples dominate.
	ewmaAlpha = 0.2
	// maxPeers bounds the per-peer table so random host names cannot grow
	// memory without limit; the least recently updated eighth is dropped when full.
	maxPeers = 4096
)

// peerTable holds PeerHealth per peer. Safe for concurrent use.
type peerTable struct {
	mu sync.Mutex // guards m
	m  map[string]*PeerHealth
}

func (t *peerTable) init() { t.m = make(map[string]*PeerHealth) }

func (t *peerTable) entry(peer string, now time.Time) *PeerHealth {
	h := t.m[peer]
	if h == nil {
		if len(t.m) >= maxPeers {
			t.dropOldest()
		}
		h = &PeerHealth{SuccessRatio: 1}
		t.m[peer] = h
	}
	h.Updated = now
	return h
}

// dropOldest removes the least recently updated eighth of the table; O(n)
// but only once per maxPeers/8 new peers.
func (t *peerTable) dropOldest() {
	var cutoff time.Time
	times := make([]time.Time, 0, len(t.m))
	for _, h := range t.m {
		times = append(times, h.Updated)
	}
	slices.SortFunc(times, time.Time.Compare)
	cutoff = times[len(times)/8]
	for k, h := range t.m {
		if !h.Updated.After(cutoff) {
			delete(t.m, k)
		}
	}
}

func (t *peerTable) observe(peer string, latency time.Duration, ok bool) {
	now := time.Now()
	t.mu.Lock()
	h := t.entry(peer, now)
	v := 0.0
	if ok {
		v = 1
	}
	if h.Samples == 0 {
		h.SuccessRatio, h.Latency = v, latency
	} else {
		h.SuccessRatio += ewmaAlpha * (v - h.SuccessRatio)
		h.Latency += time.Duration(ewmaAlpha * float64(latency-h.Latency))
	}
	h.Samples++
	t.mu.Unlock()
}

// observeRTT folds a healthy connection's smoothed RTT into the peer's
// baseline: down quickly, up slowly, so one congested connection does not
// move the baseline it is judged against.
func (t *peerTable) observeRTT(peer string, rtt time.Duration) {
	if rtt <= 0 {
		return
	}
	t.mu.Lock()
	h := t.m[peer]
	if h == nil {
		h = t.entry(peer, time.Now())
	}
	switch {
	case h.RTT == 0:
		h.RTT = rtt
	case rtt < h.RTT:
		h.RTT = (h.RTT + rtt) / 2
	default:
		h.RTT += (rtt - h.RTT) / 20
	}
	t.mu.Unlock()
}

func (t *peerTable) get(peer string) (PeerHealth, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if h := t.m[peer]; h != nil {
		return *h, true
	}
	return PeerHealth{}, false
}

func (t *peerTable) baselineRTT(peer string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	if h := t.m[peer]; h != nil {
		return h.RTT
	}
	return 0
}
