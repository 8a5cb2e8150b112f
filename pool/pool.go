package pool

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/puddle/v2"

	"github.com/herz-go/herz/dialer"
	"github.com/herz-go/herz/internal/telemetry"
)

// ErrClosed is returned by Acquire on a closed Pool.
var ErrClosed = errors.New("herz/pool: pool closed")

// Pool is a pool of raw TCP connections to one server, built on
// jackc/puddle/v2 and dialed, verified and tracked by a herz Dialer. Create
// it with [New]. It is safe for concurrent use.
type Pool struct {
	s   settings
	d   *dialer.Dialer
	p   *puddle.Pool[*pconn]
	rec *telemetry.PoolRecorder

	// out counts acquisitions in progress and conns held by callers; Close
	// waits only when it is zero, otherwise the last Release finishes.
	out        atomic.Int64
	closed     atomic.Bool
	closeOnce  sync.Once
	finishOnce sync.Once

	ctx    context.Context // canceled by Close: stops the loop and its dials
	cancel context.CancelFunc
	wg     sync.WaitGroup // the background loop
	kick   chan struct{}  // asks the loop to refill MinIdle now
	ctxs   acquireCtxPool // AcquireTimeout contexts for Background callers

	lastSample atomic.Int64 // UnixNano of the last idle-close sample learned

	downMu sync.Mutex // guards down, and Close's cancel against markDown's wg.Add
	down   downGate

	c counters
}

// pconn is the value puddle pools: one tracked connection and its
// per-connection limits. Its fields are written by the constructor and read
// by whoever holds the puddle resource.
type pconn struct {
	c        *dialer.Conn
	created  time.Time     // with a monotonic reading: time.Since reads one clock
	lifetime time.Duration // jittered MaxLifetime; 0: no limit
	fresh    bool          // never handed out: pending data is the server's greeting
	handle   Conn          // reused for every hand-out of this connection
}

// Conn is a connection acquired from a Pool. Use it (Read, Write, NetConn)
// and give it back with exactly one of Release, Destroy or Hijack; it must
// not be used after that. herz never closes, probes or evicts a Conn while
// it is acquired: a blocking SUBSCRIBE or a long BLPOP belongs to its caller.
// A Conn is as safe for concurrent use as the net.Conn under it; Release,
// Destroy and Hijack must be called once, by one goroutine.
type Conn struct {
	p        *Pool
	res      *puddle.Resource[*pconn]
	lease    dialer.Lease
	acquired time.Time // set only when use-time metrics are recorded
}

// New creates a Pool for cfg. It dials nothing itself; the background loop
// starts filling MinIdle at once. ctx is not retained: the pool lives until
// Close. An invalid cfg gives an error naming the field.
func New(ctx context.Context, cfg Config) (*Pool, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("herz/pool: New: %w", err)
	}
	s, err := withDefaults(cfg)
	if err != nil {
		return nil, err
	}
	d := s.Dialer
	if d == nil {
		if d, err = dialer.New(privateDialerConfig(s.MeterProvider)); err != nil {
			return nil, fmt.Errorf("herz/pool: creating its dialer: %w", err)
		}
		s.ownDialer = true
	}
	p := &Pool{s: s, d: d, kick: make(chan struct{}, 1)}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.p, err = puddle.NewPool(&puddle.Config[*pconn]{
		Constructor: p.construct,
		Destructor:  func(pc *pconn) { _ = pc.c.Close() },
		MaxSize:     int32(s.MaxConns),
	})
	if err == nil {
		p.rec, err = telemetry.NewPoolRecorder(s.MeterProvider, s.Name, s.Addr, p.observe)
	}
	if err != nil {
		p.cancel()
		if s.ownDialer {
			_ = d.Close()
		}
		return nil, fmt.Errorf("herz/pool: %w", err)
	}
	p.wg.Add(1)
	go p.loop()
	return p, nil
}

