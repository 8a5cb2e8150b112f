package dialer

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/herz-go/herz/adaptive"
	"github.com/herz-go/herz/breaker"
	"github.com/herz-go/herz/internal/retry"
	"github.com/herz-go/herz/internal/sockopt"
	"github.com/herz-go/herz/internal/telemetry"
)

// Dialer makes verified, tracked connections. It is safe for concurrent use.
// Close stops its evictor; connections it made stay usable until closed.
type Dialer struct {
	cfg      Config // frozen copy with defaults
	epoch    time.Time
	profile  *adaptive.Source
	learner  *adaptive.Learner
	breakers *breaker.Registry // nil when disabled
	rec      *telemetry.Recorder
	policy   retry.Policy
	unreg    func() error
	health   peerTable

	// mu guards conns, byPeer, closed and the evictor's scheduling state.
	mu        sync.Mutex
	conns     []*Conn
	byPeer    map[string][]*Conn // the same conns by peer, for their siblings (massClose)
	closed    bool
	ev        evictor
	wd        watchdog
	explorers map[string]explorer // per peer, the idle conn kept past the learned deadline to re-test it

	exploreMin time.Duration // tests: re-test this often instead of exploreEvery's rule

	stats counters
}

// New returns a Dialer for cfg. Invalid fields give an error naming the field.
func New(cfg Config) (*Dialer, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	d := &Dialer{cfg: cfg, epoch: time.Now(), explorers: make(map[string]explorer), byPeer: make(map[string][]*Conn)}
	d.policy = retry.Policy{Initial: cfg.DialBackoff, Max: cfg.DialBackoffMax, Multiplier: 2, Jitter: 0.5}.WithDefaults()
	if d.profile = cfg.Profile; d.profile == nil {
		// A kernel that cannot be read is not fatal: the Source falls back to
		// documented defaults and keeps the problem in Err().
		if d.profile, err = adaptive.NewSource(adaptive.SourceConfig{}); err != nil {
			return nil, fmt.Errorf("herz/dialer: adaptive profile: %w", err)
		}
	}
	if d.learner = cfg.Learner; d.learner == nil {
		if d.learner, err = adaptive.NewLearner(adaptive.LearnerConfig{}); err != nil {
			return nil, fmt.Errorf("herz/dialer: learner: %w", err)
		}
	}
	if d.rec, err = telemetry.New(cfg.MeterProvider); err != nil {
		return nil, fmt.Errorf("herz/dialer: telemetry: %w", err)
	}
	if !cfg.DisableBreaker {
		bc := cfg.Breaker
		user := bc.OnStateChange
		bc.OnStateChange = func(key string, from, to breaker.State) {
			d.rec.BreakerTransition(context.Background(), "dialer", key, from.String(), to.String())
			if user != nil {
				user(key, from, to)
			}
		}
		if d.breakers, err = breaker.New(bc); err != nil {
			return nil, fmt.Errorf("herz/dialer: Config.Breaker: %w", err)
		}
	}
	d.health.init()
	d.unreg, err = d.rec.ObserveConns(d.observeConns)
	if err != nil {
		return nil, fmt.Errorf("herz/dialer: telemetry: %w", err)
	}
	return d, nil
}

// Must is like [New] but panics on an invalid Config; for package-level defaults.
func Must(cfg Config) *Dialer {
	d, err := New(cfg)
	if err != nil {
		panic(err)
	}
	return d
}

// Close stops the evictor and unregisters metrics callbacks. Connections
// already made keep working; closing them is their owners' job. Dials after
// Close fail with [ErrClosed].
func (d *Dialer) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	d.mu.Unlock()
	d.stopEvictor()
	d.stopWatchdog()
	if d.unreg != nil {
		return d.unreg()
	}
	return nil
}

// Learner returns the idle-timeout learner the Dialer reports to, so adapters
// can add hints (Keep-Alive headers, wait_timeout) for the same peers.
func (d *Dialer) Learner() *adaptive.Learner { return d.learner }

// Profile returns the current kernel-derived profile. It never reads the
// kernel itself: the Dialer's background ticks (watchdog, evictor) refresh
// it when it is older than the Source's Refresh period, so no file is read
// on a request's path.
func (d *Dialer) Profile() adaptive.Profile { return d.profile.Cached() }

// Breakers returns the per-address dial breakers (nil when disabled).
func (d *Dialer) Breakers() *breaker.Registry { return d.breakers }

