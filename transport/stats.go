package transport

import (
	"fmt"
	"sort"
	"strings"
	"time"

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
	// InFlight is the number of RoundTrip calls that have not returned yet
	// (a response whose body is still being read is no longer counted).
	InFlight int64
	// WaitCount counts attempts that found no idle connection (or HTTP/2
	// stream slot) ready and waited for a dial (or, in net/http's pool, for
	// another request's connection: httptrace GotConn with Reused false),
	// as pgxpool's EmptyAcquireCount; WaitDuration is their total wait, from
	// the start of the attempt until the connection was handed over.
	WaitCount    uint64
	WaitDuration time.Duration
	// BreakerRejects counts requests the request breaker rejected at once.
	BreakerRejects uint64
	// Retries counts retries by why they were safe (stale_conn,
	// connect_failure, refused_stream, goaway, attempt_timeout,
	// idempotent_error, status_502, status_503, status_504, status_429,
	// status_other).
	Retries map[string]uint64
	// RetriesRefused counts retries the retry budget refused.
	RetriesRefused uint64
	// Breakers is the state of each host's request breaker (host:port).
	Breakers map[string]breaker.State
	// Limits are the configured limits in effect, defaults applied.
	Limits Limits
}

// Limits are a Transport's configured limits, defaults applied, as
// pgxpool's MaxConns: what Stats' counts are to be read against.
type Limits struct {
	// MaxIdleConns and MaxIdleConnsPerHost bound idle connections in all and
	// per host, MaxConnsPerHost all connections per host; 0 means no limit.
	MaxIdleConns, MaxIdleConnsPerHost, MaxConnsPerHost int
	// MaxRetries is the number of retries a request may have.
	MaxRetries int
	// AttemptTimeout bounds each attempt; 0 means no limit.
	AttemptTimeout time.Duration
	// RetryWindow bounds how long retries extend a request; 0 means none.
	RetryWindow time.Duration
	// MaxLifetime bounds the reuse of a connection; 0 means no limit.
	MaxLifetime time.Duration
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
		InFlight:       t.inFlight.Load(),
		WaitCount:      t.waits.count.Load(),
		WaitDuration:   time.Duration(t.waits.nanos.Load()),
		BreakerRejects: t.rejected.Load(),
		Limits: Limits{
			MaxIdleConns:        t.s.MaxIdleConns,
			MaxIdleConnsPerHost: t.s.MaxIdleConnsPerHost,
			MaxConnsPerHost:     t.s.MaxConnsPerHost,
			MaxRetries:          t.s.maxRetries,
			AttemptTimeout:      t.s.AttemptTimeout,
			RetryWindow:         t.s.RetryWindow,
			MaxLifetime:         t.s.MaxLifetime,
		},
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
//	open=2 idle=2 in_use=0 dials=2 dial_errors=0 peer_closes=0 requests=10 in_flight=0 waits=2 wait_time=1.2ms breaker_rejects=0 retries_refused=0 retries{status_503=3} breakers{127.0.0.1:8080=closed}
func (s Stats) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "open=%d idle=%d in_use=%d dials=%d dial_errors=%d peer_closes=%d requests=%d in_flight=%d waits=%d wait_time=%v breaker_rejects=%d retries_refused=%d",
		s.Open, s.Idle, s.InUse, s.Dials, s.DialErrors, s.PeerCloses, s.Requests, s.InFlight, s.WaitCount, s.WaitDuration, s.BreakerRejects, s.RetriesRefused)
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
