package dialer

import (
	"io"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/herz-go/herz/internal/sockopt"
)

// closedSentinel is stored in Conn.writers once the conn is closed or claimed
// for eviction: a Write that finds it refuses with zero bytes written.
const closedSentinel = math.MinInt32 / 2

// Conn is a verified, tracked TCP connection made by a [Dialer].
//
// It forwards to the *net.TCPConn it wraps and keeps its fast paths
// (ReadFrom for sendfile/splice, WriteTo, CloseWrite, CloseRead, SyscallConn).
// Each Read and Write costs one monotonic clock read and a few atomic
// operations on top. A Conn is safe for concurrent use like any net.Conn.
type Conn struct {
	tcp  *net.TCPConn
	raw  syscall.RawConn
	d    *Dialer
	peer string

	// Times are nanoseconds on the Dialer's monotonic clock (Dialer.now).
	created   int64
	expires   int64 // 0 = no lifetime limit
	lastRead  atomic.Int64
	lastWrite atomic.Int64

	bytesRead    atomic.Uint64
	bytesWritten atomic.Uint64
	errs         atomic.Uint32

	// writers counts Writes in progress; closedSentinel once closed or claimed.
	writers    atomic.Int32
	closed     atomic.Bool
	reported   atomic.Bool // peer close already reported to the learner
	staleCheck atomic.Bool // see Config.RefuseStaleWrites and SetStaleWriteCheck
	multiplex  atomic.Bool // see SetMultiplexed
	lastProbe  atomic.Int64

	// probeMu serializes the Prober, which is allocated on the first probe.
	probeMu sync.Mutex
	prober  *sockopt.Prober

	idx int // position in Dialer.conns; guarded by Dialer.mu
}

// Read reads from the connection. A read that fails with EOF or a reset on a
// connection with no request in flight reports the connection's idle age to
// the peer's idle-timeout learner.
func (c *Conn) Read(b []byte) (int, error) {
	n, err := c.tcp.Read(b)
	if n > 0 {
		c.lastRead.Store(c.d.now())
		c.bytesRead.Add(uint64(n))
	}
	if err != nil {
		c.readFailed(err)
	}
	return n, err
}

// Write writes to the connection. With stale-write checks on (see
// [Config.RefuseStaleWrites]), the first Write after an idle gap may refuse
// the connection instead, returning a [*StaleError] and writing nothing.
func (c *Conn) Write(b []byte) (int, error) {
	start, err := c.beginWrite()
	if err != nil {
		return 0, err
	}
	n, err := c.tcp.Write(b)
	c.wrote(start, int64(n), err)
	return n, err
}

// ReadFrom implements io.ReaderFrom so copies into the connection keep using
// sendfile/splice.
func (c *Conn) ReadFrom(r io.Reader) (int64, error) {
	start, err := c.beginWrite()
	if err != nil {
		return 0, err
	}
	n, err := c.tcp.ReadFrom(r)
	c.wrote(start, n, err)
	return n, err
}

// WriteTo implements io.WriterTo so copies out of the connection keep using splice.
func (c *Conn) WriteTo(w io.Writer) (int64, error) {
	n, err := c.tcp.WriteTo(w)
	if n > 0 {
		c.lastRead.Store(c.d.now())
		c.bytesRead.Add(uint64(n))
	}
	if err != nil {
		c.readFailed(err)
	}
	return n, err
}

// beginWrite registers a write in progress, or refuses it with nothing
// written: the conn is closed or claimed for eviction, or (stale checks on)
// it is stale. On success it returns the write's start time, one clock
// read shared with the stale check, and the caller must end with wrote.
//
// The write is stamped with its start, not its end: net/http's readLoop may
// read the response before the writing goroutine runs again, and a later
// stamp would make a finished exchange look like a request still in flight.
func (c *Conn) beginWrite() (int64, error) {
	if c.writers.Add(1) < 0 {
		c.writers.Add(-1)
		return 0, c.refusedErr()
	}
	now := c.d.now()
	if c.staleCheck.Load() {
		if err := c.checkReuse(now); err != nil {
			c.writers.Add(-1)
			return 0, err
		}
	}
	return now, nil
}

func (c *Conn) wrote(start int64, n int64, err error) {
	if n > 0 {
		c.lastWrite.Store(start)
		c.bytesWritten.Add(uint64(n))
	}
	if err != nil {
		c.errs.Add(1)
	}
	c.writers.Add(-1)
}

