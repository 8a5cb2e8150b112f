package dialer

import (
	"context"
	"net"
	"time"
)

// Ownership says who may act on a tracked [Conn] (see "Ownership" on Conn).
type Ownership uint8

// Ownership states.
const (
	// GivenAway: handed over for good ([Conn.GiveAway]: a 101 upgrade, a
	// hijack). herz never closes, refuses or evicts the connection, and no
	// pool can take it back ([Conn.Lend] fails).
	GivenAway Ownership = iota
	// Idle: unused in its owner's pool. The evictor, the lifetime and idle
	// rules, and idle-close learning act on it.
	Idle
	// Lent: handed out by its pool (a request, a query, a checked-out conn,
	// an HTTP/2 or gRPC transport). herz never closes or refuses it.
	Lent
	// Dialed: fresh from [Dialer.DialContext], not yet taken by a pool.
	// herz never closes, refuses or evicts it (a caller that pools nothing
	// keeps it in this state). A pool lends it ([Conn.Lend]) or parks it
	// idle unused ([Conn.Return] with the zero Lease).
	Dialed
)

// String returns given_away, idle, lent or dialed.
func (o Ownership) String() string {
	switch o {
	case Idle:
		return "idle"
	case Lent:
		return "lent"
	case Dialed:
		return "dialed"
	}
	return "given_away"
}

// Lease identifies one hand-out of a connection: [Conn.Return] takes the
// Lease that the matching Lend returned, so a late return of an earlier
// hand-out can never mark a connection idle while it is lent again.
type Lease uint64

// The ownership word Conn.own holds the state bits below in its low
// genShift bits and the lease generation above them.
const (
	bitsGiven       uint64 = 0
	bitsIdle        uint64 = 1
	bitsLent        uint64 = 2
	bitsLentArmed   uint64 = 3 // lent; the first write checks for staleness
	bitsLentForLife uint64 = 4 // lent until closed (multiplexed)
	bitsClaimed     uint64 = 5 // herz closed it while it was idle
	bitsFresh       uint64 = 6 // fresh from DialContext, no pool has it yet
	genShift               = 3
	bitsMask        uint64 = 1<<genShift - 1
)

func stateBits(w uint64) uint64       { return w & bitsMask }
func withBits(w, bits uint64) uint64  { return w&^bitsMask | bits }
func nextLease(w, bits uint64) uint64 { return (w>>genShift+1)<<genShift | bits }
func leaseOf(w uint64) Lease          { return Lease(w >> genShift) }
func stateOf(w uint64) Ownership {
	switch stateBits(w) {
	case bitsGiven:
		return GivenAway
	case bitsIdle, bitsClaimed:
		return Idle
	case bitsFresh:
		return Dialed
	}
	return Lent
}

// Ownership returns the connection's current state.
func (c *Conn) Ownership() Ownership { return stateOf(c.own.Load()) }

// Lend marks c as handed out by the pool that owns it; herz no longer
// touches it. It returns the Lease to give back to [Conn.Return], and false
// when herz already closed c because it was idle and stale (or the owner
// closed it), or c was given away for good ([Conn.GiveAway]): the pool must
// drop it and take another.
func (c *Conn) Lend() (Lease, bool) { return c.lend(false) }

// LendRefusingStale is [Conn.Lend] for pools that cannot check a
// connection before handing it out (net/http's): if c was idle, its first
// Write checks it — lifetime, the peer's learned idle deadline, the idle
// limit, data that arrived while idle, and past [Config.ReuseProbeIdle] a
// probe — and, when it is stale, closes it and fails with a [*StaleError]
// wrapping [ErrStale] having written nothing, so the owner can safely send
// the same bytes on a fresh connection. Later writes are never refused.
//
// Use it only when a refused first write is re-sent: for net/http, requests
// without a body or with GetBody.
func (c *Conn) LendRefusingStale() (Lease, bool) { return c.lend(true) }

func (c *Conn) lend(arm bool) (Lease, bool) {
	for {
		w := c.own.Load()
		b := stateBits(w)
		switch {
		case b == bitsClaimed || b == bitsGiven || c.closed.Load():
			return 0, false
		case b == bitsLentForLife:
			c.exchanges.Add(1)
			return leaseOf(w), true
		}
		nb := bitsLent
		if arm && b == bitsIdle {
			nb = bitsLentArmed
		}
		if nw := nextLease(w, nb); c.own.CompareAndSwap(w, nw) {
			return leaseOf(nw), true
		}
	}
}

// Return marks c idle in its owner's pool again, ending the hand-out l. Its
// idle age counts from its last read or write. It returns false, changing
// nothing, when l is not the current hand-out (c was lent again since, given
// away or closed).
//
// A pool that parks a connection it dialed without lending it first (net/http
// dials for a request that another connection then served) returns it with
// the zero Lease: from then on it is idle, counted and checked like any other.
func (c *Conn) Return(l Lease) bool {
	for {
		w := c.own.Load()
		if stateBits(w) == bitsLentForLife {
			return c.exchangeDone()
		}
		if b := stateBits(w); leaseOf(w) != l || (b != bitsLent && b != bitsLentArmed && b != bitsFresh) || c.closed.Load() {
			return false
		}
		c.idleFrom.Store(c.idleStart())
		c.idleData.Store(0)
		c.reported.Store(false)
		if c.own.CompareAndSwap(w, withBits(w, bitsIdle)) {
			c.d.idled(c)
			return true
		}
	}
}