// construct is puddle's constructor: it dials one verified connection and
// leaves it idle (ownership Idle) in the pool's hands.
func (p *Pool) construct(ctx context.Context) (*pconn, error) {
	if up, _ := p.downWait(); up != nil {
		return nil, errServerDown // the prober finds when to dial again
	}
	start := time.Now()
	p.c.dials.Add(1)
	nc, err := p.d.DialContext(ctx, "tcp", p.s.Addr)
	if err != nil {
		p.c.dialErrors.Add(1)
		if ctx.Err() == nil {
			p.markDown(err)
		}
		return nil, fmt.Errorf("herz/pool: dialing %s: %w", p.s.Addr, err)
	}
	c, ok := dialer.ConnOf(nc)
	if !ok {
		_ = nc.Close()
		p.c.dialErrors.Add(1)
		return nil, fmt.Errorf("herz/pool: dialing %s: the dialer returned an untracked %T", p.s.Addr, nc)
	}
	// A fresh conn stays given away (the Dialer leaves it alone) until its
	// first hand-out: a server greeting may be waiting on it.
	pc := &pconn{c: c, created: start, fresh: true}
	if lt := p.s.MaxLifetime; lt > 0 {
		pc.lifetime = lt - time.Duration(rand.Float64()*p.s.LifetimeJitter*float64(lt))
	}
	pc.handle.p = p
	p.rec.Create(time.Since(start))
	return pc, nil
}

// maxHandoutTries bounds how many idle conns one Acquire checks and
// discards before it gives up; a fresh dial always ends the loop sooner.
func (p *Pool) maxHandoutTries() int { return p.s.MaxConns + 2 }

// Acquire returns a live connection: an idle one that passed the hand-out
// check (lifetime, the Dialer's learned idle deadline and idle limit, then a
// liveness probe), or a freshly dialed one. Idle conns that
// fail the check are closed with their reason and the next is tried, a
// bounded number of times. Acquire waits for a free slot when MaxConns are
// acquired, until ctx ends or AcquireTimeout passes. Cancelling ctx does not
// abort a dial in progress: its connection goes to the pool for the next
// caller.
//
// When a dial fails (refused, timed out...), the pool marks the server down:
// instead of each caller dialing and failing in turn, one prober owned by
// the pool connects every 10ms, backing off to 50ms, and an Acquire that
// needs a new connection waits for it within ctx (and AcquireTimeout). As
// soon as a probe connects, the waiters dial: the first success comes within
// about 50ms of the server accepting again, and nothing is refused after it
// does. With Config.FailFast, such an Acquire fails at once instead. Errors
// wrap ctx's error (with the dial error that marked the server down), the
// dial error ([*dialer.DialError]) or [ErrClosed].
func (p *Pool) Acquire(ctx context.Context) (*Conn, error) {
	p.out.Add(1)
	if p.closed.Load() {
		p.done()
		return nil, ErrClosed
	}
	if t := p.s.AcquireTimeout; t > 0 {
		if ctx.Done() == nil { // never cancelled: a recycled timeout context
			ac := p.ctxs.get(ctx, t)
			defer p.ctxs.put(ac)
			ctx = ac
		} else if dl, ok := ctx.Deadline(); !ok || time.Until(dl) > t {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, t)
			defer cancel()
		}
	}
	start := p.rec.Now()
	var lastReason dialer.Reason
	var lastErr error // the last dial error
	for range p.maxHandoutTries() {
		if err := p.awaitServer(ctx); err != nil {
			p.done()
			return nil, err
		}
		res, err := p.p.Acquire(ctx)
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, puddle.ErrClosedPool) {
				// The dial failed, which marked the server down (unless
				// the prober found it back since): wait for the prober.
				lastErr = err
				continue
			}
			p.done()
			return nil, p.acquireError(ctx, err)
		}
		pc := res.Value()
		reason := p.handoutReason(res, pc)
		if reason == dialer.ReasonNone {
			if lease, ok := pc.c.Lend(); ok {
				pc.fresh = false
				h := &pc.handle
				h.res, h.lease = res, lease
				if !start.IsZero() {
					h.acquired = p.rec.Now()
					p.rec.Wait(h.acquired.Sub(start))
				}
				return h, nil
			}
			reason = dialer.ReasonEvicted
		}
		lastReason = reason
		p.c.handoutRejects.Add(1)
		p.evict(res, pc, reason)
	}
	p.done()
	if lastErr != nil {
		return nil, lastErr
	}
	return nil, fmt.Errorf("herz/pool: no live connection to %s after %d tries (last: %v)", p.s.Addr, p.maxHandoutTries(), lastReason)
}

