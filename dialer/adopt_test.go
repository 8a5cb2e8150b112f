//go:build linux

// The adoption checks (SO_ERROR, getpeername, TCP_INFO) are Linux-only; other
// platforms track adopted conns without them.

package dialer_test

import (
	"context"
	"errors"
	"io"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/herz-go/herz/dialer"
)

// unixServer is a raw unix-socket server whose accepted conns are handed to
// the test.
func unixServer(t *testing.T) (string, chan net.Conn) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "s.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	conns := make(chan net.Conn, 16)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns <- c
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
		close(conns)
		for c := range conns {
			c.Close()
		}
	})
	return path, conns
}

func acceptFrom(t *testing.T, conns chan net.Conn) net.Conn {
	t.Helper()
	select {
	case c := <-conns:
		t.Cleanup(func() { c.Close() })
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("no connection accepted within 5s")
		return nil
	}
}

// idleAfterUse lends c for one echoed exchange and returns it idle, as a pool does.
func idleAfterUse(t *testing.T, c *dialer.Conn, srv net.Conn) {
	t.Helper()
	l, ok := c.Lend()
	if !ok {
		t.Fatal("Lend of a fresh adopted conn failed")
	}
	if _, err := io.WriteString(c, "ping"); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(srv, buf); err != nil {
		t.Fatal(err)
	}
	srv.Write(buf)
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatal(err)
	}
	if !c.Return(l) {
		t.Fatal("Return failed")
	}
}

// TestAdoptFollowsUserConns: a conn the user's own dial function made (TCP
// and unix) is tracked as a dialed one — Dialed state, counted, idle after
// Return — and when the server closes it while idle, herz refuses its reuse
// with nothing written, where the plain conn, in the same test with the same
// server, accepts the write into the closed peer (TCP) or fails it with an
// error that does not say whether anything was sent (unix).
func TestAdoptFollowsUserConns(t *testing.T) {
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			t.Parallel()
			var addr string
			var conns chan net.Conn
			if network == "tcp" {
				s := newServer(t)
				addr, conns = s.addr(), make(chan net.Conn, 2)
				go func() {
					for range 2 {
						if c, ok := <-s.conns; ok {
							conns <- c
						}
					}
				}()
			} else {
				addr, conns = unixServer(t)
			}
			d := newDialer(t, dialer.Config{DisableEvictor: true})
			var nd net.Dialer
			userDial := func() net.Conn {
				nc, err := nd.DialContext(context.Background(), network, addr)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { nc.Close() })
				return nc
			}

			plain := userDial()
			plainSrv := acceptFrom(t, conns)
			nc := userDial()
			srv := acceptFrom(t, conns)
			c, err := d.Adopt(nc, network, addr)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Ownership(); got != dialer.Dialed {
				t.Fatalf("adopted conn is %v, want dialed", got)
			}
			if st := d.Stats(); st.Open != 1 || st.Adopted != 1 || st.Dials != 0 {
				t.Fatalf("stats after Adopt: %+v, want Open 1, Adopted 1, Dials 0", st)
			}
			if c.Unwrap() != nc || c.Peer() != addr {
				t.Fatalf("Unwrap/Peer = %v/%q, want the user's conn and %q", c.Unwrap(), c.Peer(), addr)
			}
			idleAfterUse(t, c, srv)
			if st := d.Stats(); st.Idle != 1 {
				t.Fatalf("stats after Return: %+v, want Idle 1", st)
			}

			// The server closes both idle conns.
			srv.Close()
			plainSrv.Close()
			eventually(t, 5*time.Second, "the probe to see the close", func() bool { return c.Probe().Dead() })
			var r dialer.Reason
			eventually(t, 5*time.Second, "idle past ReuseProbeIdle", func() bool { r = c.CheckIdle(); return r != dialer.ReasonNone })
			if r != dialer.ReasonProbeEOF && r != dialer.ReasonProbeRST {
				t.Fatalf("CheckIdle of a conn the server closed = %v, want probe_eof", r)
			}
			if _, ok := c.LendRefusingStale(); !ok {
				t.Fatal("LendRefusingStale failed")
			}
			n, err := c.Write([]byte("GET / HTTP/1.1\r\n\r\n"))
			if n != 0 || !errors.Is(err, dialer.ErrStale) {
				t.Fatalf("herz: reuse of the closed idle conn wrote %d bytes, err %v; want 0 and ErrStale", n, err)
			}
			pn, perr := plain.Write([]byte("GET / HTTP/1.1\r\n\r\n"))
			t.Logf("plain %s conn: wrote %d bytes, err %v", network, pn, perr)
			if errors.Is(perr, dialer.ErrStale) {
				t.Fatal("the plain conn cannot return herz's error")
			}
			if network == "tcp" && (pn == 0 || perr != nil) {
				t.Fatalf("plain TCP write into the closed peer: %d, %v; expected it to look successful", pn, perr)
			}
			if st := d.Stats(); st.Open != 0 || st.Evictions["probe_eof"]+st.Evictions["probe_rst"] != 1 {
				t.Fatalf("stats after the refusal: %+v, want Open 0 and one probe eviction", st)
			}
		})
	}
}

