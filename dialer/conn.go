package dialer

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/herz-go/herz/internal/sockopt"
)

// Conn is a verified, tracked TCP connection made by a [Dialer], or a
// connection the caller's own dial function made and [Dialer.Adopt] took in.
//
// It forwards to the *net.TCPConn (or adopted conn) it wraps and keeps its fast paths
// (ReadFrom for sendfile/splice, WriteTo, CloseWrite, CloseRead, SyscallConn).
// Each Read and Write costs one monotonic clock read and a few atomic
// operations on top. A Conn is safe for concurrent use like any net.Conn.
//
// # Ownership
//
// A Conn is always in one of four [Ownership] states, set explicitly by the
// adapter that pools it — herz never infers idleness from read and write
// times:
//
//   - [Dialed], the state [Dialer.DialContext] returns it in: herz never
//     closes, refuses or evicts it (a raw conn) until a pool takes it;
//   - [GivenAway], handed over for good ([Conn.GiveAway]: an upgraded or
//     hijacked conn): herz never closes, refuses or evicts it, and no pool
//     lends it again;
//   - [Idle], in its owner's pool and unused ([Conn.Return]): the evictor, the
//     lifetime and idle rules and idle-close learning act on it;
//   - [Lent], handed out by its pool ([Conn.Lend], [Conn.LendRefusingStale],
//     [Conn.LendForLife]): a request, a query, a checked-out conn or an HTTP/2
//     or gRPC transport has it, and herz never touches it.
type Conn struct {
	tcp  connIO // a *net.TCPConn, or the conn of Dialer.Adopt
	raw  syscall.RawConn
	d    *Dialer
	peer string

	// Times are nanoseconds on the Dialer's monotonic clock (Dialer.now).
	created   int64
	expires   int64 // 0 = no lifetime limit
	lastRead  atomic.Int64
	lastWrite atomic.Int64
	idleFrom  atomic.Int64 // last I/O before the conn was returned idle
	idleData  atomic.Int64 // when data arrived while idle (a TLS close_notify, a 408), 0 = none
	writeAt   atomic.Int64 // when the latest Write or ReadFrom began (watchdog)
	wdOK      atomic.Int64 // the writeAt the watchdog found fully acknowledged
	dead      atomic.Bool  // the watchdog found the path dead: I/O fails with ETIMEDOUT

	bytesRead    atomic.Uint64
	bytesWritten atomic.Uint64
	errs         atomic.Uint32

	// own is the ownership word: the state in the low bits, the lease
	// generation above them (see own.go).
	own       atomic.Uint64
	exchanges atomic.Int32 // in flight on a conn lent for life, as reported by Lend and Return
	closed    atomic.Bool
	reported  atomic.Bool // peer close already reported to the learner
	lastProbe atomic.Int64

	// probeMu serializes the Prober, which is allocated on the first probe.
	probeMu sync.Mutex
	prober  *sockopt.Prober

	idx  int // position in Dialer.conns; guarded by Dialer.mu
	pidx int // position in Dialer.byPeer[peer]; guarded by Dialer.mu
}

// Read reads from the connection. A read that ends in EOF or a reset while
// the connection is idle in its pool tells the peer's idle-timeout learner
// how long it was idle.
func (c *Conn) Read(b []byte) (int, error) {
	n, err := c.tcp.Read(b)
	if n > 0 {
		c.readData(n)
	}
	if err != nil {
		if c.dead.Load() {
			err = c.timedOut("read", "read")
		}
		c.readFailed(err)
	}
	return n, err
}

// Write writes to the connection. On a connection handed out with
// [Conn.LendRefusingStale], the first Write may refuse the connection instead,
// returning a [*StaleError] and writing nothing.
func (c *Conn) Write(b []byte) (int, error) {
	start, err := c.beginWrite()
	if err != nil {
		return 0, err
	}
	n, err := c.tcp.Write(b)
	if err != nil && c.dead.Load() {
		err = c.timedOut("write", "write")
	}
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
	if err != nil && c.dead.Load() {
		err = c.timedOut("readfrom", "write")
	}
	c.wrote(start, n, err)
	return n, err
}

// WriteTo implements io.WriterTo so copies out of the connection keep using splice.
func (c *Conn) WriteTo(w io.Writer) (int64, error) {
	n, err := c.tcp.WriteTo(w)
	if n > 0 {
		c.readData(int(n))
	}
	if err != nil {
		if c.dead.Load() {
			err = c.timedOut("writeto", "read")
		}
		c.readFailed(err)
	}
	return n, err
}

