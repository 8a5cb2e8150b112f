package sockopt

import (
	"errors"
	"fmt"
	"syscall"
	"time"
)

// ErrUnsupported is returned where the platform lacks a socket feature.
var ErrUnsupported = errors.New("herz/sockopt: not supported on this platform")

// State is the outcome of a liveness probe.
type State uint8

// Probe states, from the answer of one non-blocking MSG_PEEK recvfrom(2).
const (
	// Unknown means the probe could not run (closed conn, platform without support).
	Unknown State = iota
	// Alive means no data and no error are pending: the peer is quiet and has not closed.
	Alive
	// PeerClosed means the peer sent FIN (recvfrom returned 0).
	PeerClosed
	// Reset means the peer reset the connection (ECONNRESET, EPIPE) or another
	// fatal socket error is pending (ETIMEDOUT from keepalive or TCP_USER_TIMEOUT, EHOSTUNREACH...).
	Reset
	// DataPending means unread bytes wait in the receive queue.
	DataPending
)

var stateNames = [...]string{"unknown", "alive", "peer_closed", "reset", "data_pending"}

// String returns the metric-friendly name of s: unknown, alive, peer_closed, reset or data_pending.
func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// Result is what one probe found. It is a small value: returning it never allocates.
type Result struct {
	State State
	// Errno is the error recvfrom reported, when State is Reset or Unknown (0 otherwise).
	Errno syscall.Errno
}

// Dead reports whether the result proves the connection unusable (FIN or a fatal error).
func (r Result) Dead() bool { return r.State == PeerClosed || r.State == Reset }

// String formats r as "reset (connection reset by peer)" or "alive".
func (r Result) String() string {
	if r.Errno != 0 {
		return r.State.String() + " (" + r.Errno.Error() + ")"
	}
	return r.State.String()
}

// TCPInfo is the subset of Linux's struct tcp_info herz uses to score connections.
type TCPInfo struct {
	// State is the kernel TCP state (1 ESTABLISHED, 8 CLOSE_WAIT, ...; see tcp_states.h).
	State uint8
	// Retransmits is the number of unrecovered RTO timeouts for the segment in flight.
	Retransmits uint8
	// RTT and RTTVar are the smoothed round-trip time and its mean deviation.
	RTT, RTTVar time.Duration
	// Unacked is the number of segments sent and not yet acknowledged.
	Unacked uint32
	// Lost is the number of segments the kernel believes lost.
	Lost uint32
	// TotalRetrans is the number of retransmitted segments over the connection's life.
	TotalRetrans uint32
	// LastDataRecv is the time since the last data was received.
	LastDataRecv time.Duration
	// LastAckRecv is the time since the last ACK was received. On a
	// connection that was idle, a FIN (which carries an ACK) is the last
	// one: in CLOSE_WAIT it dates the peer's close, in steps of a jiffy.
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

// TCP states as reported in [TCPInfo.State].
const (
	TCPEstablished = 1
	TCPCloseWait   = 8
)