// handoutReason checks an idle conn about to be handed out: the pool's
// lifetime, then the Dialer's rules and probe. MaxIdleTime is a rule for
// shrinking the pool, applied by the health check only: an idle conn kept
// for MinIdle is not discarded at hand-out for being idle.
func (p *Pool) handoutReason(res *puddle.Resource[*pconn], pc *pconn) dialer.Reason {
	if r := p.limitReason(res, pc, false); r != dialer.ReasonNone {
		return r
	}
	return p.checkIdle(pc)
}

// freshReason is the verdict on a conn never handed out, from its probe.
func freshReason(s dialer.ProbeState) dialer.Reason {
	switch s {
	case dialer.ProbePeerClosed:
		return dialer.ReasonProbeEOF
	case dialer.ProbeReset:
		return dialer.ReasonProbeRST
	}
	return dialer.ReasonNone
}

// learnGap is the least time between two idle-close samples the pool gives
// the learner: FINs found together (a CLIENT KILL of every idle conn, a
// restart) are one event, not several agreeing samples of an idle timeout.
const learnGap = 50 * time.Millisecond

// checkIdle runs the Dialer's hand-out check on an idle conn. A FIN found by
// its probe is the server's idle close: its idle age (an upper bound of the
// server's timeout, as tight as the checks are frequent) goes to the
// Dialer's learner, at most once per learnGap, whose deadline then closes
// conns before the server does. A conn never handed out is only probed for
// FIN or RST: data waiting on it is the server's greeting (SMTP, FTP, MySQL
// and POP3 servers speak first), not a fault.
func (p *Pool) checkIdle(pc *pconn) dialer.Reason {
	p.c.checks.Add(1)
	if pc.fresh {
		return freshReason(pc.c.Probe().State)
	}
	r := pc.c.CheckIdle()
	if r == dialer.ReasonProbeEOF {
		now, last := time.Now().UnixNano(), p.lastSample.Load()
		if idle := pc.c.IdleTime(); idle > 0 && now-last >= int64(learnGap) && p.lastSample.CompareAndSwap(last, now) {
			p.d.Learner().Observe(pc.c.Peer(), idle)
		}
	}
	return r
}

// limitReason applies MaxLifetime and (when idleLimit) MaxIdleTime.
func (p *Pool) limitReason(res *puddle.Resource[*pconn], pc *pconn, idleLimit bool) dialer.Reason {
	if pc.lifetime > 0 && time.Since(pc.created) >= pc.lifetime {
		return dialer.ReasonLifetime
	}
	if idleLimit && p.s.MaxIdleTime > 0 && res.IdleDuration() >= p.s.MaxIdleTime {
		return dialer.ReasonIdle
	}
	return dialer.ReasonNone
}

// evict closes a conn the pool holds (acquired from puddle, not lent) for
// reason and removes it from the pool.
func (p *Pool) evict(res *puddle.Resource[*pconn], pc *pconn, reason dialer.Reason) {
	_ = pc.c.CloseFor(reason)
	p.c.evicted(reason.String())
	p.rec.Eviction(reason.String())
	res.Destroy()
	p.refillSoon()
}

func (p *Pool) acquireError(ctx context.Context, err error) error {
	switch {
	case errors.Is(err, puddle.ErrClosedPool):
		return ErrClosed
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		p.rec.Timeout()
		return fmt.Errorf("herz/pool: acquire from %s: %w", p.s.Addr, err)
	}
	return err // the constructor's error, already prefixed
}