func (c *Conn) readData(n int) {
	now := c.d.now()
	c.lastRead.Store(now)
	c.bytesRead.Add(uint64(n))
	switch w := c.own.Load(); {
	case stateOf(w) == Idle:
		// Nobody asked for these bytes: the peer is closing (a TLS
		// close_notify, an HTTP 408) or misbehaving. Remember when, so that
		// the close that follows is an idle-timeout sample of that age.
		c.idleData.CompareAndSwap(0, now)
	case stateBits(w) == bitsLentForLife && c.exchanges.Load() == 0 && c.idleFrom.Load() != c.created &&
		now-c.lastWrite.Load() > int64(unsolicitedAfter):
		// A multiplexed conn with no exchange in flight got bytes that do
		// not answer anything we wrote (not a PING ACK): the peer's
		// GOAWAY at its idle timeout, in the common case.
		c.idleData.CompareAndSwap(0, now)
	}
}

// unsolicitedAfter: bytes arriving this long after our last write on an
// idle multiplexed conn do not answer it.
const unsolicitedAfter = 50 * time.Millisecond

// beginWrite returns the write's start time (one clock read), or refuses
// the write with nothing written: the conn was claimed by herz while idle,
// or it was handed out with the stale check armed and this first write
// finds it stale.
func (c *Conn) beginWrite() (int64, error) {
	now := c.d.now()
	switch w := c.own.Load(); stateBits(w) {
	case bitsLentArmed:
		if err := c.checkFirstWrite(w, now); err != nil {
			return 0, err
		}
	case bitsClaimed:
		return 0, c.refusedErr()
	}
	c.writeAt.Store(now)
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
}

// refusedErr is the error of a write on a conn herz claimed while it was
// idle: the owner handed it out as herz closed it, so this write is the
// first of an exchange and nothing of it was written.
func (c *Conn) refusedErr() error {
	return &StaleError{Reason: ReasonEvicted, Peer: c.peer}
}

// checkFirstWrite runs on the first write after [Conn.LendRefusingStale]:
// it disarms the check (later writes of the exchange are never refused)
// and refuses the conn, closing it, when it is stale.
func (c *Conn) checkFirstWrite(w uint64, now int64) error {
	if !c.own.CompareAndSwap(w, withBits(w, bitsLent)) {
		// Another writer disarmed it first (or the owner changed the
		// state): that writer did the check.
		if stateBits(c.own.Load()) == bitsClaimed {
			return c.refusedErr()
		}
		return nil
	}
	idle := time.Duration(now - c.idleFrom.Load())
	reason := c.d.staleReason(c, now, idle, true)
	if reason == ReasonNone {
		return nil
	}
	c.d.closeFor(c, reason)
	return &StaleError{Reason: reason, Peer: c.peer}
}

// readFailed counts a failed Read and, if the peer closed a connection that
// was idle in its pool, reports the idle age to the peer's learner.
func (c *Conn) readFailed(err error) {
	if c.closed.Load() {
		return // we closed it: no news about the peer
	}
	c.errs.Add(1)
	if isTimeout(err) {
		return
	}
	switch w := c.own.Load(); {
	case stateBits(w) == bitsLentForLife && c.exchanges.Load() == 0 && c.idleFrom.Load() != c.created:
		// A multiplexed conn whose owner reported its exchanges, closed by
		// the peer while none was in flight.
	case stateOf(w) != Idle:
		return
	}
	now := c.d.now()
	if at := c.idleData.Load(); at != 0 {
		now = at
	}
	c.reportPeerClose(now)
}

// reportPeerClose reports, once, that the peer closed the idle conn,
// noticed at now (see finAt for when it happened).
func (c *Conn) reportPeerClose(now int64) {
	if !c.reported.CompareAndSwap(false, true) {
		return
	}
	at := c.finAt(now)
	c.d.peerClosed(c, at, now-at, time.Duration(at-c.idleFrom.Load()))
}

// idleStart returns when c's idle period began: its last read or write.
// The last read is dated when the reader ran, which on a loaded machine
// can be many milliseconds after the response reached the kernel; the peer's
// idle timer started when it sent that response. For a peer with a learned
// idle deadline, where the difference decides between a reuse the peer
// accepts and one it closes under the request, the kernel's own clock is
// asked too (TCP_INFO: time since data was last received, in jiffies) and
// the earlier of the two arrival times counts. Both the first-write check
// and the idle-close samples measure from this start, so the learned
// timeout and the ages compared against it carry the same dating.
func (c *Conn) idleStart() int64 {
	read, write := c.lastRead.Load(), c.lastWrite.Load()
	if read <= write {
		return write
	}
	if _, ok := c.d.learner.IdleDeadline(c.peer); !ok {
		return read
	}
	ti, err := c.TCPInfo()
	if err != nil || ti.State != tcpEstablished {
		return read
	}
	if at := c.d.now() - int64(ti.LastDataRecv); at < read {
		return max(at, write, c.created)
	}
	return read
}

// finAt returns when the peer's FIN reached c, as the kernel dated it (the
// last ACK received on a conn in CLOSE_WAIT), if that is before now: a
// reader starved on a loaded machine may notice the close tens of
// milliseconds late, and the idle age must not grow by that. Otherwise
// (a reset, no TCP_INFO) it returns now.
func (c *Conn) finAt(now int64) int64 {
	ti, err := c.TCPInfo()
	if err != nil || ti.State != sockopt.TCPCloseWait {
		return now
	}
	if at := now - int64(ti.LastAckRecv); at < now && at > c.idleFrom.Load() {
		return at
	}
	return now
}

