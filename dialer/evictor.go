package dialer

import (
	"sync"
	"sync/atomic"
	"time"
)

const (
	// minSweep and maxSweep bound the evictor's adaptive period.
	minSweep = 10 * time.Millisecond
	maxSweep = time.Second
	// sweepChunk bounds the connections inspected per tick.
	sweepChunk = 4096
)

// evictor closes idle connections that are dead or unhealthy before anyone
// picks them. It owns no goroutine between ticks: each tick is a
// time.AfterFunc that schedules the next one while connections exist, so an
// idle Dialer costs nothing. Its fields are guarded by Dialer.mu, except buf,
// which only the (single) running tick touches.
type evictor struct {
	timer   *time.Timer
	due     time.Time    // when timer fires
	dueNs   atomic.Int64 // due on the Dialer's clock, 0 when no tick is pending; read without the lock
	stopped bool
	cursor  int
	wg      sync.WaitGroup // counts scheduled or running ticks
	buf     []*Conn
}

// ensure makes sure a tick is due within soon (clamped to [minSweep,
// maxSweep]), scheduling one or pulling the pending one earlier. A new
// connection to a peer with a short learned idle deadline must not wait for a
// tick scheduled a second away. Called with Dialer.mu held.
func (e *evictor) ensure(d *Dialer, soon time.Duration) {
	if e.stopped {
		return
	}
	soon = max(minSweep, min(soon, maxSweep))
	due := time.Now().Add(soon)
	switch {
	case e.timer == nil:
		e.wg.Add(1)
		e.timer = time.AfterFunc(soon, d.sweep)
	case due.Before(e.due) && e.timer.Stop():
		// The pending tick was cancelled before it ran: move it, the
		// WaitGroup count stays the same.
		e.timer.Reset(soon)
	default:
		return // the pending tick is sooner, or it is running and will reschedule
	}
	e.due = due
	e.dueNs.Store(d.now() + int64(soon))
}

// ensureEvictor makes sure a tick is due within soon. The common case — a
// tick already due soon enough — costs one atomic load and no lock, so that
// returning a conn to its pool stays cheap.
func (d *Dialer) ensureEvictor(soon time.Duration) {
	soon = max(minSweep, min(soon, maxSweep))
	if due := d.ev.dueNs.Load(); due != 0 && due <= d.now()+int64(soon) {
		return
	}
	d.mu.Lock()
	if !d.closed {
		d.ev.ensure(d, soon)
	}
	d.mu.Unlock()
}

// stopEvictor cancels the pending tick and waits for a running one to finish.
// Called after d.closed is set, so no tick schedules another.
func (d *Dialer) stopEvictor() {
	d.mu.Lock()
	e := &d.ev
	e.stopped = true
	t := e.timer
	e.timer = nil
	d.mu.Unlock()
	if t != nil && t.Stop() {
		e.wg.Done() // that tick will never run
	}
	e.wg.Wait()
}

// EvictStale inspects every tracked connection now, closing the idle ones
// that are dead or unhealthy, and returns how many it closed.
func (d *Dialer) EvictStale() int {
	conns := d.snapshot(nil)
	n, _ := d.inspectAll(conns, true)
	return n
}

// sweep is one evictor tick: inspect a bounded chunk of the tracked
// connections, then schedule the next tick for when the soonest deadline among
// them falls due (clamped to [minSweep, maxSweep]).
func (d *Dialer) sweep() {
	defer d.ev.wg.Done()
	d.profile.RefreshIfStale() // here, never on a request's path
	d.mu.Lock()
	e := &d.ev
	e.dueNs.Store(0)
	if d.closed {
		e.timer, e.stopped = nil, true
		d.mu.Unlock()
		return
	}
	n := len(d.conns)
	start := e.cursor
	if start >= n {
		start = 0
	}
	end := min(start+sweepChunk, n)
	e.buf = append(e.buf[:0], d.conns[start:end]...)
	e.cursor = end
	if end >= n {
		e.cursor = 0
	}
	d.mu.Unlock()

	_, next := d.inspectAll(e.buf, false)
	clear(e.buf)

	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed || len(d.conns) == 0 {
		e.timer = nil
		return
	}
	if e.cursor != 0 {
		next = minSweep // more chunks to look at
	}
	e.timer = nil
	e.ensure(d, next)
}

// inspectAll inspects conns and returns how many it evicted and how long
// until the soonest of the survivors needs another look.
func (d *Dialer) inspectAll(conns []*Conn, probeAll bool) (int, time.Duration) {
	now := d.now()
	lim := d.idleLimit()
	probeEvery := d.probeInterval()
	next := maxSweep
	evicted := 0
	for _, c := range conns {
		closed, wait := d.inspect(c, now, lim, probeEvery, probeAll)
		if closed {
			evicted++
		} else if wait < next {
			next = wait
		}
	}
	return evicted, next
}

// probeInterval is how often an idle connection is probed in the background.
func (d *Dialer) probeInterval() time.Duration {
	switch p := d.cfg.ProbeInterval; {
	case p > 0:
		return p
	case p < 0:
		return 0
	}
	return d.profile.Cached().ProbeInterval
}