// NetConn returns the connection under c: a tracked *dialer.Conn. Closing
// it directly is allowed (the pool drops it at Release); prefer Destroy.
func (c *Conn) NetConn() net.Conn { return c.res.Value().c }

// Read reads from the connection.
func (c *Conn) Read(b []byte) (int, error) { return c.res.Value().c.Read(b) }

// Write writes to the connection.
func (c *Conn) Write(b []byte) (int, error) { return c.res.Value().c.Write(b) }

// SetDeadline sets the connection's read and write deadlines. Release
// clears them.
func (c *Conn) SetDeadline(t time.Time) error { return c.res.Value().c.SetDeadline(t) }

// take ends the caller's hold on c and returns what it held.
func (c *Conn) take(op string) (*puddle.Resource[*pconn], *pconn) {
	res := c.res
	if res == nil {
		panic("herz/pool: Conn." + op + " after Release, Destroy or Hijack")
	}
	c.res = nil
	if !c.acquired.IsZero() {
		c.p.rec.Use(time.Since(c.acquired))
		c.acquired = time.Time{}
	}
	return res, res.Value()
}

// Release gives the connection back to the pool, idle. A connection past its
// lifetime, closed meanwhile, or released after Close is closed instead.
// Deadlines set by the caller are cleared.
func (c *Conn) Release() {
	p, lease := c.p, c.lease
	res, pc := c.take("Release")
	_ = pc.c.SetDeadline(time.Time{})
	switch {
	case !pc.c.Return(lease):
		// herz no longer holds it as lent (closed by the caller): drop it.
		_ = pc.c.Close()
		res.Destroy()
		p.refillSoon()
	case p.closed.Load():
		_ = pc.c.Close()
		res.Destroy()
	case p.limitReason(res, pc, false) != dialer.ReasonNone:
		p.evict(res, pc, dialer.ReasonLifetime)
	default:
		res.Release()
	}
	p.done()
}

// Destroy closes the connection and removes it from the pool; call it when
// the protocol left the connection unusable (an error mid-reply, a timeout).
func (c *Conn) Destroy() {
	p := c.p
	res, pc := c.take("Destroy")
	_ = pc.c.Close()
	p.c.destroyed.Add(1)
	res.Destroy()
	p.refillSoon()
	p.done()
}

// Hijack takes the connection out of the pool for good and returns it: herz
// never closes, probes or evicts it again (given away), and closing it is
// the caller's job.
func (c *Conn) Hijack() net.Conn {
	p := c.p
	res, pc := c.take("Hijack")
	pc.c.GiveAway()
	p.c.hijacked.Add(1)
	res.Hijack()
	p.refillSoon()
	p.done()
	return pc.c
}

// done ends one acquisition or hold; the last one after Close finishes the
// shutdown.
func (p *Pool) done() {
	if p.out.Add(-1) == 0 && p.closed.Load() {
		p.finish()
	}
}

// Close stops the background loop (aborting its dials), closes the idle
// connections and makes Acquire fail with [ErrClosed]. It waits for what the
// pool owns — the loop, its dials and the idle connections — but never for a
// connection a caller holds: those are closed when released, and the last
// release completes the shutdown (closing the private Dialer). Close is
// idempotent.
func (p *Pool) Close() {
	p.closeOnce.Do(func() {
		p.closed.Store(true)
		p.downMu.Lock()
		p.cancel() // under downMu: no prober starts after it
		p.downMu.Unlock()
		p.wg.Wait()
		p.rec.Close()
		if p.out.Load() == 0 {
			p.finish()
			return
		}
		p.p.Reset() // closes the idle conns now; acquired ones close at release
	})
}

// finish closes puddle (waiting for its destructors and any dial still in
// flight for a cancelled Acquire) and the private Dialer.
func (p *Pool) finish() {
	p.finishOnce.Do(func() {
		p.p.Close()
		if p.s.ownDialer {
			_ = p.d.Close()
		}
	})
}

// Dialer returns the Dialer the pool dials with.
func (p *Pool) Dialer() *dialer.Dialer { return p.d }