func (c *Conn) refusedErr() error {
	// Only a connection that carries one exchange at a time (HTTP/1) can
	// promise the refused write was the first of a request: on a multiplexed
	// one, earlier frames of the same request may already be out.
	if c.closed.Load() || c.multiplex.Load() {
		return &net.OpError{Op: "write", Net: "tcp", Source: c.tcp.LocalAddr(), Addr: c.tcp.RemoteAddr(), Err: net.ErrClosed}
	}
	return &StaleError{Reason: ReasonEvicted, Peer: c.peer}
}

// readFailed handles a failed Read: counts it, and if the peer closed a
// connection that had no request in flight, the idle age is a sample of the
// peer's idle timeout.
func (c *Conn) readFailed(err error) {
	if c.closed.Load() {
		return // we closed it: no news about the peer
	}
	c.errs.Add(1)
	if isTimeout(err) || !c.reported.CompareAndSwap(false, true) {
		return
	}
	now := c.d.now()
	lr, lw := c.lastRead.Load(), c.lastWrite.Load()
	if lw > lr || lr == c.created {
		return // a request was in flight, or no exchange ever completed
	}
	c.d.peerClosed(c, time.Duration(now-lr))
}

// checkReuse runs on every Write with stale checks on. It only does work on
// the first write after a completed exchange (last read after last write)
// and an idle gap: a continuing request body never gets here.
func (c *Conn) checkReuse(now int64) error {
	lr, lw := c.lastRead.Load(), c.lastWrite.Load()
	if lw > lr {
		return nil // mid-request: bytes already sent, never refuse now
	}
	idle := time.Duration(now - lr)
	if lr == c.created || idle <= 0 {
		return nil // first request on a fresh connection
	}
	reason := c.d.staleReason(c, now, idle)
	if reason == ReasonNone {
		return nil
	}
	// Claim the conn so no other write slips through, then close it.
	c.d.evict(c, reason, true)
	return &StaleError{Reason: reason, Peer: c.peer}
}

// Close closes the connection and stops tracking it.
func (c *Conn) Close() error {
	if !c.closed.CompareAndSwap(false, true) {
		return c.tcp.Close() // returns net.ErrClosed-wrapped error like a second TCPConn.Close
	}
	c.writers.Store(closedSentinel)
	c.d.untrack(c)
	return c.tcp.Close()
}

// CloseWrite shuts down the writing side (half-close).
func (c *Conn) CloseWrite() error { return c.tcp.CloseWrite() }

// CloseRead shuts down the reading side.
func (c *Conn) CloseRead() error { return c.tcp.CloseRead() }

// LocalAddr returns the local network address.
func (c *Conn) LocalAddr() net.Addr { return c.tcp.LocalAddr() }

// RemoteAddr returns the remote network address.
func (c *Conn) RemoteAddr() net.Addr { return c.tcp.RemoteAddr() }

// SetDeadline sets the read and write deadlines.
func (c *Conn) SetDeadline(t time.Time) error { return c.tcp.SetDeadline(t) }

// SetReadDeadline sets the read deadline.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.tcp.SetReadDeadline(t) }

// SetWriteDeadline sets the write deadline.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.tcp.SetWriteDeadline(t) }

// SyscallConn returns the raw connection, so probes of other libraries are never skipped.
func (c *Conn) SyscallConn() (syscall.RawConn, error) { return c.raw, nil }

// Unwrap returns the *net.TCPConn under c.
func (c *Conn) Unwrap() net.Conn { return c.tcp }

// Peer returns the address the connection was dialed with (host:port).
func (c *Conn) Peer() string { return c.peer }

// SetStaleWriteCheck turns the stale-write refusal of [Config.RefuseStaleWrites]
// on or off for this connection; adapters use it once they know the protocol
// (HTTP/2 multiplexes streams and has its own health pings, so transport turns
// it off there).
func (c *Conn) SetStaleWriteCheck(on bool) { c.staleCheck.Store(on) }

// SetMultiplexed marks c as carrying concurrent exchanges (HTTP/2, gRPC).
// Read and write times cannot tell idle from busy there, so herz never refuses
// its writes as stale and the evictor closes it only when a probe proves it
// dead (FIN or RST); the protocol's own pings and idle timeout do the rest.
func (c *Conn) SetMultiplexed(on bool) {
	c.multiplex.Store(on)
	if on {
		c.staleCheck.Store(false)
	}
}