// TestAdoptVerifies: Adopt checks a TCP conn as DialContext checks its own
// connects. A connect to itself (TCP simultaneous open on a port nothing
// listens on) and a conn the peer reset before it was adopted are refused,
// closed, with an error naming the check; net.Dialer hands out both.
func TestAdoptVerifies(t *testing.T) {
	d := newDialer(t, dialer.Config{DisableEvictor: true})

	t.Run("self_connect", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close() // a free port
		la, _ := net.ResolveTCPAddr("tcp", addr)
		nd := net.Dialer{LocalAddr: la}
		nc, err := nd.Dial("tcp", addr)
		if err != nil {
			t.Skipf("self-connect not reproducible here: %v", err)
		}
		defer nc.Close()
		// Plain: a "working" connection to nobody.
		if _, err := nc.Write([]byte("x")); err != nil {
			t.Fatalf("plain self-connected conn: %v", err)
		}
		_, err = d.Adopt(nc, "tcp", addr)
		var de *dialer.DialError
		var ve *dialer.VerifyError
		if !errors.As(err, &de) || !errors.As(err, &ve) || ve.Check != "self_connect" || de.Kind != "self_connect" {
			t.Fatalf("Adopt of a self-connected conn: %v, want DialError/VerifyError self_connect", err)
		}
		if !dialer.FailedConnect(err) {
			t.Fatalf("FailedConnect(%v) = false", err)
		}
		if _, err := nc.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("write on the refused conn: %v, want net.ErrClosed (Adopt closes it)", err)
		}
	})

	t.Run("reset", func(t *testing.T) {
		s := newServer(t)
		nc, err := net.Dial("tcp", s.addr())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		srv := s.accept(t)
		srv.SetLinger(0)
		srv.Close() // RST
		raw, _ := nc.(*net.TCPConn).SyscallConn()
		eventually(t, 5*time.Second, "the RST to arrive", func() bool {
			var st uint8
			raw.Control(func(fd uintptr) {
				if ti, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO); err == nil {
					st = ti.State
				}
			})
			return st == 7 // TCP_CLOSE
		})
		before := d.Stats().VerifyFailures
		_, err = d.Adopt(nc, "tcp", s.addr())
		var ve *dialer.VerifyError
		if !errors.As(err, &ve) || (ve.Check != "so_error" && ve.Check != "getpeername") {
			t.Fatalf("Adopt of a reset conn: %v, want a VerifyError (so_error or getpeername)", err)
		}
		if got := d.Stats().VerifyFailures - before; got != 1 {
			t.Fatalf("VerifyFailures grew by %d, want 1", got)
		}
		if d.Tracked() != 0 {
			t.Fatalf("a refused conn is tracked")
		}
	})
}

// TestAdoptWithoutSocket: a conn with no socket under it (an in-memory
// pipe, as an SSH channel) is tracked honestly: I/O passes through, probes
// report unknown, SyscallConn fails, half-close is refused with
// ErrNoHalfClose, and the lifetime rule still applies.
func TestAdoptWithoutSocket(t *testing.T) {
	d := newDialer(t, dialer.Config{DisableEvictor: true, MaxLifetime: time.Millisecond})
	a, b := net.Pipe()
	defer b.Close()
	c, err := d.Adopt(a, "ssh", "db:5432")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go func() {
		buf := make([]byte, 4)
		if _, err := io.ReadFull(b, buf); err == nil {
			b.Write(buf)
		}
	}()
	l, _ := c.Lend()
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("read %q, %v", buf, err)
	}
	c.Return(l)
	if r := c.Probe(); r.State != dialer.ProbeUnknown {
		t.Fatalf("probe = %v, want unknown", r)
	}
	if _, err := c.SyscallConn(); err == nil {
		t.Fatal("SyscallConn of a conn without a socket returned no error")
	}
	if _, err := c.TCPInfo(); err == nil {
		t.Fatal("TCPInfo of a conn without a socket returned no error")
	}
	if err := c.CloseWrite(); !errors.Is(err, dialer.ErrNoHalfClose) {
		t.Fatalf("CloseWrite = %v, want ErrNoHalfClose", err)
	}
	eventually(t, 5*time.Second, "the lifetime to pass", func() bool { return c.Expired() })
	if r := c.CheckIdle(); r != dialer.ReasonLifetime {
		t.Fatalf("CheckIdle = %v, want lifetime", r)
	}
}

// TestAdoptEdges: a *Conn is returned as it is (never tracked twice), a
// wrapper of one is refused, a closed Dialer refuses with ErrClosed and
// closes the conn, and Park moves only a fresh conn to idle.
func TestAdoptEdges(t *testing.T) {
	s := newServer(t)
	d := newDialer(t, dialer.Config{DisableEvictor: true})
	c := dial(t, d, s.addr())
	if got, err := d.Adopt(c, "tcp", s.addr()); err != nil || got != c {
		t.Fatalf("Adopt(*Conn) = %v, %v; want the same conn", got, err)
	}
	if d.Tracked() != 1 {
		t.Fatalf("tracked %d conns, want 1", d.Tracked())
	}
	if !c.Park() || c.Ownership() != dialer.Idle {
		t.Fatalf("Park of a fresh conn: now %v, want idle", c.Ownership())
	}
	if c.Park() {
		t.Fatal("Park of an idle conn succeeded")
	}
	c.LendForLife()
	if c.Park() || !c.LentForLife() {
		t.Fatal("Park changed a conn lent for life")
	}
	if _, err := d.Adopt(wrapper{c}, "tcp", s.addr()); err == nil {
		t.Fatal("Adopt of a wrapper of a tracked conn succeeded")
	}

	nc, err := net.Dial("tcp", s.addr())
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	if _, err := d.Adopt(nc, "tcp", s.addr()); !errors.Is(err, dialer.ErrClosed) {
		t.Fatalf("Adopt after Close = %v, want ErrClosed", err)
	}
	if _, err := nc.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("conn refused by a closed Dialer still open: %v", err)
	}
	if _, err := d.Adopt(nil, "tcp", s.addr()); err == nil {
		t.Fatal("Adopt(nil) succeeded")
	}
}

type wrapper struct{ net.Conn }

func (w wrapper) NetConn() net.Conn { return w.Conn }