// DialContext connects to addr on network "tcp", "tcp4" or "tcp6", verifies
// the connection and returns it as a tracked [*Conn]. Other networks (unix)
// are dialed untracked with the same timeout.
//
// Config.Timeout and ctx's deadline, whichever ends first, bound the whole
// call, retries and backoff included.
//
// Errors have the plain library's shape where herz decided nothing: a connect
// that was refused, timed out, found no route or failed name resolution
// returns exactly what net.Dialer returned for the last attempt (a
// *net.OpError with Op "dial", wrapping a *net.DNSError for name
// resolution), so callers and net/http see what they would without herz.
// herz's own decisions keep herz's types: a verification failure is a
// [*DialError] wrapping a [*VerifyError], an open breaker a [*DialError]
// wrapping [breaker.ErrOpen], a closed Dialer [ErrClosed].
// [FailedConnect] tells all of them from errors of an established conn.
func (d *Dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		nd := net.Dialer{Timeout: d.cfg.Timeout, Resolver: d.cfg.Resolver}
		return nd.DialContext(ctx, network, addr)
	}
	d.mu.Lock()
	closed := d.closed
	d.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	var ticket breaker.Ticket // zero: no breaker; Done is then a no-op
	if d.breakers != nil {
		var err error
		if ticket, err = d.breakers.AllowTicket(addr); err != nil {
			d.stats.breakerRejects.Add(1)
			return nil, &DialError{Addr: addr, Kind: "breaker_open", Err: err}
		}
	}
	start := time.Now()
	c, attempts, err := d.dial(ctx, network, addr)
	ticket.Done(breakerEvidence(err))
	d.health.observe(addr, time.Since(start), err == nil)
	if err != nil {
		if _, plain := err.(*net.OpError); plain {
			return nil, err // net.Dialer's own error, untouched
		}
		return nil, &DialError{Addr: addr, Kind: kindOf(err), Attempts: attempts, Err: err}
	}
	return c, nil
}

// breakerEvidence is what a dial's outcome tells the address's breaker. A
// refused connect is no evidence either way: the peer's kernel answered in
// microseconds (nothing listens yet, a restart), so failing fast saves no
// one any time and an open breaker would only hide the server's return; the
// next successful connect is the evidence of recovery. The caller giving up
// (context.Canceled) says nothing about the peer either. Timeouts,
// unreachable hosts and verification failures count.
func breakerEvidence(err error) error {
	if err != nil && (errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, context.Canceled)) {
		return notEvidence{err}
	}
	return err
}

// notEvidence wraps a dial error the breaker must not count.
type notEvidence struct{ error }

// BreakerOutcome tells the breaker's classifier to ignore the error.
func (notEvidence) BreakerOutcome() breaker.Outcome { return breaker.Ignore }

func (e notEvidence) Unwrap() error { return e.error }

// Dial is DialContext with context.Background().
func (d *Dialer) Dial(network, addr string) (net.Conn, error) {
	return d.DialContext(context.Background(), network, addr)
}

// dial makes up to 1+DialRetries connect attempts within one deadline:
// Config.Timeout from now, or ctx's when sooner. The backoff between
// attempts never outlasts it.
func (d *Dialer) dial(ctx context.Context, network, addr string) (*Conn, int, error) {
	if dl, ok := ctx.Deadline(); !ok || time.Until(dl) > d.cfg.Timeout {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.cfg.Timeout)
		defer cancel()
	}
	nd := d.netDialer(addr)
	bo := d.policy.Backoff() // allocates only when a retry happens
	for attempt := 1; ; attempt++ {
		start := time.Now()
		c, err := d.dialOnce(ctx, &nd, network, addr)
		d.stats.dials.Add(1)
		d.rec.Dial(ctx, addr, time.Since(start), kindOf(err))
		if err == nil {
			return c, attempt, nil
		}
		d.stats.dialErrors.Add(1)
		if attempt > d.cfg.DialRetries || !retryable(err) {
			return nil, attempt, err
		}
		// Sleep returns at once, without sleeping, when the deadline is closer
		// than the backoff: the last attempt's error is the one to report.
		if retry.Sleep(ctx, bo.Next()) != nil {
			return nil, attempt, err
		}
		d.stats.dialRetries.Add(1)
	}
}

