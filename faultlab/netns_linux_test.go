//go:build linux

package faultlab_test

import (
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/herz-go/herz/faultlab"
	"github.com/herz-go/herz/internal/testenv"
)

// sendState returns tcpi_unacked of c (segments sent and not acknowledged)
// and its SIOCOUTQ (bytes in the send queue: unsent or unacknowledged).
func sendState(t *testing.T, c net.Conn) (unacked uint32, outq int) {
	t.Helper()
	raw, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var info *unix.TCPInfo
	var ierr, qerr error
	if err := raw.Control(func(fd uintptr) {
		info, ierr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
		outq, qerr = unix.IoctlGetInt(int(fd), unix.SIOCOUTQ)
	}); err != nil || ierr != nil || qerr != nil {
		t.Fatalf("TCP_INFO / SIOCOUTQ: %v %v %v", err, ierr, qerr)
	}
	return info.Unacked, outq
}

// connPair returns both ends of a fresh loopback TCP connection to ln.
func connPair(t *testing.T, ln net.Listener) (client, server net.Conn) {
	t.Helper()
	client = dial(t, ln.Addr().String())
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close() })
	return client, server
}

// readWithin reads into a len(want) buffer within d.
func readWithin(c net.Conn, n int, d time.Duration) (string, error) {
	_ = c.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, n)
	got, err := io.ReadFull(c, buf)
	return string(buf[:got]), err
}

func TestInNetnsRunsBodyInAFreshNamespaceWithOnlyLoopback(t *testing.T) {
	if err := faultlab.NetnsAvailable(); err != nil {
		testenv.SkipOrFail(t, "%v", err)
	}
	faultlab.InNetns(t, func(t *testing.T) {
		ifs, err := net.Interfaces()
		if err != nil {
			t.Fatal(err)
		}
		if len(ifs) != 1 || ifs[0].Name != "lo" || ifs[0].Flags&net.FlagUp == 0 {
			t.Fatalf("interfaces %+v, want only lo, up", ifs)
		}
		e := testenv.NewEchoServer(t)
		mustEcho(t, dial(t, e.Addr()), "inside")
	})
}

// -test.run splits on '/' and reads regexps: odd subtest names must still
// select exactly this subtest in the child.
func TestInNetnsFindsSubtestsWithOddNames(t *testing.T) {
	t.Run("a.b (c)|[d]", func(t *testing.T) {
		testenv.InNetns(t, func(t *testing.T) {
			if !strings.HasSuffix(t.Name(), "/a.b_(c)|[d]") {
				t.Errorf("running %q", t.Name())
			}
		})
	})
}

func TestBlackholePortDropsBothWaysWithoutFINOrRST(t *testing.T) {
	testenv.InNetns(t, func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		port := ln.Addr().(*net.TCPAddr).Port
		client, server := connPair(t, ln)
		mustWrite(t, client, "hello")
		if got, err := readWithin(server, 5, 5*time.Second); err != nil || got != "hello" {
			t.Fatalf("before the blackhole: %q %v", got, err)
		}

		must(t, faultlab.BlackholePort(port))
		mustWrite(t, client, "ping") // accepted by the local socket buffer
		if got, err := readWithin(server, 4, 300*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("server read through the blackhole: %q, %v; want a deadline error", got, err)
		}
		mustWrite(t, server, "pong")
		if got, err := readWithin(client, 4, 300*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("client read through the blackhole: %q, %v; want a deadline error (no FIN, no RST)", got, err)
		}
		if n, _ := sendState(t, client); n == 0 {
			t.Error("client TCP_INFO unacked = 0, want > 0: the peer's ACK must not arrive")
		}
		_, err = net.DialTimeout("tcp", ln.Addr().String(), 300*time.Millisecond)
		if ne, ok := errors.AsType[net.Error](err); !ok || !ne.Timeout() {
			t.Errorf("dial through the blackhole: %v, want a timeout (SYN dropped, not refused)", err)
		}

		must(t, faultlab.UnblackholePort(port))
		if got, err := readWithin(server, 4, 10*time.Second); err != nil || got != "ping" {
			t.Errorf("after healing, server got %q, %v; want the retransmitted \"ping\"", got, err)
		}
		if got, err := readWithin(client, 4, 10*time.Second); err != nil || got != "pong" {
			t.Errorf("after healing, client got %q, %v; want the retransmitted \"pong\"", got, err)
		}
	})
}

