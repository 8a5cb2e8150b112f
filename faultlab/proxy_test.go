package faultlab_test

import (
	"bufio"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/herz-go/herz/faultlab"
	"github.com/herz-go/herz/internal/testenv"
)

// dial connects to addr and closes the conn in t.Cleanup.
func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// echo writes msg and returns what came back (len(msg) bytes) within d.
func echo(c net.Conn, msg string, d time.Duration) (string, error) {
	if _, err := io.WriteString(c, msg); err != nil {
		return "", err
	}
	_ = c.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, len(msg))
	n, err := io.ReadFull(c, buf)
	return string(buf[:n]), err
}

// mustEcho fails the test unless msg comes back.
func mustEcho(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	if got, err := echo(c, msg, 5*time.Second); err != nil || got != msg {
		t.Fatalf("echo %q: got %q, %v", msg, got, err)
	}
}

// dialAndRead dials addr and reads one byte; it returns the first error of
// either step. A reset right after the handshake can surface in either: Go's
// non-blocking connect reads SO_ERROR, which the RST may already have set.
func dialAndRead(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = c.Read(make([]byte, 1))
	return err
}

func newEchoProxy(t *testing.T) (*faultlab.Proxy, *faultlab.EchoServer) {
	t.Helper()
	e := testenv.NewEchoServer(t)
	return testenv.NewProxy(t, e.Addr()), e
}

func TestProxyForwardsUntouchedWithNoFault(t *testing.T) {
	p, e := newEchoProxy(t)
	if p.Target() != e.Addr() || p.Fault() != faultlab.NoFault() {
		t.Fatalf("Target()=%s Fault()=%v", p.Target(), p.Fault())
	}
	c := dial(t, p.Addr())
	mustEcho(t, c, "hello")
	big := string(make([]byte, 256<<10))
	mustEcho(t, c, big)
	if p.Conns() != 1 || p.Accepted() != 1 || e.Accepted() != 1 {
		t.Errorf("Conns()=%d Accepted()=%d echo accepted %d, want 1 1 1", p.Conns(), p.Accepted(), e.Accepted())
	}
}

func TestProxyRefuseRefusesNewDialsAndLeavesEstablishedConns(t *testing.T) {
	p, _ := newEchoProxy(t)
	c := dial(t, p.Addr())
	mustEcho(t, c, "before")
	must(t, p.SetFault(faultlab.Refuse()))
	if _, err := net.DialTimeout("tcp", p.Addr(), time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial while refusing: %v, want ECONNREFUSED", err)
	}
	mustEcho(t, c, "during")
	must(t, p.SetFault(faultlab.NoFault()))
	mustEcho(t, dial(t, p.Addr()), "after, same port")
}

func TestProxyResetAllSendsRSTToEstablishedAndNewConns(t *testing.T) {
	p, _ := newEchoProxy(t)
	c := dial(t, p.Addr())
	mustEcho(t, c, "before")
	must(t, p.SetFault(faultlab.ResetAll()))
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("established conn: read err %v, want ECONNRESET", err)
	}
	if err := dialAndRead(p.Addr()); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("new conn: %v, want ECONNRESET", err)
	}
	must(t, p.SetFault(faultlab.NoFault()))
	mustEcho(t, dial(t, p.Addr()), "after")
}

func TestProxyBlackholeIsSilentAndHoldsBytesUntilHealed(t *testing.T) {
	p, _ := newEchoProxy(t)
	c := dial(t, p.Addr())
	mustEcho(t, c, "before")
	must(t, p.SetFault(faultlab.Blackhole()))

	// Neither data nor FIN nor RST: the read runs into its deadline.
	got, err := echo(c, "ping", 200*time.Millisecond)
	if !errors.Is(err, os.ErrDeadlineExceeded) || got != "" {
		t.Errorf("blackholed conn: got %q, %v; want nothing and a deadline error", got, err)
	}
	fresh := dial(t, p.Addr())
	if got, err := echo(fresh, "new", 200*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("conn opened during the blackhole: got %q, %v; want a deadline error", got, err)
	}

	must(t, p.SetFault(faultlab.NoFault()))
	for _, tc := range []struct {
		c    net.Conn
		want string
	}{{c, "ping"}, {fresh, "new"}} {
		_ = tc.c.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, len(tc.want))
		if _, err := io.ReadFull(tc.c, buf); err != nil || string(buf) != tc.want {
			t.Errorf("after healing: got %q, %v; want the held %q", buf, err, tc.want)
		}
	}
}

func TestProxyLatencyDelaysEachDirection(t *testing.T) {
	p, _ := newEchoProxy(t)
	c := dial(t, p.Addr())
	mustEcho(t, c, "warm")
	const d = 40 * time.Millisecond
	must(t, p.SetFault(faultlab.Latency(d)))
	start := time.Now()
	mustEcho(t, c, "slow")
	// A lower bound only: the round trip crosses the proxy twice.
	if took := time.Since(start); took < 2*d {
		t.Errorf("round trip took %v, want at least %v", took, 2*d)
	}
	if faultlab.Latency(0) != faultlab.NoFault() {
		t.Error("Latency(0) is not NoFault()")
	}
}