// netDialer builds the net.Dialer for one DialContext call from the current
// profile. Its Timeout is zero: dial's context carries the deadline. The
// connect itself (SYN retransmissions) is bounded by TCP_USER_TIMEOUT at the
// dead-path bound, or at suspectConnect when the watchdog found the path
// to addr dead moments ago; dialOnce clears it once connected, so that the
// watchdog, not the kernel, judges the established conn.
func (d *Dialer) netDialer(addr string) net.Dialer {
	p := d.profile.Cached()
	nd := net.Dialer{LocalAddr: d.cfg.LocalAddr, Resolver: d.cfg.Resolver}
	if d.cfg.DisableKeepalive {
		nd.KeepAlive = -1
	} else {
		nd.KeepAliveConfig = d.cfg.Keepalive.WithDefaults(p.Keepalive).KeepAliveConfig()
	}
	ut := d.deadBound()
	if ut > 0 && d.suspect(addr) {
		ut = min(ut, suspectConnect)
	}
	user := d.cfg.Control
	nd.Control = func(network, address string, c syscall.RawConn) error {
		if ut > 0 {
			var serr error
			if err := c.Control(func(fd uintptr) { serr = sockopt.SetUserTimeout(fd, ut) }); err != nil {
				return err
			}
			if serr != nil {
				return serr
			}
		}
		if user != nil {
			return user(network, address, c)
		}
		return nil
	}
	return nd
}

func (d *Dialer) dialOnce(ctx context.Context, nd *net.Dialer, network, addr string) (*Conn, error) {
	nc, err := nd.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	tcp, ok := nc.(*net.TCPConn)
	if !ok {
		nc.Close()
		return nil, fmt.Errorf("herz/dialer: dial %s returned %T, not *net.TCPConn", addr, nc)
	}
	raw, err := tcp.SyscallConn()
	if err != nil {
		tcp.Close()
		return nil, err
	}
	if d.deadBound() > 0 {
		// The connect is done: the watchdog judges the conn from here on
		// (a kernel TCP_USER_TIMEOUT would also cut a live peer that keeps
		// its receive window closed, answering every probe).
		var serr error
		if err := raw.Control(func(fd uintptr) { serr = sockopt.SetUserTimeout(fd, 0) }); err == nil && serr != nil {
			tcp.Close()
			return nil, serr
		}
	}
	if err := sockopt.Verify(raw); err != nil {
		tcp.Close()
		ve := &VerifyError{Addr: addr, Check: "so_error", Err: err}
		if se, ok := err.(*sockopt.VerifyError); ok {
			ve.Check, ve.Err = se.Check, se.Err
		}
		d.stats.verifyFailures.Add(1)
		d.rec.VerifyFailure(ctx, addr, ve.Check)
		return nil, ve
	}
	if selfConnect(tcp) {
		// A connect to a local port with no listener can be answered by the
		// socket itself when the kernel picks the same port as the source
		// (TCP simultaneous open): "connected", to nobody.
		tcp.Close()
		d.stats.verifyFailures.Add(1)
		d.rec.VerifyFailure(ctx, addr, "self_connect")
		return nil, &VerifyError{Addr: addr, Check: "self_connect"}
	}
	return d.track(tcp, raw, addr), nil
}

func selfConnect(c *net.TCPConn) bool {
	l, ok1 := c.LocalAddr().(*net.TCPAddr)
	r, ok2 := c.RemoteAddr().(*net.TCPAddr)
	return ok1 && ok2 && l.Port == r.Port && l.IP.Equal(r.IP)
}

func (d *Dialer) track(tcp connIO, raw syscall.RawConn, addr string) *Conn {
	now := d.now()
	c := &Conn{tcp: tcp, raw: raw, d: d, peer: addr, created: now}
	c.own.Store(bitsFresh)
	c.lastRead.Store(now)
	c.lastWrite.Store(now)
	c.idleFrom.Store(now)
	if lt := d.cfg.MaxLifetime; lt > 0 {
		// Each conn loses up to LifetimeJitter of its lifetime at random, so a
		// pool dialed in one burst does not expire in one burst.
		cut := time.Duration(rand.Float64() * d.cfg.LifetimeJitter * float64(lt))
		c.expires = now + int64(lt-cut)
	}
	d.mu.Lock()
	c.idx = len(d.conns)
	d.conns = append(d.conns, c)
	c.pidx = len(d.byPeer[addr])
	d.byPeer[addr] = append(d.byPeer[addr], c)
	d.ensureWatchdogLocked()
	d.mu.Unlock()
	return c
}

// maxExplored bounds the peers whose last exploration is remembered.
const maxExplored = 4096

