package dialer

import (
	"fmt"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/herz-go/herz/internal/sockopt"
)

// counters are the Dialer's cumulative statistics (atomics: hot paths bump them).
type counters struct {
	dials, dialErrors, dialRetries atomic.Uint64
	verifyFailures, breakerRejects atomic.Uint64
	peerCloses                     atomic.Uint64
	adopted                        atomic.Uint64
	deadPaths                      atomic.Uint64
	probes                         [5]atomic.Uint64 // by sockopt.State
	evictions                      [numReasons]atomic.Uint64
}

// Stats is a snapshot of a Dialer's connections and counters, in the spirit
// of sql.DBStats. Counters are cumulative since the Dialer was made.
type Stats struct {
	// Open is the number of tracked (open) connections; Idle of them are
	// idle in their owners' pools (see [Ownership]).
	Open, Idle int
	// Dials counts connect attempts; DialErrors the failed ones; DialRetries the retries.
	Dials, DialErrors, DialRetries uint64
	// Adopted counts connections made by the caller's own dial function
	// and tracked through [Dialer.Adopt] (not counted in Dials).
	Adopted uint64
	// VerifyFailures counts connects rejected by verification (SO_ERROR, getpeername, self-connect).
	VerifyFailures uint64
	// BreakerRejects counts dials refused by an open per-address breaker.
	BreakerRejects uint64
	// PeerCloses counts idle connections the peer closed (FIN/RST seen by a read).
	PeerCloses uint64
	// DeadPaths counts connections the watchdog found dead: written data
	// unacknowledged, and nothing acknowledged, for the dead-path bound
	// ([Config.UserTimeout]).
	DeadPaths uint64
	// Probes counts probe results by name (alive, peer_closed, reset, data_pending, unknown).
	Probes map[string]uint64
	// Evictions counts connections herz closed or refused, by reason.
	Evictions map[string]uint64
}

// Stats returns a snapshot of d's connections and counters.
func (d *Dialer) Stats() Stats {
	s := Stats{
		Dials:          d.stats.dials.Load(),
		DialErrors:     d.stats.dialErrors.Load(),
		DialRetries:    d.stats.dialRetries.Load(),
		VerifyFailures: d.stats.verifyFailures.Load(),
		Adopted:        d.stats.adopted.Load(),
		BreakerRejects: d.stats.breakerRejects.Load(),
		PeerCloses:     d.stats.peerCloses.Load(),
		DeadPaths:      d.stats.deadPaths.Load(),
		Probes:         make(map[string]uint64),
		Evictions:      make(map[string]uint64),
	}
	for i := range d.stats.probes {
		if v := d.stats.probes[i].Load(); v > 0 {
			s.Probes[sockopt.State(i).String()] = v
		}
	}
	for r := Reason(1); r < numReasons; r++ {
		if v := d.stats.evictions[r].Load(); v > 0 {
			s.Evictions[r.String()] = v
		}
	}
	d.mu.Lock()
	s.Open = len(d.conns)
	for _, c := range d.conns {
		if stateBits(c.own.Load()) == bitsIdle {
			s.Idle++
		}
	}
	d.mu.Unlock()
	return s
}

// String formats s for humans, one line.
func (s Stats) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "open=%d idle=%d dials=%d dial_errors=%d dial_retries=%d verify_failures=%d breaker_rejects=%d peer_closes=%d",
		s.Open, s.Idle, s.Dials, s.DialErrors, s.DialRetries, s.VerifyFailures, s.BreakerRejects, s.PeerCloses)
	if s.DeadPaths > 0 {
		fmt.Fprintf(&b, " dead_paths=%d", s.DeadPaths)
	}
	if s.Adopted > 0 {
		fmt.Fprintf(&b, " adopted=%d", s.Adopted)
	}
	writeMap(&b, " probes", s.Probes)
	writeMap(&b, " evictions", s.Evictions)
	return b.String()
}

func writeMap(b *strings.Builder, name string, m map[string]uint64) {
	if len(m) == 0 {
		return
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b.WriteString(name + "{")
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(b, "%s=%d", k, m[k])
	}
	b.WriteByte('}')
}

// ObservePeers calls f once per peer with its open connections and how many
// of them are idle in their pools (the rest are lent out or given away). f
// runs after the Dialer's lock is released.
func (d *Dialer) ObservePeers(f func(peer string, open, idle int64)) { d.observeConns(f) }

// observeConns reports open and idle connections per peer to telemetry.
func (d *Dialer) observeConns(observe func(peer string, open, idle int64)) {
	type oi struct{ open, idle int64 }
	per := make(map[string]*oi)
	d.mu.Lock()
	for _, c := range d.conns {
		e := per[c.peer]
		if e == nil {
			e = &oi{}
			per[c.peer] = e
		}
		e.open++
		if stateBits(c.own.Load()) == bitsIdle {
			e.idle++
		}
	}
	d.mu.Unlock()
	for p, e := range per {
		observe(p, e.open, e.idle)
	}
}