// LendForLife marks c as lent until it is closed: for a connection that
// multiplexes exchanges (HTTP/2, gRPC), whose owner reads it all the time
// and has its own health checks. herz never refuses its writes or closes it
// for age, idleness or a probe; the owner drains it at [Conn.Expired].
//
// The owner may still report each exchange (stream) on it with Lend and
// Return: then, when the peer closes c while no exchange is in flight (an
// HTTP/2 server's idle timeout), the time since the last one ended is an
// idle-timeout sample for the peer's learner.
func (c *Conn) LendForLife() { c.setBits(bitsLentForLife) }

// LentForLife reports whether c was lent for life ([Conn.LendForLife]).
func (c *Conn) LentForLife() bool { return stateBits(c.own.Load()) == bitsLentForLife }

// exchangeDone ends one exchange on a conn lent for life; the last one
// starts an idle period.
func (c *Conn) exchangeDone() bool {
	for {
		n := c.exchanges.Load()
		if n <= 0 {
			return false
		}
		if n == 1 {
			c.idleFrom.Store(max(c.lastRead.Load(), c.lastWrite.Load()))
			c.idleData.Store(0)
		}
		if c.exchanges.CompareAndSwap(n, n-1) {
			return true
		}
	}
}

// GiveAway hands c over for good (a 101 upgrade, a hijacked or raw
// connection): herz never closes, refuses or evicts it again.
func (c *Conn) GiveAway() { c.setBits(bitsGiven) }

func (c *Conn) setBits(bits uint64) {
	for {
		w := c.own.Load()
		if stateBits(w) == bitsClaimed || c.own.CompareAndSwap(w, withBits(w, bits)) {
			return
		}
	}
}

// CheckIdle tells a pool whether the idle connection c may be handed out:
// [ReasonNone] when it may, otherwise why not — past its lifetime, unsolicited
// data arrived while idle, idle past the peer's learned idle deadline or the
// idle limit, or, when idle longer than [Config.ReuseProbeIdle], a probe
// found FIN, RST or pending data. It does not close c (use [Conn.CloseFor])
// and returns ReasonNone for connections that are not idle, and
// [ReasonEvicted] for ones herz or the owner already closed.
func (c *Conn) CheckIdle() Reason {
	w := c.own.Load()
	switch {
	case stateBits(w) == bitsClaimed || c.closed.Load():
		return ReasonEvicted
	case stateBits(w) != bitsIdle:
		return ReasonNone
	}
	now := c.d.now()
	return c.d.staleReason(c, now, time.Duration(now-c.idleFrom.Load()), true)
}

// CloseFor closes c on herz's or its owner's decision, counting an eviction
// for reason r in [Dialer.Stats] and the metrics. A write racing with it is
// refused with a [*StaleError], nothing written.
func (c *Conn) CloseFor(r Reason) error {
	if !c.d.closeFor(c, r) {
		return &net.OpError{Op: "close", Net: "tcp", Source: c.tcp.LocalAddr(), Addr: c.tcp.RemoteAddr(), Err: net.ErrClosed}
	}
	return nil
}

// Expired reports whether c is past its (jittered) [Config.MaxLifetime]. An
// owner of a multiplexed connection drains it then: no new exchanges, close
// after the last one.
func (c *Conn) Expired() bool { return c.expires != 0 && c.d.now() >= c.expires }

// IdleTime returns how long c has been idle in its pool, counted from its
// last read or write; 0 when it is not idle.
func (c *Conn) IdleTime() time.Duration {
	if stateBits(c.own.Load()) != bitsIdle {
		return 0
	}
	return time.Duration(c.d.now() - c.idleFrom.Load())
}

// ConnOf returns the tracked connection under nc: nc itself, or the
// connection under a *tls.Conn or any wrapper with a NetConn() or Unwrap()
// method returning a net.Conn (looked through up to 8 levels).
func ConnOf(nc net.Conn) (*Conn, bool) {
	for range 8 {
		switch v := nc.(type) {
		case *Conn:
			return v, true
		case interface{ NetConn() net.Conn }:
			nc = v.NetConn()
		case interface{ Unwrap() net.Conn }:
			nc = v.Unwrap()
		default:
			return nil, false
		}
		if nc == nil {
			return nil, false
		}
	}
	return nil, false
}

// closeFor closes c for reason, whatever its state, and counts the
// eviction. It returns false when c was already closed.
func (d *Dialer) closeFor(c *Conn, reason Reason) bool {
	c.setBits(bitsClaimed)
	if !c.closed.CompareAndSwap(false, true) {
		return false
	}
	d.untrack(c)
	c.tcp.Close()
	d.stats.evictions[reason].Add(1)
	d.rec.Eviction(context.Background(), c.peer, reason.String())
	return true
}

// claimIdle closes c for reason if it is still idle exactly as in w (same
// hand-out): a Lend racing with it either wins, or fails and the owner's
// first write is refused with nothing written.
func (d *Dialer) claimIdle(c *Conn, w uint64, reason Reason) bool {
	if stateBits(w) != bitsIdle || !c.own.CompareAndSwap(w, withBits(w, bitsClaimed)) {
		return false
	}
	return d.closeFor(c, reason)
}