// idled is called when c was returned idle: the evictor must look at it
// before the peer's learned idle deadline (or its lifetime) passes.
func (d *Dialer) idled(c *Conn) {
	if d.cfg.DisableEvictor {
		return
	}
	soon := maxSweep
	if dl, ok := d.learner.IdleDeadline(c.peer); ok {
		soon = dl
	}
	if c.expires != 0 {
		soon = min(soon, time.Duration(c.expires-d.now()))
	}
	d.ensureEvictor(soon)
}

// untrack stops tracking the closed c and reports its close to
// Config.OnClose, after the lock is released.
func (d *Dialer) untrack(c *Conn) {
	d.untrackLocked(c)
	if f := d.cfg.OnClose; f != nil {
		f(c.peer, time.Duration(d.now()-c.created))
	}
}

func (d *Dialer) untrackLocked(c *Conn) {
	d.mu.Lock()
	if i := c.idx; i >= 0 && i < len(d.conns) && d.conns[i] == c {
		last := len(d.conns) - 1
		d.conns[i] = d.conns[last]
		d.conns[i].idx = i
		d.conns[last] = nil
		d.conns = d.conns[:last]
		c.idx = -1
		d.untrackPeerLocked(c)
	}
	if ex, ok := d.explorers[c.peer]; ok && ex.conn == c {
		if len(d.explorers) > maxExplored {
			delete(d.explorers, c.peer) // bounded: forget, explore sooner
		} else {
			ex.conn = nil // keep when it started: explore again only later
			d.explorers[c.peer] = ex
		}
	}
	d.mu.Unlock()
}

// untrackPeerLocked removes c from its peer's list (d.mu held); a peer
// with no conn left leaves the map, which stays bounded by the open conns.
func (d *Dialer) untrackPeerLocked(c *Conn) {
	list := d.byPeer[c.peer]
	i := c.pidx
	if i < 0 || i >= len(list) || list[i] != c {
		return
	}
	last := len(list) - 1
	list[i] = list[last]
	list[i].pidx = i
	list[last] = nil
	c.pidx = -1
	if last == 0 {
		delete(d.byPeer, c.peer)
		return
	}
	d.byPeer[c.peer] = list[:last]
}

// now reads the Dialer's monotonic clock in nanoseconds.
func (d *Dialer) now() int64 { return int64(time.Since(d.epoch)) }

func (d *Dialer) wall(ns int64) time.Time { return d.epoch.Add(time.Duration(ns)) }

// idleLimit is the configured idle timeout, or the profile's, or 0 for none.
func (d *Dialer) idleLimit() time.Duration {
	switch t := d.cfg.IdleTimeout; {
	case t > 0:
		return t
	case t < 0:
		return 0
	}
	return d.profile.Cached().IdleTimeout
}

// staleReason decides whether an idle connection must not be handed out
// again: past its lifetime, unsolicited data arrived while it was idle, idle
// past the peer's learned idle deadline or the idle limit, or (probe set,
// idle past ReuseProbeIdle) found dead or with data pending by a probe.
func (d *Dialer) staleReason(c *Conn, now int64, idle time.Duration, probe bool) Reason {
	if c.expires != 0 && now >= c.expires {
		return ReasonLifetime
	}
	if c.idleData.Load() != 0 {
		return ReasonProbeData
	}
	if dl, ok := d.learner.IdleDeadline(c.peer); ok && idle >= dl {
		d.survived(c, idle)
		return ReasonLearnedIdle
	}
	if lim := d.idleLimit(); lim > 0 && idle >= lim {
		return ReasonIdle
	}
	if p := d.cfg.ReuseProbeIdle; probe && p > 0 && idle >= p {
		return probeReason(c.Probe().State)
	}
	return ReasonNone
}

// surviveAge is the idle age at which a conn still open disagrees with the
// peer's learned idle timeout est: past adaptive.SameTimeout's tolerance
// (25 %, at least 5 ms), where a close would have been a sample of another
// timeout. A deadline requests keep hitting is re-tested by them: each
// conn refused past surviveAge is probed, and two found alive in a row
// make the learner drop the estimate (Learner.Survived), so a wrong
// deadline costs a few dials. The explorer (see explore) lives until then.
func surviveAge(est time.Duration) time.Duration {
	return est + max(est/4, 5*time.Millisecond) + time.Millisecond
}