func TestProxyCloseAfterBytesCutsTheStreamWithFIN(t *testing.T) {
	p, _ := newEchoProxy(t)
	old := dial(t, p.Addr())
	mustEcho(t, old, "0123456789") // bytes before the fault do not count
	must(t, p.SetFault(faultlab.CloseAfterBytes(10)))
	for name, c := range map[string]net.Conn{"established": old, "new": dial(t, p.Addr())} {
		// 6 bytes up, then only 4 of the 6 echoed bytes come down.
		if _, err := io.WriteString(c, "abcdef"); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		got, err := io.ReadAll(c)
		if err != nil || string(got) != "abcd" {
			t.Errorf("%s conn: read %q, %v; want \"abcd\" then EOF", name, got, err)
		}
	}
}

func TestProxyPassesTargetFailuresOnAsResets(t *testing.T) {
	t.Run("target reset", func(t *testing.T) {
		s := testenv.NewHTTPServer(t, faultlab.HTTPOptions{ResetEvery: 1}).HTTPServer
		p := testenv.NewProxy(t, s.Addr())
		c := dial(t, p.Addr())
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := http.ReadResponse(bufio.NewReader(c), nil); !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("read through the proxy: %v, want ECONNRESET", err)
		}
	})
	t.Run("target down", func(t *testing.T) {
		e := testenv.NewEchoServer(t)
		p := testenv.NewProxy(t, e.Addr())
		must(t, e.Close())
		if err := dialAndRead(p.Addr()); !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("through the proxy: %v, want ECONNRESET", err)
		}
		if p.Conns() != 0 || p.Accepted() != 1 {
			t.Errorf("Conns()=%d Accepted()=%d, want 0 1", p.Conns(), p.Accepted())
		}
	})
}

func TestProxyCloseEndsConnsWithFINAndStopsListening(t *testing.T) {
	p, _ := newEchoProxy(t)
	c := dial(t, p.Addr())
	mustEcho(t, c, "x")
	must(t, p.Close())
	must(t, p.Close())
	must(t, p.SetFault(faultlab.Blackhole())) // no effect after Close
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("read after Close: %v, want EOF", err)
	}
	if _, err := net.DialTimeout("tcp", p.Addr(), time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial after Close: %v, want ECONNREFUSED", err)
	}
}

func TestFaultString(t *testing.T) {
	for _, tc := range []struct {
		f    faultlab.Fault
		want string
	}{
		{faultlab.Fault{}, "none"},
		{faultlab.NoFault(), "none"},
		{faultlab.Refuse(), "refuse"},
		{faultlab.ResetAll(), "reset-all"},
		{faultlab.Blackhole(), "blackhole"},
		{faultlab.Latency(50 * time.Millisecond), "latency(50ms)"},
		{faultlab.CloseAfterBytes(1024), "close-after-bytes(1024)"},
		{faultlab.CloseAfterBytes(-5), "close-after-bytes(0)"},
		{faultlab.ResetAfterBytes(10), "reset-after-bytes(10)"},
		{faultlab.ResetAfterBytes(-1), "reset-after-bytes(0)"},
		{faultlab.ResetRandom(0.25), "reset-random(0.25)"},
		{faultlab.ResetRandom(7), "reset-random(1)"},
		{faultlab.ResetRandom(0), "none"},
		{faultlab.ResetRandom(math.NaN()), "none"},
		{faultlab.AcceptAndDrop(), "accept-and-drop"},
		{faultlab.Bandwidth(1 << 16), "bandwidth(65536B/s)"},
		{faultlab.Bandwidth(-1), "none"},
		{faultlab.IdleClose(time.Second), "idle-close(1s)"},
		{faultlab.IdleClose(0), "none"},
	} {
		if got := tc.f.String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
	}
}

func TestProxyResetAfterBytesCutsTheStreamWithRST(t *testing.T) {
	p, _ := newEchoProxy(t)
	c := dial(t, p.Addr())
	mustEcho(t, c, "warm")
	must(t, p.SetFault(faultlab.ResetAfterBytes(10)))
	if _, err := io.WriteString(c, "abcdef"); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(c)
	if !errors.Is(err, syscall.ECONNRESET) || len(got) > 4 {
		t.Errorf("read %q, %v; want at most \"abcd\" then ECONNRESET", got, err)
	}
}