// inspect scores one connection and evicts it if it is idle and dead, expired
// or unhealthy. It returns whether it closed c and, if not, how long until c
// next needs a look. Connections that are lent out or given away are never
// touched: they are their owner's.
func (d *Dialer) inspect(c *Conn, now int64, idleLimit, probeEvery time.Duration, probeNow bool) (bool, time.Duration) {
	w := c.own.Load()
	if c.closed.Load() || stateBits(w) != bitsIdle {
		return false, maxSweep // Return schedules a look when it goes idle
	}
	idle := time.Duration(now - c.idleFrom.Load())
	next := maxSweep
	if c.expires != 0 {
		if now >= c.expires {
			return d.claimIdle(c, w, ReasonLifetime), 0
		}
		next = min(next, time.Duration(c.expires-now))
	}
	if c.idleData.Load() != 0 {
		return d.claimIdle(c, w, ReasonProbeData), 0
	}
	if dl, ok := d.learner.IdleDeadline(c.peer); ok {
		if idle < dl {
			next = min(next, dl-idle)
		} else if wait, keep := d.explore(c, w, idle); keep {
			next = min(next, wait)
		} else {
			return d.claimIdle(c, w, ReasonLearnedIdle), 0
		}
	}
	if idleLimit > 0 {
		if idle >= idleLimit {
			return d.claimIdle(c, w, ReasonIdle), 0
		}
		next = min(next, idleLimit-idle)
	}
	if probeEvery <= 0 && !probeNow {
		return false, next
	}
	sinceProbe := time.Duration(now - c.lastProbe.Load())
	if !probeNow && (idle < probeEvery || sinceProbe < probeEvery) {
		return false, min(next, probeEvery-min(idle, sinceProbe))
	}
	r := c.Probe()
	if reason := probeReason(r.State); reason != ReasonNone {
		return d.claimIdle(c, w, reason), 0
	}
	if r.State != ProbeAlive {
		return false, next
	}
	if score := d.score(c); score < d.cfg.EvictThreshold {
		return d.claimIdle(c, w, ReasonScore), 0
	}
	return false, next
}

// explorer is the conn exploring a peer's learned idle deadline, and when
// it started (on the Dialer's clock).
type explorer struct {
	conn    *Conn
	started int64
}

// exploreEvery is how often a peer's learned deadline is re-tested: rarely,
// since an explorer handed out to a request that cannot be refused (a POST
// without GetBody) meets the peer's idle close like net/http would.
func (d *Dialer) exploreEvery(est time.Duration) time.Duration {
	if d.exploreMin > 0 {
		return d.exploreMin
	}
	return max(50*est, 5*time.Second)
}

// explore decides the fate of an idle conn past its peer's learned idle
// deadline. One such conn per peer — the explorer — is kept past the
// deadline instead of being closed, at most once per exploreEvery, up to
// twice the learned timeout: if the
// peer closes it first, that is one more sample confirming the estimate; if
// it is still alive then, the estimate is wrong (a graceful restart taken for
// an idle timeout, a peer reconfigured) and the learner re-learns, so a bad
// sample can never turn keep-alive off for good. If the owner hands the
// explorer out meanwhile, its first-write check refuses it as usual. explore
// returns keep=false when c must be closed now.
func (d *Dialer) explore(c *Conn, w uint64, idle time.Duration) (wait time.Duration, keep bool) {
	est, ok := d.learner.Estimate(c.peer)
	if !ok {
		return 0, false
	}
	now := d.now()
	d.mu.Lock()
	ex := d.explorers[c.peer]
	if ex.conn != c {
		if ex.conn != nil && !ex.conn.closed.Load() && stateBits(ex.conn.own.Load()) == bitsIdle {
			d.mu.Unlock()
			return 0, false // another conn of this peer is exploring
		}
		if ex.started != 0 && time.Duration(now-ex.started) < d.exploreEvery(est) {
			d.mu.Unlock()
			return 0, false // explored recently: close on time
		}
		d.explorers[c.peer] = explorer{conn: c, started: now}
	}
	d.mu.Unlock()
	if limit := surviveAge(est); idle < limit {
		return limit - idle, true
	}
	if c.own.Load() != w || c.Probe().State != ProbeAlive {
		return 0, false
	}
	d.learner.Survived(c.peer, idle)
	return maxSweep, true
}

// score rates an idle, probe-alive connection in [0,1] from TCP_INFO against
// the peer's baseline and the connection's own error count.
//
//   - not ESTABLISHED: 0 (the kernel knows it is going away);
//   - unacknowledged segments on an idle connection: −0.5 (the peer stopped
//     acking: a blackhole or a dead host behind NAT);
//   - unrecovered RTO retransmits: −0.25 each;
//   - RTT above 4× the peer's baseline and 50ms over it: −0.3;
//   - I/O errors seen on the connection: −0.2.
//
// A healthy connection's RTT feeds the peer's baseline.
func (d *Dialer) score(c *Conn) float64 {
	info, err := c.TCPInfo()
	if err != nil {
		return 1 // nothing to judge by: do not punish the platform
	}
	if info.State != tcpEstablished {
		return 0
	}
	s := 1.0
	if info.Unacked > 0 {
		s -= 0.5
	}
	s -= 0.25 * float64(info.Retransmits)
	base := d.health.baselineRTT(c.peer)
	if base > 0 && info.RTT > 4*base && info.RTT-base > 50*time.Millisecond {
		s -= 0.3
	}
	if c.errs.Load() > 0 {
		s -= 0.2
	}
	if s >= 1 {
		d.health.observeRTT(c.peer, info.RTT)
	}
	return max(s, 0)
}

const tcpEstablished = 1
