package pool

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"time"
)

// The prober's waits between connects while the server is down: the first
// one, then doubled per failed probe up to the cap, ±10% jitter. The cap
// bounds how long after the server accepts again the pool learns it.
const (
	probeFirst = 10 * time.Millisecond
	probeMax   = 50 * time.Millisecond
)

// errServerDown is what the constructor returns, without dialing, while the
// pool knows the server is down (a caller then waits for the prober).
var errServerDown = errors.New("herz/pool: server down, waiting for it to accept connections")

// downGate is the pool's view of its server: up, or down since a dial
// failed, until the prober's connect succeeds. Guarded by Pool.downMu.
type downGate struct {
	up      chan struct{} // closed when the server is found back; nil while up
	lastErr error         // the dial error that marked it down
}

// downWait returns the channel closed when the server is found back and
// the dial error that marked it down, or nil while the server is up.
func (p *Pool) downWait() (<-chan struct{}, error) {
	p.downMu.Lock()
	defer p.downMu.Unlock()
	if p.down.up == nil {
		return nil, nil
	}
	return p.down.up, p.down.lastErr
}

// markDown records that a dial to the server failed with err: new
// connections wait for the prober (started here, owned by the pool, stopped
// by Close) to find the server accepting again.
func (p *Pool) markDown(err error) {
	p.downMu.Lock()
	defer p.downMu.Unlock()
	if p.down.up != nil || p.ctx.Err() != nil {
		return // already down (its prober runs), or closing
	}
	p.down = downGate{up: make(chan struct{}), lastErr: err}
	p.c.outages.Add(1)
	p.wg.Add(1) // before Close's Wait: Close cancels p.ctx under downMu
	go p.probe()
}

// markUp ends the outage: the waiters dial again.
func (p *Pool) markUp() {
	p.downMu.Lock()
	if p.down.up != nil {
		close(p.down.up)
	}
	p.down = downGate{}
	p.downMu.Unlock()
	p.refillSoon()
}

// probeTimeout bounds one probe connect.
const probeTimeout = time.Second

// probe connects to the server, backing off, until a connect succeeds (the
// connection is closed: its success is the evidence) or the pool closes.
// A probe is one plain TCP connect (Stat.Probes counts them), not a Dialer
// dial: the Dialer's retries and breaker would space the probes out and
// delay the news that the server is back.
func (p *Pool) probe() {
	defer p.wg.Done()
	wait := probeFirst
	t := time.NewTimer(jitter10(wait))
	defer t.Stop()
	nd := net.Dialer{Timeout: probeTimeout}
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-t.C:
		}
		p.c.probes.Add(1)
		c, err := nd.DialContext(p.ctx, "tcp", p.s.Addr)
		if err == nil {
			_ = c.Close()
			p.markUp()
			return
		}
		wait = min(2*wait, probeMax)
		t.Reset(jitter10(wait))
	}
}

func jitter10(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.9 + 0.2*rand.Float64()))
}

// awaitServer makes an Acquire that needs a new connection wait, within its
// ctx, until the prober finds the server back; idle conns are still tried
// first (the hand-out check tells the live ones). It returns nil when the
// caller may acquire, or the error that ends the Acquire.
func (p *Pool) awaitServer(ctx context.Context) error {
	up, lastErr := p.downWait()
	if up == nil || p.p.Stat().IdleResources() > 0 {
		return nil
	}
	if p.s.FailFast {
		return fmt.Errorf("herz/pool: %s is down, not dialing until it accepts again: %w", p.s.Addr, lastErr)
	}
	select {
	case <-up:
		return nil
	case <-p.ctx.Done():
		return ErrClosed
	case <-ctx.Done():
		p.rec.Timeout()
		return fmt.Errorf("herz/pool: acquire from %s: %w while the server was down (%w)", p.s.Addr, ctx.Err(), lastErr)
	}
}