// survived checks an idle conn that outlived the peer's learned idle
// deadline: if it is idle well past the learned timeout itself and a probe
// finds it alive, the peer does not close at that timeout (the estimate came
// from a restart or a peer that changed), and the learner is told. The conn
// itself is refused all the same: a peer that is only slow to close (a
// loaded server whose idle timer fired but whose close has not run yet)
// also looks alive here, and a request sent on it now would meet that
// close. Re-testing costs a dial, never a request.
func (d *Dialer) survived(c *Conn, idle time.Duration) {
	est, ok := d.learner.Estimate(c.peer)
	if !ok || idle < surviveAge(est) || c.Probe().State != ProbeAlive {
		return
	}
	d.learner.Survived(c.peer, idle)
}

func (d *Dialer) peerClosed(c *Conn, at int64, ago int64, idle time.Duration) {
	d.stats.peerCloses.Add(1)
	if d.massClose(c, at, idle) {
		// The closes of the same moment whose evidence is gone by the time
		// they are reported (their conns already closed) are dropped too.
		d.learner.ObserveDiscarded(c.peer, time.Duration(ago))
		return
	}
	// The learner tells hang-ups and the mass closes no sibling showed
	// from idle timeouts.
	d.learner.ObserveClosed(c.peer, idle, time.Duration(ago))
}

// Mass closes, told by the peer's other idle conns at the moment one close
// is reported (the kernel holds the evidence even when their readers have
// not run yet):
//
// FINs arriving within the learner's BurstWindow of each other were sent
// together: the same window the learner uses for the closes reported to it,
// so one rule decides, whether the evidence is in the kernel (siblings'
// FINs) or in the reports.
const (
	// maxSiblings bounds the conns probed per reported close: a peer
	// closing thousands of idle conns one by one must not cost a probe of
	// every other one each time. One disagreeing sibling is enough.
	maxSiblings = 16
)

// massClose reports whether the peer's close of c, idle for idle when its
// FIN arrived at at, is not an idle-timeout sample, judged from the peer's
// other idle conns:
//
//   - one whose FIN arrived within the learner's BurstWindow of c's at an idle age that
//     disagrees with c's: the peer closed its idle conns together (a
//     restart, a shutdown, a CLIENT KILL), at whatever age each had. None
//     of those closes is reported to the learner;
//   - one idle clearly longer than c (not adaptive.SameTimeout) and still open:
//     the peer does not close conns at c's idle age.
//
// It looks at the first maxSiblings of them it finds.
func (d *Dialer) massClose(c *Conn, at int64, idle time.Duration) bool {
	var buf [maxSiblings]*Conn
	sibs := buf[:0]
	d.mu.Lock()
	for _, s := range d.byPeer[c.peer] {
		if s != c && stateBits(s.own.Load()) == bitsIdle {
			if sibs = append(sibs, s); len(sibs) == maxSiblings {
				break
			}
		}
	}
	d.mu.Unlock()
	mass, contradicted := false, false
	window := d.learner.Config().BurstWindow // negative: burst detection off
	var together []*Conn
	for _, s := range sibs {
		from := s.idleFrom.Load()
		switch s.Probe().State {
		case ProbeAlive:
			if age := time.Duration(at - from); age > idle && !adaptive.SameTimeout(idle, age) {
				contradicted = true
			}
		case ProbePeerClosed:
			sat := s.finAt(d.now())
			if gap := time.Duration(sat - at); window <= 0 || max(gap, -gap) > window {
				continue // closed at another time: its own sample
			}
			together = append(together, s)
			if !adaptive.SameTimeout(idle, time.Duration(sat-from)) {
				mass = true
			}
		}
	}
	if mass {
		for _, s := range together {
			if s.reported.CompareAndSwap(false, true) {
				d.stats.peerCloses.Add(1) // counted now, never reported to the learner
			}
		}
	}
	return mass || contradicted
}

func (d *Dialer) countProbe(c *Conn, s sockopt.State) {
	if int(s) < len(d.stats.probes) {
		d.stats.probes[s].Add(1)
	}
	d.rec.Probe(context.Background(), c.peer, s.String())
}

// snapshot copies the tracked connections into buf (reused by the caller).
func (d *Dialer) snapshot(buf []*Conn) []*Conn {
	d.mu.Lock()
	buf = append(buf[:0], d.conns...)
	d.mu.Unlock()
	return buf
}

// Observe feeds one request outcome for peer into its health (EWMA success
// ratio and latency); adapters call it per request or query.
func (d *Dialer) Observe(peer string, latency time.Duration, err error) {
	d.health.observe(peer, latency, err == nil)
}

// PeerHealth returns the health of peer, if anything was observed for it.
func (d *Dialer) PeerHealth(peer string) (PeerHealth, bool) { return d.health.get(peer) }
