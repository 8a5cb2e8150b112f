package keepalive

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// ErrDead is wrapped by the error [Heartbeat.Run] returns when the peer missed
// [HeartbeatConfig.Misses] consecutive pings. The same error also wraps the
// last ping's error.
var ErrDead = errors.New("herz/keepalive: peer declared dead")

// HeartbeatConfig configures a [Heartbeat]. The zero value is a good
// production default: a ping every 15 s ± 10 %, 5 s per ping, dead after 3
// consecutive failures, retries after a failure at 3.75 s, 7.5 s, 15 s, ...
//
// Schedule. The first ping is sent one (jittered) Interval after Run starts.
// After a successful ping the next one is sent one jittered Interval after it
// finished; pings never overlap. After the n-th consecutive failed ping the
// next one is sent after min(Backoff × 2^(n-1), MaxBackoff), jittered the
// same way: a failing peer is re-checked sooner than the regular interval
// (one lost packet is confirmed or cleared quickly) and then at a growing
// pace, so a struggling peer is not hammered. With the defaults a silent peer
// is declared dead about Interval + 3.75 s + 7.5 s + 3 × Timeout ≈ 41 s after
// its last good answer.
type HeartbeatConfig struct {
	// Interval is the time between pings while the peer answers.
	// Default 15s; zero means the default; negative is invalid.
	Interval time.Duration

	// Jitter is the fraction of each delay added or subtracted at random
	// (uniformly), so that many heartbeats started together spread out: a
	// delay d becomes a value in [d×(1-Jitter), d×(1+Jitter)).
	// Must be in [0,1); zero means the default 0.1. There is no way to turn
	// jitter off entirely; a tiny value such as 1e-9 comes close.
	Jitter float64

	// Timeout bounds each ping: the ping's context is cancelled after it,
	// and a ping that returns after it (even with a nil error) counts as
	// failed. Default min(Interval/2, 5s); zero means the default; negative
	// is invalid.
	Timeout time.Duration

	// Misses is the number of consecutive failed pings after which the peer
	// is declared dead. A successful ping resets the count.
	// Default 3; zero means the default; negative is invalid.
	Misses int

	// Backoff is the delay before the next ping after the first failed one;
	// it doubles with each further consecutive failure up to MaxBackoff.
	// Default Interval/4; zero means the default; negative is invalid.
	Backoff time.Duration

	// MaxBackoff caps the delay between pings after failures.
	// Default max(Interval, Backoff); zero means the default; negative, or
	// smaller than an explicitly set Backoff, is invalid.
	MaxBackoff time.Duration

	// OnPing, if not nil, is called after every completed ping with its
	// round-trip time and error (nil on success). It runs in Run's goroutine,
	// under no lock, and delays the next ping by its own duration. It is not
	// called for a ping interrupted because Run's context was cancelled.
	OnPing func(rtt time.Duration, err error)

	// OnDead, if not nil, is called once, just before Run returns, when the
	// peer is declared dead, with the error Run returns. It runs in Run's
	// goroutine, under no lock.
	OnDead func(err error)
}

// Defaults used by [HeartbeatConfig].
const (
	defaultHeartbeatInterval = 15 * time.Second
	defaultHeartbeatJitter   = 0.1
	defaultHeartbeatTimeout  = 5 * time.Second // upper bound; Interval/2 when smaller
	defaultHeartbeatMisses   = 3
)

// withDefaults validates c and returns a copy with every zero field set to
// its default. Errors name the field.
func (c HeartbeatConfig) withDefaults() (HeartbeatConfig, error) {
	switch {
	case c.Interval < 0:
		return c, fmt.Errorf("herz/keepalive: HeartbeatConfig.Interval must be >= 0, got %v", c.Interval)
	case !(c.Jitter >= 0 && c.Jitter < 1): // also rejects NaN
		return c, fmt.Errorf("herz/keepalive: HeartbeatConfig.Jitter must be in [0,1), got %v", c.Jitter)
	case c.Timeout < 0:
		return c, fmt.Errorf("herz/keepalive: HeartbeatConfig.Timeout must be >= 0, got %v", c.Timeout)
	case c.Misses < 0:
		return c, fmt.Errorf("herz/keepalive: HeartbeatConfig.Misses must be >= 0, got %d", c.Misses)
	case c.Backoff < 0:
		return c, fmt.Errorf("herz/keepalive: HeartbeatConfig.Backoff must be >= 0, got %v", c.Backoff)
	case c.MaxBackoff < 0:
		return c, fmt.Errorf("herz/keepalive: HeartbeatConfig.MaxBackoff must be >= 0, got %v", c.MaxBackoff)
	case c.MaxBackoff > 0 && c.Backoff > c.MaxBackoff:
		return c, fmt.Errorf("herz/keepalive: HeartbeatConfig.MaxBackoff (%v) must be >= Backoff (%v)", c.MaxBackoff, c.Backoff)
	}
	if c.Interval == 0 {
		c.Interval = defaultHeartbeatInterval
	}
	if c.Jitter == 0 {
		c.Jitter = defaultHeartbeatJitter
	}
	if c.Timeout == 0 {
		c.Timeout = max(min(c.Interval/2, defaultHeartbeatTimeout), 1)
	}
	if c.Misses == 0 {
		c.Misses = defaultHeartbeatMisses
	}
	if c.Backoff == 0 {
		c.Backoff = max(c.Interval/4, 1)
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = max(c.Interval, c.Backoff)
	}
	return c, nil
}

