package sockopt_test

import (
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/herz-go/herz/internal/sockopt"
)

// pair returns a connected client conn and the server side of it on loopback.
func pair(t testing.TB) (*net.TCPConn, *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c.(*net.TCPConn), s.(*net.TCPConn)
}

func prober(t testing.TB, c *net.TCPConn) *sockopt.Prober {
	raw, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	return sockopt.NewProber(raw)
}

// waitState polls the probe until it reports want (the peer's FIN or RST
// crosses loopback asynchronously) or a bounded number of tries passes.
func waitState(t *testing.T, p *sockopt.Prober, want sockopt.State) sockopt.Result {
	t.Helper()
	var r sockopt.Result
	for i := 0; i < 200; i++ {
		if r = p.Probe(); r.State == want {
			return r
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("probe = %v, want %v", r, want)
	return r
}

func TestProbeStates(t *testing.T) {
	if !sockopt.Supported {
		t.Skip("probes are Linux-only; this platform degrades to Unknown")
	}
	t.Run("alive", func(t *testing.T) {
		c, _ := pair(t)
		if r := prober(t, c).Probe(); r.State != sockopt.Alive {
			t.Fatalf("probe = %v, want alive", r)
		}
	})
	t.Run("peer closed", func(t *testing.T) {
		c, s := pair(t)
		s.Close()
		waitState(t, prober(t, c), sockopt.PeerClosed)
	})
	t.Run("reset", func(t *testing.T) {
		c, s := pair(t)
		s.SetLinger(0)
		s.Close()
		r := waitState(t, prober(t, c), sockopt.Reset)
		if r.Errno != syscall.ECONNRESET {
			t.Fatalf("errno = %v, want ECONNRESET", r.Errno)
		}
	})
	t.Run("data pending and not consumed", func(t *testing.T) {
		c, s := pair(t)
		s.Write([]byte("x"))
		waitState(t, prober(t, c), sockopt.DataPending)
		buf := make([]byte, 1)
		c.SetReadDeadline(time.Now().Add(time.Second))
		if n, err := c.Read(buf); n != 1 || buf[0] != 'x' || err != nil {
			t.Fatalf("read after probe = %d %q %v: the probe must not consume data", n, buf[:n], err)
		}
	})
}

func TestVerifyAndTCPInfo(t *testing.T) {
	if !sockopt.Supported {
		t.Skip("Linux-only")
	}
	c, _ := pair(t)
	raw, _ := c.SyscallConn()
	if err := sockopt.Verify(raw); err != nil {
		t.Fatalf("Verify on a healthy conn: %v", err)
	}
	var info sockopt.TCPInfo
	if err := prober(t, c).TCPInfo(&info); err != nil {
		t.Fatal(err)
	}
	if info.State != sockopt.TCPEstablished {
		t.Fatalf("TCP_INFO state = %d, want ESTABLISHED", info.State)
	}
	if err := raw.Control(func(fd uintptr) {
		if err := sockopt.SetUserTimeout(fd, 1500*time.Millisecond); err != nil {
			t.Error(err)
		}
	}); err != nil {
		t.Fatal(err)
	}
	if got, err := sockopt.UserTimeout(raw); err != nil || got != 1500*time.Millisecond {
		t.Fatalf("TCP_USER_TIMEOUT = %v, %v; want 1.5s", got, err)
	}
}

func TestProbeClosedConn(t *testing.T) {
	c, _ := pair(t)
	p := prober(t, c)
	c.Close()
	if r := p.Probe(); r.State != sockopt.Unknown {
		t.Fatalf("probe of a closed conn = %v, want unknown", r)
	}
}

func BenchmarkProbe(b *testing.B) {
	c, _ := pair(b)
	p := prober(b, c)
	b.ReportAllocs()
	for b.Loop() {
		if r := p.Probe(); r.State != sockopt.Alive {
			b.Fatal(r)
		}
	}
}
