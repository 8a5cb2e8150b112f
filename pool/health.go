package pool

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/jackc/puddle/v2"

	"github.com/herz-go/herz/dialer"
)

// Refill backoff after a failed dial round: doubled per failure, ±50% jitter.
const (
	refillBackoffMin = 50 * time.Millisecond
	refillBackoffMax = time.Second
)

// reasonHeartbeat is the eviction reason of a conn whose Heartbeat failed.
const reasonHeartbeat = "heartbeat"

// loop is the pool's one background goroutine: the periodic health check
// and the MinIdle refill. It stops when Close cancels p.ctx.
func (p *Pool) loop() {
	defer p.wg.Done()
	var tick <-chan time.Time
	if p.s.HealthCheckPeriod > 0 {
		t := time.NewTicker(p.s.HealthCheckPeriod)
		defer t.Stop()
		tick = t.C
	}
	retry := time.NewTimer(0) // first refill at once
	defer retry.Stop()
	r := refiller{batch: 1}
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-tick:
			p.checkHealth()
		case <-p.kick:
		case <-retry.C:
		}
		if wait := p.refill(&r); wait > 0 {
			retry.Reset(wait)
		}
	}
}

// refillSoon wakes the loop to refill MinIdle (never blocks).
func (p *Pool) refillSoon() {
	if p.s.MinIdle == 0 {
		return
	}
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// refiller is the loop's slow-start state: after a failure the next round
// dials one connection, and each fully successful round doubles the next.
type refiller struct {
	batch   int
	backoff time.Duration
	waiting bool // a retry is scheduled: kicks do not dial before it
	until   time.Time
}

// refill dials rounds of connections until MinIdle conns are idle (or being
// made), the pool is full, or a round fails; it returns the delay before the
// next attempt after a failure (0 when nothing is scheduled).
func (p *Pool) refill(r *refiller) time.Duration {
	if p.s.MinIdle == 0 {
		return 0
	}
	if r.waiting {
		if d := time.Until(r.until); d > 0 {
			return 0 // the scheduled retry is still pending
		}
		r.waiting = false
	}
	for p.ctx.Err() == nil {
		st := p.p.Stat()
		need := p.s.MinIdle - int(st.IdleResources()) - int(st.ConstructingResources())
		n := min(need, p.s.MaxConns-int(st.TotalResources()), r.batch)
		if n <= 0 {
			return 0
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		failed := 0
		for range n {
			wg.Go(func() {
				err := p.p.CreateResource(p.ctx)
				if errors.Is(err, puddle.ErrNotAvailable) {
					return // the pool filled up meanwhile: no dial was made
				}
				if errors.Is(err, errServerDown) {
					mu.Lock()
					failed++ // no dial was made: the prober's verdict is awaited
					mu.Unlock()
					return
				}
				p.c.refillDials.Add(1)
				if err != nil {
					mu.Lock()
					failed++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if failed == 0 {
			r.batch = min(r.batch*2, p.s.MaxConns)
			r.backoff = 0
			continue
		}
		r.batch = 1
		r.backoff = min(max(r.backoff*2, refillBackoffMin), refillBackoffMax)
		wait := time.Duration(float64(r.backoff) * (0.5 + rand.Float64()))
		r.waiting, r.until = true, time.Now().Add(wait)
		return wait
	}
	return 0
}

// checkHealth takes every idle conn out of the pool (puddle's
// AcquireAllIdle, as pgxpool does), closes the expired, over-idle (above
// MinIdle) and dead ones with their reason, runs the Heartbeat on the
// others that have been idle for half a period, and puts the survivors back
// without touching their idle time.
func (p *Pool) checkHealth() {
	p.c.healthChecks.Add(1)
	idle := p.p.AcquireAllIdle()
	kept := 0
	var ping []*puddle.Resource[*pconn]
	for _, res := range idle {
		pc := res.Value()
		reason := p.limitReason(res, pc, kept >= p.s.MinIdle)
		if reason == dialer.ReasonNone {
			reason = p.checkIdle(pc)
		}
		if reason != dialer.ReasonNone {
			p.evict(res, pc, reason)
			continue
		}
		kept++
		if p.s.Heartbeat != nil && res.IdleDuration() >= p.s.HealthCheckPeriod/2 {
			ping = append(ping, res)
			continue
		}
		res.ReleaseUnused()
	}
	if len(ping) == 0 {
		return
	}
	var wg sync.WaitGroup
	for _, res := range ping {
		wg.Go(func() { p.heartbeat(res) })
	}
	wg.Wait()
}

// heartbeat runs Config.Heartbeat on one idle conn, lent for the duration so
// that herz's evictor leaves it alone, and closes it when the ping fails.
func (p *Pool) heartbeat(res *puddle.Resource[*pconn]) {
	pc := res.Value()
	lease, ok := pc.c.Lend()
	if !ok {
		p.evict(res, pc, dialer.ReasonEvicted)
		return
	}
	pc.fresh = false // the Heartbeat speaks the protocol, greeting included
	p.c.heartbeats.Add(1)
	ctx, cancel := context.WithTimeout(p.ctx, p.s.HeartbeatTimeout)
	_ = pc.c.SetDeadline(time.Now().Add(p.s.HeartbeatTimeout))
	err := p.s.Heartbeat(ctx, pc.c)
	cancel()
	_ = pc.c.SetDeadline(time.Time{})
	if !pc.c.Return(lease) || err != nil {
		p.c.heartbeatFailures.Add(1)
		_ = pc.c.Close()
		p.c.evicted(reasonHeartbeat)
		p.rec.Eviction(reasonHeartbeat)
		res.Destroy()
		p.refillSoon()
		return
	}
	res.ReleaseUnused()
}
