package dialer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

	"github.com/herz-go/herz/internal/sockopt"
)

// Adopt verifies and tracks nc, a connection to addr that the caller's own
// dial function made (a DialContext set on an http.Transport, a database
// driver's dial hook: a unix socket, an SSH tunnel, a cloud connector).
// Herz does not dial it, but follows it from here on exactly as a
// connection of [Dialer.DialContext]: it is returned in the [Dialed] state,
// and once its owner's pool lends and returns it, the lifetime, idle and
// learned-deadline rules, the evictor, the stale-write refusal, the
// watchdog, idle-close learning and [Dialer.Stats] cover it. network and
// addr are what the dial function was called with; addr is the peer's key
// (learned idle deadlines, [Conn.Peer]).
//
// When a *net.TCPConn is reachable from nc (nc itself, or under wrappers
// with a NetConn() or Unwrap() method, such as *tls.Conn), it is checked
// as DialContext checks its own connects — SO_ERROR, getpeername, and a
// connect to itself — and probed through its socket. A unix socket is
// probed through its socket without the TCP checks. Any other conn (no
// socket reachable) is tracked without checks, and its probes report
// [ProbeUnknown]: only the lifetime, idle and learned-deadline rules apply
// to it. Reads and writes always go through nc itself.
//
// A nc that already is a [*Conn] is returned as it is. On failure Adopt
// closes nc and returns an error naming what failed: a [*DialError]
// wrapping a [*VerifyError] when a check failed (as DialContext does),
// [ErrClosed] when d is closed.
func (d *Dialer) Adopt(nc net.Conn, network, addr string) (*Conn, error) {
	if nc == nil {
		return nil, fmt.Errorf("herz/dialer: adopt %s: nil connection", addr)
	}
	if c, ok := nc.(*Conn); ok {
		return c, nil
	}
	if _, ok := ConnOf(nc); ok {
		nc.Close()
		return nil, fmt.Errorf("herz/dialer: adopt %s: %T wraps a connection herz already tracks", addr, nc)
	}
	d.mu.Lock()
	closed := d.closed
	d.mu.Unlock()
	if closed {
		nc.Close()
		return nil, ErrClosed
	}
	raw, tcp := socketOf(nc)
	if tcp != nil {
		if err := d.verifyAdopted(tcp, addr); err != nil {
			nc.Close()
			return nil, err
		}
	}
	d.stats.adopted.Add(1)
	return d.track(adoptedIO(nc), raw, addr), nil
}

// verifyAdopted runs DialContext's post-connect checks on the TCP socket
// under an adopted conn.
func (d *Dialer) verifyAdopted(tcp *net.TCPConn, addr string) error {
	raw, err := tcp.SyscallConn()
	if err != nil {
		return &DialError{Addr: addr, Kind: "other", Attempts: 1, Err: fmt.Errorf("herz/dialer: adopt %s: %w", addr, err)}
	}
	var ve *VerifyError
	if err := sockopt.Verify(raw); err != nil {
		ve = &VerifyError{Addr: addr, Check: "so_error", Err: err}
		if se, ok := err.(*sockopt.VerifyError); ok {
			ve.Check, ve.Err = se.Check, se.Err
		}
	} else if selfConnect(tcp) {
		ve = &VerifyError{Addr: addr, Check: "self_connect"}
	}
	if ve == nil {
		return nil
	}
	d.stats.verifyFailures.Add(1)
	d.rec.VerifyFailure(context.Background(), addr, ve.Check)
	return &DialError{Addr: addr, Kind: kindOf(ve), Attempts: 1, Err: ve}
}

// socketOf finds the socket under nc: its RawConn for probes (noRaw when
// none is reachable) and, when it is TCP, the *net.TCPConn for the
// post-connect checks.
func socketOf(nc net.Conn) (syscall.RawConn, *net.TCPConn) {
	for range 8 {
		switch v := nc.(type) {
		case *net.TCPConn:
			if raw, err := v.SyscallConn(); err == nil {
				return raw, v
			}
			return noRaw{}, nil
		case *net.UnixConn:
			if raw, err := v.SyscallConn(); err == nil {
				return raw, nil
			}
			return noRaw{}, nil
		case interface{ NetConn() net.Conn }:
			nc = v.NetConn()
		case interface{ Unwrap() net.Conn }:
			nc = v.Unwrap()
		default:
			return noRaw{}, nil
		}
		if nc == nil {
			break
		}
	}
	return noRaw{}, nil
}

// connIO is what a [Conn] needs of the connection it wraps: *net.TCPConn
// has all of it; adoptedIO gives any other net.Conn the rest.
type connIO interface {
	net.Conn
	io.ReaderFrom
	io.WriterTo
	CloseWrite() error
	CloseRead() error
}

// adoptedIO returns nc as a connIO: nc itself when it has every method,
// else a wrapper that forwards what nc has and falls back for the rest.
func adoptedIO(nc net.Conn) connIO {
	if c, ok := nc.(connIO); ok {
		return c
	}
	return plainIO{nc}
}

// plainIO gives a net.Conn without them ReadFrom, WriteTo (plain copies)
// and half-closes (the conn's own when it has them, else an error).
type plainIO struct{ net.Conn }

// ErrNoHalfClose is returned by [Conn.CloseWrite] and [Conn.CloseRead] of
// an adopted connection that does not support half-closing.
var ErrNoHalfClose = errors.New("herz/dialer: the adopted connection does not support half-close")

func (p plainIO) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := p.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{p.Conn}, r)
}

func (p plainIO) WriteTo(w io.Writer) (int64, error) {
	if wt, ok := p.Conn.(io.WriterTo); ok {
		return wt.WriteTo(w)
	}
	return io.Copy(w, struct{ io.Reader }{p.Conn})
}

func (p plainIO) CloseWrite() error {
	if cw, ok := p.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return ErrNoHalfClose
}

func (p plainIO) CloseRead() error {
	if cr, ok := p.Conn.(interface{ CloseRead() error }); ok {
		return cr.CloseRead()
	}
	return ErrNoHalfClose
}

// errNoSocket is the error of noRaw: no socket is reachable under an
// adopted connection.
var errNoSocket = errors.New("herz/dialer: no socket reachable under the adopted connection")

// noRaw is the RawConn of an adopted connection without a reachable
// socket: every call fails, so probes report unknown and the watchdog has
// no TCP_INFO to judge by.
type noRaw struct{}

func (noRaw) Control(func(fd uintptr)) error           { return errNoSocket }
func (noRaw) Read(func(fd uintptr) (done bool)) error  { return errNoSocket }
func (noRaw) Write(func(fd uintptr) (done bool)) error { return errNoSocket }

// Park marks c, fresh from its Dialer ([Dialed]: dialed or adopted, never
// lent), idle in its owner's pool: for a pool that parks a connection it
// dialed for a request that another connection then served. From then on
// c is idle, counted and checked like any other. It returns false, changing
// nothing, when c is in any other state (lent, lent for life, idle, given
// away) or closed; unlike [Conn.Return] with the zero Lease it never ends an
// exchange of a connection lent for life.
func (c *Conn) Park() bool {
	for {
		w := c.own.Load()
		if stateBits(w) != bitsFresh || leaseOf(w) != 0 || c.closed.Load() {
			return false
		}
		c.idleFrom.Store(max(c.lastRead.Load(), c.lastWrite.Load()))
		c.idleData.Store(0)
		c.reported.Store(false)
		if c.own.CompareAndSwap(w, withBits(w, bitsIdle)) {
			c.d.idled(c)
			return true
		}
	}
}
