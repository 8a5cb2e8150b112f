package sqlconn

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"
)

// Recovery probing: while the connect breaker is open, one probe connect at
// a time looks for the server, first after probeFirst, then at intervals
// growing by half up to probeMax (±25% jitter), so that the first success
// comes within about probeMax after the server accepts again, never at the
// end of a fixed open interval. The connection a successful probe opened is
// kept for the next Connect (for at most spareMaxAge), and callers refused by
// the breaker connect past it from then on, until the breaker has closed or
// a connect fails again.
//
// The probing stops when no caller has asked for a connection for
// probeIdle (an idle application against a dead server sends nothing), and
// starts again with the next caller the breaker refuses.
const (
	probeFirst  = 10 * time.Millisecond
	probeMax    = 60 * time.Millisecond
	probeIdle   = time.Second
	spareMaxAge = time.Second
)

// recovery is the connector's recovery prober. Its goroutine runs only
// during an outage and stops at Close.
type recovery struct {
	c *Connector

	mu      sync.Mutex
	back    chan struct{} // closed when the server was found back since the outage began
	running bool          // the probe goroutine runs
	wanted  time.Time     // when a caller last waited for the server
	started uint64        // probe connects started so far
	failed  uint64        // the number (in started) of the last probe that failed
	fail    chan struct{} // closed and replaced when a probe fails
	closed  bool
	spare   *conn // the connection of the successful probe, for the next Connect
	spareAt time.Time

	ctx    context.Context // ends at close: stops the probe goroutine
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func (r *recovery) init(c *Connector) {
	r.c = c
	r.back = make(chan struct{})
	close(r.back) // no outage yet
	r.fail = make(chan struct{})
	r.ctx, r.cancel = context.WithCancel(context.Background())
}

// outage records that the server refuses connects: callers refused by the
// breaker wait for the probe, which starts unless it runs already.
func (r *recovery) outage() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || r.c == nil {
		return
	}
	select {
	case <-r.back:
		r.back = make(chan struct{})
		// Connects go one at a time from now on, the probe's included, and
		// the pool refills in slow start once they succeed.
		r.c.gate.slowStart()
	default:
	}
	r.wanted = time.Now()
	r.startLocked()
}

// startLocked starts the probe goroutine unless it runs. r.mu is held.
func (r *recovery) startLocked() {
	if !r.running && !r.closed {
		r.running = true
		r.wg.Add(1)
		go r.probe()
	}
}

// probe connects until a connect succeeds or the connector closes.
func (r *recovery) probe() {
	defer r.wg.Done()
	wait := probeFirst
	timeout := min(r.c.cfg.ConnectTimeout, time.Second)
	if timeout <= 0 {
		timeout = time.Second
	}
	for {
		t := time.NewTimer(time.Duration(float64(wait) * (0.75 + 0.5*rand.Float64())))
		select {
		case <-r.ctx.Done():
			t.Stop()
			r.stopped(nil)
			return
		case <-t.C:
		}
		r.mu.Lock()
		if time.Since(r.wanted) > probeIdle {
			r.running = false // nobody waits: the next refused caller restarts it
			r.mu.Unlock()
			return
		}
		r.started++
		seq := r.started
		r.mu.Unlock()
		ctx, cancel := context.WithTimeout(r.ctx, timeout)
		release, err := r.c.gate.acquire(ctx)
		var w *conn
		if err == nil {
			w, err = r.c.open(ctx)
			release(err == nil)
		}
		cancel()
		if err == nil {
			r.stopped(w)
			return
		}
		r.mu.Lock()
		r.failed = seq
		close(r.fail)
		r.fail = make(chan struct{})
		r.mu.Unlock()
		wait = min(wait*3/2, probeMax)
	}
}

// stopped ends the probe goroutine's run; w is its connection (nil when
// the connector closed).
func (r *recovery) stopped(w *conn) {
	r.mu.Lock()
	r.running = false
	if w == nil || r.closed {
		r.mu.Unlock()
		if w != nil {
			w.Close()
		}
		return
	}
	old := r.spare
	r.spare, r.spareAt = w, time.Now()
	select {
	case <-r.back:
	default:
		close(r.back)
	}
	r.mu.Unlock()
	if old != nil {
		old.Close()
	}
}

// waitBack waits for the next evidence about the server: true as soon as a
// probe found it back, false when a probe that started after this call
// failed (the server still refuses), when ctx ends or the connector closes.
// A caller is thus refused only on fresh evidence, never while the probe
// that will find the server back is still in flight.
func (r *recovery) waitBack(ctx context.Context) bool {
	r.mu.Lock()
	r.wanted = time.Now()
	arrived := r.started
	for {
		back, fail := r.back, r.fail
		select {
		case <-back:
			r.mu.Unlock()
			return true
		default:
		}
		if r.failed > arrived {
			r.mu.Unlock()
			return false
		}
		r.startLocked()
		r.mu.Unlock()
		select {
		case <-back:
			return true
		case <-fail:
		case <-ctx.Done():
			return false
		case <-r.ctx.Done():
			return false
		}
		r.mu.Lock()
	}
}

// takeSpare returns the probe's connection, if there is a fresh one.
func (r *recovery) takeSpare() *conn {
	r.mu.Lock()
	w, at := r.spare, r.spareAt
	r.spare = nil
	r.mu.Unlock()
	if w == nil {
		return nil
	}
	if time.Since(at) > spareMaxAge {
		w.Close()
		return nil
	}
	return w
}

// close stops the probe goroutine and closes the spare connection.
func (r *recovery) close() {
	if r.c == nil {
		return
	}
	r.mu.Lock()
	r.closed = true
	w := r.spare
	r.spare = nil
	r.mu.Unlock()
	r.cancel()
	r.wg.Wait()
	if w != nil {
		w.Close()
	}
}
