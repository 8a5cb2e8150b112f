package pool

import (
	"fmt"
	"maps"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// counters are herz's own pool counters (puddle keeps the others).
type counters struct {
	dials, dialErrors, refillDials       atomic.Uint64
	checks, handoutRejects, healthChecks atomic.Uint64
	heartbeats, heartbeatFailures        atomic.Uint64
	destroyed, hijacked                  atomic.Uint64
	outages, probes                      atomic.Uint64
	evictMu                              sync.Mutex // guards evictions
	evictions                            map[string]uint64
}

func (c *counters) evicted(reason string) {
	c.evictMu.Lock()
	if c.evictions == nil {
		c.evictions = make(map[string]uint64)
	}
	c.evictions[reason]++
	c.evictMu.Unlock()
}

// Stat is a snapshot of a Pool: puddle's counters (as pgxpool's Stat) plus
// herz's. Counts ending in Conns are current; the others are cumulative.
type Stat struct {
	// AcquiredConns are held by callers; IdleConns wait in the pool;
	// ConstructingConns are being dialed; TotalConns is their sum.
	AcquiredConns, IdleConns, ConstructingConns, TotalConns int
	// MaxConns is Config.MaxConns.
	MaxConns int

	// AcquireCount counts successful puddle acquires (an Acquire that
	// discarded dead idle conns counts each try); EmptyAcquireCount those
	// that waited for a conn to be released or dialed; CanceledAcquireCount
	// those whose context ended first.
	AcquireCount, EmptyAcquireCount, CanceledAcquireCount int64
	// AcquireDuration is the total time spent in successful acquires,
	// EmptyAcquireWaitTime the part spent waiting.
	AcquireDuration, EmptyAcquireWaitTime time.Duration

	// Dials counts connection attempts made by the pool (each may be several
	// connect attempts inside the Dialer), DialErrors the failed ones, and
	// RefillDials those made by the background loop to keep MinIdle.
	Dials, DialErrors, RefillDials uint64
	// Checks counts idle conns checked (limits, the Dialer's rules and a
	// liveness probe), at hand-out or by the health check; HandoutRejects the
	// idle conns Acquire discarded instead of handing them out.
	Checks, HandoutRejects uint64
	// HealthChecks counts background health check rounds; Heartbeats the
	// Config.Heartbeat calls and HeartbeatFailures the failed ones.
	HealthChecks, Heartbeats, HeartbeatFailures uint64
	// Evictions counts the conns the pool closed, by reason: lifetime, idle
	// (MaxIdleTime or the Dialer's idle limit), learned_idle, probe_eof,
	// probe_rst, probe_data, evicted (closed by the Dialer while idle),
	// heartbeat.
	Evictions map[string]uint64
	// Destroyed counts Conn.Destroy calls; Hijacked counts Conn.Hijack calls.
	Destroyed, Hijacked uint64
	// Outages counts the times a failed dial marked the server down, and
	// Probes the connects made to find it back (see [Pool.Acquire]).
	Outages, Probes uint64
}

// Stat returns a snapshot of p's counters.
func (p *Pool) Stat() Stat {
	ps := p.p.Stat()
	s := Stat{
		AcquiredConns:        int(ps.AcquiredResources()),
		IdleConns:            int(ps.IdleResources()),
		ConstructingConns:    int(ps.ConstructingResources()),
		TotalConns:           int(ps.TotalResources()),
		MaxConns:             int(ps.MaxResources()),
		AcquireCount:         ps.AcquireCount(),
		EmptyAcquireCount:    ps.EmptyAcquireCount(),
		CanceledAcquireCount: ps.CanceledAcquireCount(),
		AcquireDuration:      ps.AcquireDuration(),
		EmptyAcquireWaitTime: ps.EmptyAcquireWaitTime(),
		Dials:                p.c.dials.Load(),
		DialErrors:           p.c.dialErrors.Load(),
		RefillDials:          p.c.refillDials.Load(),
		Checks:               p.c.checks.Load(),
		HandoutRejects:       p.c.handoutRejects.Load(),
		HealthChecks:         p.c.healthChecks.Load(),
		Heartbeats:           p.c.heartbeats.Load(),
		HeartbeatFailures:    p.c.heartbeatFailures.Load(),
		Destroyed:            p.c.destroyed.Load(),
		Hijacked:             p.c.hijacked.Load(),
		Outages:              p.c.outages.Load(),
		Probes:               p.c.probes.Load(),
	}
	p.c.evictMu.Lock()
	s.Evictions = maps.Clone(p.c.evictions)
	p.c.evictMu.Unlock()
	if s.Evictions == nil {
		s.Evictions = map[string]uint64{}
	}
	return s
}

// TotalEvictions sums Evictions over all reasons.
func (s Stat) TotalEvictions() uint64 {
	var n uint64
	for _, v := range s.Evictions {
		n += v
	}
	return n
}

// String formats s on one line for logs.
func (s Stat) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "conns acquired=%d idle=%d constructing=%d total=%d max=%d; acquires=%d empty=%d canceled=%d; dials=%d errors=%d refill=%d; checks=%d rejects=%d health=%d heartbeats=%d/%d failed; destroyed=%d hijacked=%d; outages=%d probes=%d; evictions",
		s.AcquiredConns, s.IdleConns, s.ConstructingConns, s.TotalConns, s.MaxConns,
		s.AcquireCount, s.EmptyAcquireCount, s.CanceledAcquireCount,
		s.Dials, s.DialErrors, s.RefillDials,
		s.Checks, s.HandoutRejects, s.HealthChecks, s.Heartbeats, s.HeartbeatFailures,
		s.Destroyed, s.Hijacked, s.Outages, s.Probes)
	keys := make([]string, 0, len(s.Evictions))
	for k := range s.Evictions {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) == 0 {
		b.WriteString(" none")
	}
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%d", k, s.Evictions[k])
	}
	return b.String()
}

// observe reports the pool's connection counts to the telemetry callback.
func (p *Pool) observe() (idle, used, maxConns, minIdle int64) {
	ps := p.p.Stat()
	return int64(ps.IdleResources()), int64(ps.AcquiredResources()), int64(p.s.MaxConns), int64(p.s.MinIdle)
}