func TestProxyResetRandomResetsSomeConnsAndSparesOthers(t *testing.T) {
	p, _ := newEchoProxy(t)
	must(t, p.SetFault(faultlab.ResetRandom(0.5)))
	// Each conn crosses the gate twice per echo (up and down): it survives
	// with probability 1/4. 40 conns: all reset or none reset is
	// astronomically unlikely (< 1e-4).
	reset, ok := 0, 0
	for range 40 {
		c := dial(t, p.Addr())
		if got, err := echo(c, "x", 5*time.Second); err == nil && got == "x" {
			ok++
		} else {
			reset++
		}
	}
	if reset == 0 || ok == 0 {
		t.Errorf("ResetRandom(0.5): %d conns reset, %d survived; want some of each", reset, ok)
	}
}

func TestProxyAcceptAndDropDiscardsThenResetsWhatLostBytes(t *testing.T) {
	p, e := newEchoProxy(t)
	c := dial(t, p.Addr())
	mustEcho(t, c, "before")
	untouched := dial(t, p.Addr())
	mustEcho(t, untouched, "x")
	must(t, p.SetFault(faultlab.AcceptAndDrop()))
	if got, err := echo(c, "lost", 200*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("established conn: got %q, %v; want silence", got, err)
	}
	fresh := dial(t, p.Addr())
	if got, err := echo(fresh, "lost", 200*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("new conn: got %q, %v; want silence", got, err)
	}
	if e.Accepted() != 2 {
		t.Errorf("echo server accepted %d conns, want 2: a conn made during the fault never reaches it", e.Accepted())
	}
	must(t, p.SetFault(faultlab.NoFault()))
	for name, c := range map[string]net.Conn{"established": c, "new": fresh} {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("%s conn after the fault: %v, want ECONNRESET (its stream has a hole)", name, err)
		}
	}
	mustEcho(t, untouched, "still fine")
}

func TestProxyBandwidthPacesBytes(t *testing.T) {
	p, _ := newEchoProxy(t)
	c := dial(t, p.Addr())
	mustEcho(t, c, "warm")
	must(t, p.SetFault(faultlab.Bandwidth(100<<10)))
	start := time.Now()
	mustEcho(t, c, string(make([]byte, 20<<10)))                // 20 KiB each way at 100 KiB/s
	if took := time.Since(start); took < 150*time.Millisecond { // a lower bound only
		t.Errorf("20 KiB echoed at 100 KiB/s in %v, want at least 150ms", took)
	}
}

func TestProxyIdleCloseClosesIdleConnsAndSparesBusyOnes(t *testing.T) {
	p, _ := newEchoProxy(t)
	idle, busy := dial(t, p.Addr()), dial(t, p.Addr())
	mustEcho(t, idle, "a")
	mustEcho(t, busy, "a")
	const d = 60 * time.Millisecond
	must(t, p.SetFault(faultlab.IdleClose(d)))
	for range 6 { // 6 × d/3 = 2d of traffic on busy, none on idle
		time.Sleep(d / 3)
		mustEcho(t, busy, "b")
	}
	_ = idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := idle.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("idle conn: %v, want EOF", err)
	}
	mustEcho(t, busy, "still open")
	must(t, p.SetFault(faultlab.NoFault()))
	time.Sleep(2 * d)
	mustEcho(t, busy, "no idle limit any more")
}

// Faults switched at random from several goroutines while connections
// carry traffic: nothing races, nothing deadlocks, Close leaves nothing
// behind (goleak in TestMain).
func TestProxyTogglesFaultsConcurrentlyAndClosesClean(t *testing.T) {
	e := testenv.NewEchoServer(t)
	p, err := faultlab.NewProxy(e.Addr())
	if err != nil {
		t.Fatal(err)
	}
	faults := []faultlab.Fault{
		faultlab.NoFault(), faultlab.Refuse(), faultlab.ResetAll(), faultlab.ResetAfterBytes(3),
		faultlab.ResetRandom(0.1), faultlab.Blackhole(), faultlab.AcceptAndDrop(),
		faultlab.Latency(time.Millisecond), faultlab.Bandwidth(1 << 20), faultlab.CloseAfterBytes(5),
		faultlab.IdleClose(5 * time.Millisecond),
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for j := 0; ; j++ {
				select {
				case <-stop:
					return
				default:
				}
				if i == 0 {
					_ = p.SetFault(faults[j%len(faults)])
					time.Sleep(2 * time.Millisecond)
					continue
				}
				c, err := net.DialTimeout("tcp", p.Addr(), time.Second)
				if err != nil {
					continue
				}
				_, _ = echo(c, "ping", 20*time.Millisecond)
				c.Close()
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	must(t, p.Close())
	if p.Conns() != 0 {
		t.Errorf("Conns() = %d after Close, want 0", p.Conns())
	}
}

func TestNewProxyRejectsABadTarget(t *testing.T) {
	if _, err := faultlab.NewProxy("no-port"); err == nil || !strings.HasPrefix(err.Error(), "herz/faultlab: ") {
		t.Errorf("NewProxy(no-port) = %v, want a herz/faultlab error", err)
	}
}