// Probe reports whether the connection is still good without disturbing a
// concurrent reader or consuming data: one recvfrom(MSG_PEEK|MSG_DONTWAIT)
// inside RawConn.Control. It does not allocate after the first call.
func (c *Conn) Probe() ProbeResult {
	if c.closed.Load() {
		return ProbeResult{State: ProbeUnknown, Errno: syscall.EBADF}
	}
	c.probeMu.Lock()
	if c.prober == nil {
		c.prober = sockopt.NewProber(c.raw)
	}
	r := c.prober.Probe()
	c.probeMu.Unlock()
	c.lastProbe.Store(c.d.now())
	c.d.countProbe(c, r.State)
	return ProbeResult{State: ProbeState(r.State), Errno: r.Errno}
}

// TCPInfo returns the kernel's TCP_INFO for the connection (Linux only;
// elsewhere an error wrapping the platform's lack of support).
func (c *Conn) TCPInfo() (TCPInfo, error) {
	var info sockopt.TCPInfo
	c.probeMu.Lock()
	if c.prober == nil {
		c.prober = sockopt.NewProber(c.raw)
	}
	err := c.prober.TCPInfo(&info)
	c.probeMu.Unlock()
	return TCPInfo(info), err
}

// Info is a snapshot of a connection's activity.
type Info struct {
	Peer                         string
	Created, LastRead, LastWrite time.Time
	BytesRead, BytesWritten      uint64
	Errors                       uint32
}

// Info returns a snapshot of the connection's activity counters.
func (c *Conn) Info() Info {
	return Info{
		Peer:         c.peer,
		Created:      c.d.wall(c.created),
		LastRead:     c.d.wall(c.lastRead.Load()),
		LastWrite:    c.d.wall(c.lastWrite.Load()),
		BytesRead:    c.bytesRead.Load(),
		BytesWritten: c.bytesWritten.Load(),
		Errors:       c.errs.Load(),
	}
}

// idleSince returns when the connection last completed an exchange, and
// whether it is idle now (no write in progress, no request awaiting a reply).
func (c *Conn) idleSince() (int64, bool) {
	lr, lw := c.lastRead.Load(), c.lastWrite.Load()
	if lw > lr || c.writers.Load() != 0 {
		return 0, false
	}
	return lr, true
}

// ProbeState is the outcome of [Conn.Probe].
type ProbeState uint8

// Probe outcomes.
const (
	// ProbeUnknown: the probe could not run (closed conn or unsupported platform).
	ProbeUnknown = ProbeState(sockopt.Unknown)
	// ProbeAlive: no data and no error pending; the peer has not closed.
	ProbeAlive = ProbeState(sockopt.Alive)
	// ProbePeerClosed: the peer sent FIN.
	ProbePeerClosed = ProbeState(sockopt.PeerClosed)
	// ProbeReset: the peer reset the connection or a fatal socket error is pending.
	ProbeReset = ProbeState(sockopt.Reset)
	// ProbeDataPending: unread bytes are waiting.
	ProbeDataPending = ProbeState(sockopt.DataPending)
)

// String returns unknown, alive, peer_closed, reset or data_pending.
func (s ProbeState) String() string { return sockopt.State(s).String() }

// ProbeResult is what [Conn.Probe] found.
type ProbeResult struct {
	State ProbeState
	// Errno is the errno behind ProbeReset or ProbeUnknown, 0 otherwise.
	Errno syscall.Errno
}

// Dead reports whether the connection is proven unusable (FIN or fatal error).
func (r ProbeResult) Dead() bool { return r.State == ProbePeerClosed || r.State == ProbeReset }

// String formats r, e.g. "reset (connection reset by peer)".
func (r ProbeResult) String() string {
	return sockopt.Result{State: sockopt.State(r.State), Errno: r.Errno}.String()
}

// TCPInfo is the kernel's view of a connection (a subset of Linux tcp_info).
type TCPInfo struct {
	// State is the kernel TCP state (1 ESTABLISHED, 8 CLOSE_WAIT, ...).
	State uint8
	// Retransmits counts unrecovered RTO timeouts for the segment in flight.
	Retransmits uint8
	// RTT and RTTVar are the smoothed round-trip time and its deviation.
	RTT, RTTVar time.Duration
	// Unacked is the number of segments sent and not yet acknowledged.
	Unacked uint32
	// Lost is the number of segments believed lost.
	Lost uint32
	// TotalRetrans counts retransmitted segments over the connection's life.
	TotalRetrans uint32
	// LastDataRecv is the time since data was last received.
	LastDataRecv time.Duration
}
