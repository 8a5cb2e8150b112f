//go:build linux

package sockopt

import (
	"errors"
	"fmt"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Supported reports whether probes, verification and TCP_INFO are implemented on this platform.
const Supported = true

// Prober probes one socket without allocating: the RawConn and the Control
// callback are created once, and results land in the Prober's own fields.
//
// A Prober is not safe for concurrent use; callers serialize Probe and TCPInfo
// (dialer.Conn holds a mutex around them).
type Prober struct {
	raw    syscall.RawConn
	probe  func(fd uintptr)
	info   func(fd uintptr)
	buf    [1]byte
	res    Result
	tcp    unix.TCPInfo
	tcpErr syscall.Errno
}

// NewProber returns a Prober for the socket behind raw.
func NewProber(raw syscall.RawConn) *Prober {
	p := &Prober{raw: raw}
	p.probe = p.doProbe
	p.info = p.doInfo
	return p
}

// Probe peeks at the receive queue with recvfrom(fd, 1 byte, MSG_PEEK|MSG_DONTWAIT)
// inside RawConn.Control: EAGAIN means alive and quiet, 0 means FIN, n > 0 means
// data pending, any other errno means reset or dead. A pending SO_ERROR is
// reported by the same call (tcp_recvmsg returns sock_error first), so one
// system call answers both questions. The peeked byte stays in the queue and a
// concurrent reader is not disturbed.
func (p *Prober) Probe() Result {
	p.res = Result{}
	if err := p.raw.Control(p.probe); err != nil {
		return Result{State: Unknown, Errno: errnoOf(err)}
	}
	return p.res
}

func (p *Prober) doProbe(fd uintptr) {
	n, _, e := unix.Syscall6(unix.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&p.buf[0])), 1,
		unix.MSG_PEEK|unix.MSG_DONTWAIT, 0, 0)
	switch {
	case e == unix.EAGAIN:
		p.res = Result{State: Alive}
	case e == unix.EINTR:
		p.res = Result{State: Unknown, Errno: e}
	case e != 0:
		p.res = Result{State: Reset, Errno: e}
	case n == 0:
		p.res = Result{State: PeerClosed}
	default:
		p.res = Result{State: DataPending}
	}
}

// TCPInfo fills info from getsockopt(TCP_INFO) without allocating.
func (p *Prober) TCPInfo(info *TCPInfo) error {
	p.tcpErr = 0
	if err := p.raw.Control(p.info); err != nil {
		return fmt.Errorf("herz/sockopt: TCP_INFO: %w", err)
	}
	if p.tcpErr != 0 {
		return fmt.Errorf("herz/sockopt: TCP_INFO: %w", p.tcpErr)
	}
	t := &p.tcp
	*info = TCPInfo{
		State:        t.State,
		Retransmits:  t.Retransmits,
		RTT:          time.Duration(t.Rtt) * time.Microsecond,
		RTTVar:       time.Duration(t.Rttvar) * time.Microsecond,
		Unacked:      t.Unacked,
		Lost:         t.Lost,
		TotalRetrans: t.Total_retrans,
		LastDataRecv: time.Duration(t.Last_data_recv) * time.Millisecond,
		LastAckRecv:  time.Duration(t.Last_ack_recv) * time.Millisecond,
		Probes:       t.Probes,
		Backoff:      t.Backoff,
		NotSent:      t.Notsent_bytes,
		SndWnd:       t.Snd_wnd,
	}
	return nil
}

func (p *Prober) doInfo(fd uintptr) {
	l := uint32(unsafe.Sizeof(p.tcp))
	_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, fd, unix.IPPROTO_TCP, unix.TCP_INFO,
		uintptr(unsafe.Pointer(&p.tcp)), uintptr(unsafe.Pointer(&l)), 0)
	p.tcpErr = e
}

// Verify checks a freshly connected socket: getsockopt(SO_ERROR) must be 0
// and getpeername must succeed (a connect that "succeeded" on a socket the
// peer already refused or reset fails one of the two).
func Verify(raw syscall.RawConn) error {
	var soErr int
	var gerr, perr error
	err := raw.Control(func(fd uintptr) {
		soErr, gerr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ERROR)
		if gerr == nil && soErr == 0 {
			_, perr = unix.Getpeername(int(fd))
		}
	})
	switch {
	case err != nil:
		return fmt.Errorf("herz/sockopt: verify: %w", err)
	case gerr != nil:
		return &VerifyError{Check: "so_error", Err: gerr}
	case soErr != 0:
		return &VerifyError{Check: "so_error", Err: syscall.Errno(soErr)}
	case perr != nil:
		return &VerifyError{Check: "getpeername", Err: perr}
	}
	return nil
}

// SetUserTimeout sets TCP_USER_TIMEOUT: the longest time transmitted data may
// stay unacknowledged before the kernel drops the connection with ETIMEDOUT.
// It is rounded up to whole milliseconds; zero restores the kernel default.
func SetUserTimeout(fd uintptr, d time.Duration) error {
	ms := (d + time.Millisecond - 1) / time.Millisecond
	if err := unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, int(ms)); err != nil {
		return fmt.Errorf("herz/sockopt: TCP_USER_TIMEOUT: %w", err)
	}
	return nil
}

// UserTimeout reads TCP_USER_TIMEOUT back (used by tests).
func UserTimeout(raw syscall.RawConn) (time.Duration, error) {
	var v int
	var gerr error
	if err := raw.Control(func(fd uintptr) {
		v, gerr = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT)
	}); err != nil {
		return 0, err
	}
	return time.Duration(v) * time.Millisecond, gerr
}

func errnoOf(err error) syscall.Errno {
	var e syscall.Errno
	if errors.As(err, &e) {
		return e
	}
	return 0
}
