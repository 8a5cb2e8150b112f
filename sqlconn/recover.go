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
const (
	probeFirst  = 10 * time.Millisecond
	probeMax    = 80 * time.Millisecond
	spareMaxAge = time.Second
)

// recovery is the connector's recovery prober. Its goroutine runs only
// during an outage and stops at Close.
type recovery struct {
	c *Connector

	mu      sync.Mutex
	back    chan struct{} // closed when the server was found back since the outage began
	running bool          // the probe goroutine runs
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
	default:
	}
	if !r.running {
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
		ctx, cancel := context.WithTimeout(r.ctx, timeout)
		w, err := r.c.open(ctx)
		cancel()
		if err == nil {
			r.stopped(w)
			return
		}
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

// waitBack waits up to d (and ctx) for the server to be found back; true
// when it is.
func (r *recovery) waitBack(ctx context.Context, d time.Duration) bool {
	r.mu.Lock()
	back := r.back
	r.mu.Unlock()
	select {
	case <-back:
		return true
	default:
	}
	if d <= 0 {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-back:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return false
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