// Close closes the connection and stops tracking it. When the owner closes
// an idle connection right after unsolicited data arrived on it (how
// crypto/tls ends a connection the server closed with close_notify), that
// counts as the peer's idle close.
func (c *Conn) Close() error {
	if !c.closed.CompareAndSwap(false, true) {
		return c.tcp.Close() // returns net.ErrClosed-wrapped error like a second TCPConn.Close
	}
	switch w := c.own.Load(); {
	case stateOf(w) == Idle:
		if at := c.idleData.Load(); at != 0 {
			c.reportPeerClose(at)
		}
	case stateBits(w) == bitsLentForLife && c.exchanges.Load() == 0:
		// A multiplexed conn with no exchange in flight, closed by its
		// owner after the peer spoke unasked (an HTTP/2 GOAWAY at the
		// server's idle timeout): the peer closed it then.
		if at := c.idleData.Load(); at != 0 {
			c.reportPeerClose(at)
		}
	}
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

// SetDeadline sets the read and write deadlines. On a connection whose
// path the Dialer found dead (see [Config.UserTimeout]) it changes nothing:
// every Read and Write fails at once with ETIMEDOUT.
func (c *Conn) SetDeadline(t time.Time) error {
	if c.dead.Load() {
		return nil
	}
	return c.tcp.SetDeadline(t)
}

// SetReadDeadline sets the read deadline (see [Conn.SetDeadline]).
func (c *Conn) SetReadDeadline(t time.Time) error {
	if c.dead.Load() {
		return nil
	}
	return c.tcp.SetReadDeadline(t)
}

// SetWriteDeadline sets the write deadline (see [Conn.SetDeadline]).
func (c *Conn) SetWriteDeadline(t time.Time) error {
	if c.dead.Load() {
		return nil
	}
	return c.tcp.SetWriteDeadline(t)
}

// SyscallConn returns the raw connection, so probes of other libraries are never skipped.
func (c *Conn) SyscallConn() (syscall.RawConn, error) {
	if _, none := c.raw.(noRaw); none {
		return nil, errNoSocket // an adopted conn without a socket
	}
	return c.raw, nil
}

// Unwrap returns the *net.TCPConn under c (for an adopted conn, the conn
// given to [Dialer.Adopt]).
func (c *Conn) Unwrap() net.Conn {
	if p, ok := c.tcp.(plainIO); ok {
		return p.Conn
	}
	return c.tcp
}

// Peer returns the address the connection was dialed with (host:port).
func (c *Conn) Peer() string { return c.peer }

// Probe reports whether the connection is still good without disturbing a
// concurrent reader or consuming data: one recvfrom(MSG_PEEK|MSG_DONTWAIT)
// inside RawConn.Control. It does not allocate after the first call. A
// probe never closes anything: what to do with the result is the owner's
// call (herz itself acts on probes of idle connections only).
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

// Info is a snapshot of a connection's activity, from [Conn.Info].
type Info struct {
	// Peer is the address the connection was dialed with (host:port).
	Peer string
	// Ownership is the connection's state when the snapshot was taken.
	Ownership Ownership
	// Created is when the connection was verified and started being tracked.
	Created time.Time
	// LastRead and LastWrite are when data was last read and when the last
	// write that wrote data started; both equal Created until then.
	LastRead, LastWrite time.Time
	// BytesRead and BytesWritten count the payload bytes moved so far.
	BytesRead, BytesWritten uint64
	// Errors counts failed reads and writes (read timeouts excluded).
	Errors uint32
}

// Info returns a snapshot of the connection's activity counters.
func (c *Conn) Info() Info {
	return Info{
		Peer:         c.peer,
		Ownership:    stateOf(c.own.Load()),
		Created:      c.d.wall(c.created),
		LastRead:     c.d.wall(c.lastRead.Load()),
		LastWrite:    c.d.wall(c.lastWrite.Load()),
		BytesRead:    c.bytesRead.Load(),
		BytesWritten: c.bytesWritten.Load(),
		Errors:       c.errs.Load(),
	}
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
	// State is the outcome: alive, peer closed (FIN), reset, data pending or unknown.
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
	// LastAckRecv is the time since an ACK was last received (on an idle
	// connection the peer closed, since its FIN arrived).
	LastAckRecv time.Duration
	// Probes is the number of unanswered zero-window or keepalive probes.
	Probes uint8
	// Backoff is the retransmission timer's current exponential backoff.
	Backoff uint8
	// NotSent is the number of bytes queued and not yet sent (waiting for
	// the peer's window or the congestion window).
	NotSent uint32
	// SndWnd is the peer's advertised receive window in bytes (0 on
	// kernels older than 5.4, which do not report it).
	SndWnd uint32
}
