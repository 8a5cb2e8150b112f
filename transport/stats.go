package transport

import (
	"fmt"
	"sort"
	"strings"

	"github.com/herz-go/herz/breaker"
)

// Stats is a snapshot of a Transport's connections and counters, in the
// spirit of sql.DBStats (golang/go#63494). Counters are cumulative since the
// Transport was made. Print it with [Stats.String].
type Stats struct {
	// Open is the number of open connections herz dialed; Idle of them have
	// no request in flight, InUse (Open − Idle) do. An HTTP/2 connection
	// counts once however many streams it carries.
	Open, Idle, InUse int
	// Dials counts connect attempts, DialErrors the failed ones.
	Dials, DialErrors uint64
	// PeerCloses counts idle connections the server closed.
	PeerCloses uint64
	// Probes counts liveness probes by result (alive, peer_closed, reset,
	// data_pending, unknown).
	Probes map[string]uint64
	// Evictions counts connections herz closed or refused for reuse, by
	// reason (lifetime, idle, learned_idle, probe_eof, probe_rst, probe_data,
	// score, evicted).
	Evictions map[string]uint64
	// Requests counts RoundTrip calls (not retries).
	Requests uint64
	// Retries counts retries by why they were safe (stale_conn,
	// connect_failure, refused_stream, goaway, attempt_timeout,
	// idempotent_error, status_502, status_503, status_504, status_429).
	Retries map[string]uint64
	// RetriesRefused counts retries the retry budget refused.
	RetriesRefused uint64
	// Breakers is the state of each host's request breaker (host:port).
	Breakers map[string]breaker.State
}

// Stats returns a snapshot of t's connections and counters.
func (t *Transport) Stats() Stats {
	ds := t.d.Stats()
	s := Stats{
		Open:           ds.Open,
		Idle:           ds.Idle,
		InUse:          ds.Open - ds.Idle,
		Dials:          ds.Dials,
		DialErrors:     ds.DialErrors,
		PeerCloses:     ds.PeerCloses,
		Probes:         ds.Probes,
		Evictions:      ds.Evictions,
		Requests:       t.budget.Stats().Requests,
		Retries:        make(map[string]uint64),
		RetriesRefused: t.refused.Load(),
		Breakers:       make(map[string]breaker.State),
	}
	for r := range numReasons {
		if v := t.retries[r].Load(); v > 0 {
			s.Retries[r.String()] = v
		}
	}
	if t.breakers != nil {
		s.Breakers = t.breakers.States()
	}
	return s
}

// String formats s on one line for humans, maps sorted by key, e.g.
//
//	open=2 idle=2 in_use=0 dials=2 dial_errors=0 peer_closes=0 requests=10 retries_refused=0 retries{status_503=3} breakers{127.0.0.1:8080=closed}
func (s Stats) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "open=%d idle=%d in_use=%d dials=%d dial_errors=%d peer_closes=%d requests=%d retries_refused=%d",
		s.Open, s.Idle, s.InUse, s.Dials, s.DialErrors, s.PeerCloses, s.Requests, s.RetriesRefused)
	writeMap(&b, "retries", s.Retries, func(v uint64) string { return fmt.Sprint(v) })
	writeMap(&b, "evictions", s.Evictions, func(v uint64) string { return fmt.Sprint(v) })
	writeMap(&b, "probes", s.Probes, func(v uint64) string { return fmt.Sprint(v) })
	writeMap(&b, "breakers", s.Breakers, breaker.State.String)
	return b.String()
}

func writeMap[V any](b *strings.Builder, name string, m map[string]V, format func(V) string) {
	if len(m) == 0 {
		return
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b.WriteString(" " + name + "{")
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(k + "=" + format(m[k]))
	}
	b.WriteByte('}')
}
