package dialer

import (
	"context"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/herz-go/herz/internal/sockopt"
)

// The watchdog finds dead paths on connections in use, whoever owns them,
// from the kernel's own clocks instead of a fixed TCP_USER_TIMEOUT:
//
//   - slow is not dead: a peer that acknowledges, even with a zero receive
//     window (it answers every zero-window probe), is alive however long it
//     stalls. Linux's TCP_USER_TIMEOUT would cut it: it also bounds
//     zero-window probing, answered or not.
//   - gone is dead: data written at least the bound ago is still
//     unacknowledged (unacked segments, or unanswered probes), and the
//     peer has acknowledged nothing since it was written (TCP_INFO's last
//     ACK received). The owner's blocked or next Read or Write then fails
//     with ETIMEDOUT, as when the kernel gives up, within the bound plus
//     one tick.
//
// Cost: a tick every bound/32 (within [100 ms, 250 ms]) walks the tracked
// conns with atomic loads only; a TCP_INFO syscall is spent only on a conn
// whose last write began at least the bound ago with no read since it
// completed, and not again for the same write once the kernel showed it
// fully acknowledged; at most maxJudgedPerTick of them per tick. Like the evictor it owns no goroutine between ticks:
// each tick is a time.AfterFunc that schedules the next while conns exist,
// and Dialer.Close stops it.
type watchdog struct {
	timer   *time.Timer // pending tick; guarded by Dialer.mu
	stopped bool        // guarded by Dialer.mu
	wg      sync.WaitGroup
	buf     []*Conn // only the (single) running tick touches it
	cursor  int     // where the next tick's walk starts; guarded by Dialer.mu

	// suspects: peers whose path the watchdog found dead, and when (the
	// Dialer's clock). A connect to one of them within the bound is cut
	// at suspectConnect. Guarded by Dialer.mu; bounded by maxSuspects.
	suspects map[string]int64
}

const (
	// suspectConnect bounds a connect to a peer whose path was found dead
	// within the bound: one SYN and its first retransmission's timer
	// (1 s), so a caller whose request died with the path has its answer
	// within the bound, the re-dial included. A peer back on a working
	// path answers a SYN in one round trip.
	suspectConnect = time.Second
	// minDeadProbes is the number of unanswered zero-window probes after
	// which a closed window counts as a dead path (with nothing
	// acknowledged for the bound).
	minDeadProbes = 3
	// maxJudgedPerTick bounds the TCP_INFO reads of one tick (a few ms of
	// syscalls on a loaded VM). Beyond it — that many conns stalled at
	// once, each with a write older than the bound — the rest are judged
	// in the next ticks (10,000 of them within 10 ticks).
	maxJudgedPerTick = 1024
	// maxSuspects bounds the suspects map.
	maxSuspects = 4096
	// maxWatchTick bounds the watchdog's period.
	maxWatchTick = 250 * time.Millisecond
	minWatchTick = 100 * time.Millisecond
)

// aLongTimeAgo is a deadline in the past: it wakes a blocked Read or Write at once.
var aLongTimeAgo = time.Unix(1, 0)

// deadBound is the dead-path bound (Config.UserTimeout, or the profile's),
// or 0 when disabled.
func (d *Dialer) deadBound() time.Duration {
	switch t := d.cfg.UserTimeout; {
	case t > 0:
		return t
	case t < 0:
		return 0
	}
	return d.profile.Cached().UserTimeout
}

func watchTick(bound time.Duration) time.Duration {
	return max(minWatchTick, min(bound/32, maxWatchTick))
}

// ensureWatchdog schedules a tick if none is pending (Dialer.mu held).
func (d *Dialer) ensureWatchdogLocked() {
	w := &d.wd
	if w.stopped || w.timer != nil || d.closed {
		return
	}
	bound := d.deadBound()
	if bound <= 0 {
		return
	}
	w.wg.Add(1)
	w.timer = time.AfterFunc(watchTick(bound), d.watch)
}

// stopWatchdog cancels the pending tick and waits for a running one.
func (d *Dialer) stopWatchdog() {
	d.mu.Lock()
	w := &d.wd
	w.stopped = true
	t := w.timer
	w.timer = nil
	d.mu.Unlock()
	if t != nil && t.Stop() {
		w.wg.Done() // that tick will never run
	}
	w.wg.Wait()
}

