package pool

import (
	"context"
	"sync"
	"time"
)

// acquireCtx applies Config.AcquireTimeout to an Acquire whose context can
// never be cancelled (context.Background and its values): context.WithTimeout
// costs four allocations per call, so the pool reuses these instead. An
// acquireCtx whose timer fired is never reused (its Done channel is closed);
// one whose timer was stopped goes back to the pool. puddle hands the
// context's values to a constructor that may outlive Acquire, so Value reads
// the parent under mu, and a recycled acquireCtx answers with
// context.Background's values.
type acquireCtx struct {
	done  chan struct{} // closed by fire; never reopened
	timer *time.Timer   // runs fire

	mu       sync.Mutex // guards the fields below
	parent   context.Context
	deadline time.Time
	err      error
}

var _ context.Context = (*acquireCtx)(nil)

// Deadline implements context.Context.
func (c *acquireCtx) Deadline() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.deadline, true
}

// Done implements context.Context.
func (c *acquireCtx) Done() <-chan struct{} { return c.done }

// Err implements context.Context.
func (c *acquireCtx) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Value implements context.Context.
func (c *acquireCtx) Value(key any) any {
	c.mu.Lock()
	p := c.parent
	c.mu.Unlock()
	return p.Value(key)
}

func (c *acquireCtx) fire() {
	c.mu.Lock()
	c.err = context.DeadlineExceeded
	close(c.done)
	c.mu.Unlock()
}

// acquireCtxPool recycles acquireCtx values (per Pool: no global state).
type acquireCtxPool struct{ p sync.Pool }

// get returns a context that ends d from now, with parent's values; parent
// must never be cancelled (parent.Done() == nil).
func (cp *acquireCtxPool) get(parent context.Context, d time.Duration) *acquireCtx {
	c, _ := cp.p.Get().(*acquireCtx)
	if c == nil {
		c = &acquireCtx{done: make(chan struct{}), parent: parent, deadline: time.Now().Add(d)}
		c.timer = time.AfterFunc(d, c.fire)
		return c
	}
	c.mu.Lock()
	c.parent, c.deadline = parent, time.Now().Add(d)
	c.mu.Unlock()
	c.timer.Reset(d)
	return c
}

// put recycles c unless its timer fired (or is firing).
func (cp *acquireCtxPool) put(c *acquireCtx) {
	if !c.timer.Stop() {
		return
	}
	c.mu.Lock()
	c.parent = context.Background()
	c.mu.Unlock()
	cp.p.Put(c)
}