// delay returns the time to wait before the next ping after `failures`
// consecutive failed pings (0 after a success), jittered.
func (c *HeartbeatConfig) delay(failures int) time.Duration {
	d := c.Interval
	if failures > 0 {
		d = c.Backoff
		for i := 1; i < failures && d < c.MaxBackoff; i++ {
			if d > c.MaxBackoff/2 {
				d = c.MaxBackoff
				break
			}
			d *= 2
		}
		d = min(d, c.MaxBackoff)
	}
	return jitter(d, c.Jitter, rand.Float64())
}

// jitter spreads d uniformly over [d×(1-j), d×(1+j)) using r in [0,1).
// The result is at least 1ns and never overflows.
func jitter(d time.Duration, j, r float64) time.Duration {
	f := float64(d) * (1 + j*(2*r-1))
	switch {
	case f >= math.MaxInt64:
		return math.MaxInt64
	case f < 1:
		return 1
	}
	return time.Duration(f)
}

// Heartbeat pings a peer periodically and declares it dead after too many
// consecutive failures. Create it with [NewHeartbeat] and call [Heartbeat.Run].
//
// A Heartbeat is immutable and safe for concurrent use: each Run keeps its own
// state, so one Heartbeat may serve several connections if its ping function
// allows that.
type Heartbeat struct {
	cfg  HeartbeatConfig // frozen copy with defaults filled in
	ping func(ctx context.Context) error
}

// NewHeartbeat returns a Heartbeat that calls ping, which must honour its
// context: the context carries the per-ping timeout, and Run cannot return
// before ping does (it starts no goroutine of its own). It returns an error
// naming the field when cfg is invalid, or when ping is nil.
func NewHeartbeat(cfg HeartbeatConfig, ping func(ctx context.Context) error) (*Heartbeat, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if ping == nil {
		return nil, errors.New("herz/keepalive: NewHeartbeat: ping function is nil")
	}
	return &Heartbeat{cfg: c, ping: ping}, nil
}

// Config returns the configuration in use, with defaults filled in.
func (h *Heartbeat) Config() HeartbeatConfig { return h.cfg }

// Run pings the peer on the schedule described at [HeartbeatConfig] until ctx
// is done or the peer is declared dead. It blocks in the caller's goroutine
// and starts no goroutine that outlives it.
//
// It returns ctx.Err() when ctx is done (a ping interrupted by ctx counts
// neither as a success nor as a miss), or, after Misses consecutive failed
// pings, an error that wraps both [ErrDead] and the last ping's error.
func (h *Heartbeat) Run(ctx context.Context) error {
	timer := time.NewTimer(h.cfg.delay(0))
	defer timer.Stop()
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
		}
		rtt, err := h.pingOnce(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if h.cfg.OnPing != nil {
			h.cfg.OnPing(rtt, err)
		}
		if err == nil {
			failures = 0
		} else if failures++; failures >= h.cfg.Misses {
			dead := fmt.Errorf("%w after %d consecutive failed pings: %w", ErrDead, failures, err)
			if h.cfg.OnDead != nil {
				h.cfg.OnDead(dead)
			}
			return dead
		}
		timer.Reset(h.cfg.delay(failures))
	}
}

// pingOnce runs one ping bounded by the configured timeout and returns its
// duration and outcome. A ping that outlives the timeout is a failure even
// when it returns nil.
func (h *Heartbeat) pingOnce(ctx context.Context) (time.Duration, error) {
	pctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	defer cancel()
	start := time.Now()
	err := h.ping(pctx)
	rtt := time.Since(start)
	if errors.Is(pctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
		if err == nil {
			err = context.DeadlineExceeded
		}
		err = fmt.Errorf("herz/keepalive: ping timed out after %v: %w", h.cfg.Timeout, err)
	}
	return rtt, err
}