// watch is one watchdog tick.
func (d *Dialer) watch() {
	defer d.wd.wg.Done()
	d.profile.RefreshIfStale() // here, never on a request's path
	bound := d.deadBound()
	now := d.now()
	w := &d.wd
	d.mu.Lock()
	w.timer = nil
	if d.closed || w.stopped {
		d.mu.Unlock()
		return
	}
	// Walk every conn from where the last tick's TCP_INFO budget ran out,
	// so that stalled conns beyond the budget are judged in turn.
	w.buf = w.buf[:0]
	n := len(d.conns)
	start := w.cursor
	if start >= n {
		start = 0
	}
	w.cursor = 0
	for k := range n {
		i := (start + k) % n
		if c := d.conns[i]; c.stalled(now, bound) {
			if len(w.buf) == maxJudgedPerTick {
				w.cursor = i
				break
			}
			w.buf = append(w.buf, c)
		}
	}
	d.mu.Unlock()

	for i, c := range w.buf {
		d.judge(c, now, bound)
		w.buf[i] = nil
	}

	d.mu.Lock()
	if len(d.conns) > 0 {
		d.ensureWatchdogLocked()
	}
	d.mu.Unlock()
}

// stalled is the watchdog's cheap pre-check (atomic loads only): c's last
// write began at least bound ago, and nothing was read since it completed.
func (c *Conn) stalled(now int64, bound time.Duration) bool {
	w := c.writeAt.Load()
	if w == 0 || now-w < int64(bound) || c.closed.Load() || c.dead.Load() || c.wdOK.Load() == w {
		return false
	}
	done := c.lastWrite.Load() == w
	return !(done && c.lastRead.Load() > w)
}

// judge reads c's TCP_INFO and declares it dead when its path is: data
// outstanding, and nothing acknowledged for bound, counted from when the
// data was written at the latest.
func (d *Dialer) judge(c *Conn, now int64, bound time.Duration) {
	w := c.writeAt.Load()
	ti, err := c.TCPInfo()
	if err != nil {
		return // closed meanwhile, or no TCP_INFO: nothing to judge by
	}
	if ti.Unacked == 0 && ti.Probes == 0 && ti.NotSent == 0 {
		if c.lastWrite.Load() == w {
			c.wdOK.Store(w) // all acknowledged: no need to look again until the next write
		}
		return
	}
	if stall := min(ti.LastAckRecv, time.Duration(now-w)); stall < bound {
		return // the peer acknowledged something recently: alive, maybe slow
	}
	// Nothing acknowledged for the bound. Dead if data is being
	// retransmitted unanswered, or the kernel's probes of a closed window
	// go unanswered. A peer that keeps its window closed answers each
	// probe, which resets the kernel's count of unanswered ones (tcp_ack),
	// however long the (exponentially backed off) gaps between probes
	// grow: it is slow, not dead. Two unanswered in a row are tolerated (a
	// lost probe or answer).
	if ti.Unacked == 0 && ti.Probes < minDeadProbes {
		return
	}
	d.declareDead(c, now)
}

// declareDead marks c dead and wakes its owner: a blocked Read or Write
// returns at once, and every later one fails, with ETIMEDOUT.
func (d *Dialer) declareDead(c *Conn, now int64) {
	if !c.dead.CompareAndSwap(false, true) {
		return
	}
	d.stats.deadPaths.Add(1)
	// Let the kernel give up too (on its next timer), so the socket stops
	// retransmitting into the void once its owner closes it.
	c.raw.Control(func(fd uintptr) { sockopt.SetUserTimeout(fd, time.Millisecond) })
	c.tcp.SetDeadline(aLongTimeAgo)
	d.mu.Lock()
	if d.wd.suspects == nil {
		d.wd.suspects = make(map[string]int64)
	}
	if len(d.wd.suspects) >= maxSuspects {
		clear(d.wd.suspects) // bounded: forget, dial at the full bound
	}
	d.wd.suspects[c.peer] = now
	d.mu.Unlock()
	d.rec.Eviction(context.Background(), c.peer, "dead_path")
}

// suspect reports whether the watchdog found the path to addr dead within
// the bound.
func (d *Dialer) suspect(addr string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	at, ok := d.wd.suspects[addr]
	if !ok {
		return false
	}
	if time.Duration(d.now()-at) < d.deadBound() {
		return true
	}
	delete(d.wd.suspects, addr)
	return false
}

// timedOut is the error of an I/O call on a conn the watchdog declared
// dead: what the kernel reports when it gives up on a connection.
func (c *Conn) timedOut(op, call string) error {
	return &net.OpError{Op: op, Net: "tcp", Source: c.tcp.LocalAddr(), Addr: c.tcp.RemoteAddr(), Err: os.NewSyscallError(call, syscall.ETIMEDOUT)}
}