func mustWrite(t *testing.T, c net.Conn, s string) {
	t.Helper()
	_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, s); err != nil {
		t.Fatalf("write %q: %v", s, err)
	}
}

func TestConntrackExpiryDropsIdleConnsAndSparesBusyOnes(t *testing.T) {
	testenv.InNetns(t, func(t *testing.T) {
		must(t, faultlab.ConntrackExpiry(2*time.Second))
		e := testenv.NewEchoServer(t)
		idle, busy := dial(t, e.Addr()), dial(t, e.Addr())
		mustEcho(t, idle, "a")
		mustEcho(t, busy, "a")
		// 3 s: past the 2 s conntrack timeout for idle, with traffic on busy
		// every second.
		for range 3 {
			time.Sleep(time.Second)
			mustEcho(t, busy, "b")
		}
		mustWrite(t, idle, "c")
		if got, err := readWithin(idle, 1, time.Second); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("idle conn after conntrack expiry: %q, %v; want the packet dropped (deadline error)", got, err)
		}
		// Dropped on OUTPUT, so the kernel counts the byte as not sent yet
		// (tcpi_unacked stays 0): it sits in the send queue.
		if _, q := sendState(t, idle); q == 0 {
			t.Error("idle conn send queue is empty, want the dropped byte still queued")
		}
		mustEcho(t, busy, "d")
	})
}

// hostNetState is what a namespace test must leave as it found it.
func hostNetState(t *testing.T) string {
	t.Helper()
	testenv.RequireRoot(t)
	ipt := testenv.RequireCommand(t, "iptables")
	var b strings.Builder
	for _, table := range []string{"filter", "nat", "raw", "mangle"} {
		out, err := exec.Command(ipt, "-w", "5", "-t", table, "-S").CombinedOutput()
		if err != nil {
			t.Fatalf("iptables -t %s -S: %v: %s", table, err, out)
		}
		b.Write(out)
	}
	for _, f := range []string{
		"/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_established",
		"/proc/sys/net/netfilter/nf_conntrack_tcp_loose",
		"/proc/sys/net/ipv4/tcp_fin_timeout",
	} {
		v, err := os.ReadFile(f)
		if err != nil && !errors.Is(err, syscall.ENOENT) {
			t.Fatal(err)
		}
		b.WriteString(f + "=" + string(v))
	}
	return b.String()
}

func TestInNetnsLeavesTheHostUntouched(t *testing.T) {
	before := hostNetState(t)
	testenv.InNetns(t, func(t *testing.T) {
		must(t, faultlab.BlackholePort(9))
		must(t, faultlab.ConntrackExpiry(time.Second))
		must(t, faultlab.Sysctl("net.ipv4.tcp_fin_timeout", "7"))
		if v, _ := os.ReadFile("/proc/sys/net/ipv4/tcp_fin_timeout"); strings.TrimSpace(string(v)) != "7" {
			t.Errorf("tcp_fin_timeout in the namespace = %q, want 7", v)
		}
		// A process that would outlive the child if InNetns did not kill it
		// is not started on purpose: the namespace dies with the child.
	})
	if after := hostNetState(t); after != before {
		t.Errorf("host network state changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

func TestProcessesInFindsTheProcessesOfANamespace(t *testing.T) {
	self, err := faultlab.NetnsOf("self")
	if err != nil {
		t.Fatal(err)
	}
	if pids := faultlab.ProcessesIn(self); !slices.Contains(pids, os.Getpid()) {
		t.Errorf("ProcessesIn(%s) = %v, want it to contain this process %d", self, pids, os.Getpid())
	}
	if pids := faultlab.ProcessesIn("net:[0]"); len(pids) != 0 {
		t.Errorf("ProcessesIn(net:[0]) = %v, want none", pids)
	}
}
