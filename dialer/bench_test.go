//go:build linux

package dialer_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/herz-go/herz/dialer"
)

// BenchmarkProbe measures Conn.Probe on an idle healthy conn (target: ≤ 1µs, 0 allocs).
func BenchmarkProbe(b *testing.B) {
	srv := newServer(b)
	d := newDialer(b, dialer.Config{DisableEvictor: true})
	c := dial(b, d, srv.addr())
	srv.accept(b)
	c.Probe() // the first probe allocates the Prober
	b.ReportAllocs()
	for b.Loop() {
		if r := c.Probe(); r.State != dialer.ProbeAlive {
			b.Fatal(r)
		}
	}
}

// echoServer answers every read with the same bytes, on every conn.
func echoServer(b *testing.B) string {
	srv := newServer(b)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case c, ok := <-srv.conns:
				if !ok {
					return
				}
				wg.Add(1)
				go echo(c, 0, &wg)
			case <-stop:
				return
			}
		}
	}()
	b.Cleanup(func() { close(stop); srv.ln.Close(); wg.Wait() })
	return srv.addr()
}

// BenchmarkReadWriteRatio interleaves 1 KiB echo round trips over a raw
// *net.TCPConn and over a herz *dialer.Conn to the same server, and reports
// herz's throughput as a fraction of raw's (target ≥ 0.97) with the
// per-round-trip times of both.
func BenchmarkReadWriteRatio(b *testing.B) {
	addr := echoServer(b)
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Close()
	d := newDialer(b, dialer.Config{DisableEvictor: true})
	hz := dial(b, d, addr)
	msg := make([]byte, 1024)
	buf := make([]byte, 1024)
	roundTrip := func(c net.Conn) time.Duration {
		start := time.Now()
		if _, err := c.Write(msg); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	var tRaw, tHerz time.Duration
	b.ReportAllocs()
	b.SetBytes(2 * 1024)
	for i := 0; b.Loop(); i++ {
		if i%2 == 0 {
			tRaw += roundTrip(raw)
			tHerz += roundTrip(hz)
		} else {
			tHerz += roundTrip(hz)
			tRaw += roundTrip(raw)
		}
	}
	b.ReportMetric(float64(tRaw)/float64(tHerz), "herz/raw-throughput")
	b.ReportMetric(float64(tRaw.Nanoseconds())/float64(b.N), "raw-ns/rt")
	b.ReportMetric(float64(tHerz.Nanoseconds())/float64(b.N), "herz-ns/rt")
}

// raiseFDLimit lifts RLIMIT_NOFILE for benchmarks that hold many conns.
func raiseFDLimit(b *testing.B, n uint64) {
	var lim syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	if lim.Cur >= n {
		return
	}
	lim.Cur, lim.Max = max(n, lim.Cur), max(n, lim.Max)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		b.Skipf("cannot raise RLIMIT_NOFILE to %d (needs root): %v", n, err)
	}
}

// openConns dials n conns to a server that holds them open.
func openConns(b *testing.B, n int, dialFn func(addr string) (net.Conn, error)) ([]net.Conn, func()) {
	srv := newServer(b)
	conns := make([]net.Conn, 0, n)
	held := make([]net.Conn, 0, n)
	for i := 0; i < n; i++ {
		c, err := dialFn(srv.addr())
		if err != nil {
			b.Fatal(err)
		}
		conns = append(conns, c)
		held = append(held, <-srv.conns)
	}
	return conns, func() {
		for _, c := range conns {
			c.Close()
		}
		for _, c := range held {
			c.Close()
		}
	}
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkMemoryPerTrackedConn reports the heap herz adds per connection
// beyond a plain net.Dialer's (target: ≤ 1 KiB), after each conn has been
// probed once (the Prober is allocated lazily).
func BenchmarkMemoryPerTrackedConn(b *testing.B) {
	const n = 2000
	raiseFDLimit(b, 4*n+1000)
	d := newDialer(b, dialer.Config{DisableEvictor: true})
	var nd net.Dialer
	for b.Loop() {
		base := heapInUse()
		conns, closeRaw := openConns(b, n, func(addr string) (net.Conn, error) { return nd.Dial("tcp", addr) })
		rawBytes := heapInUse() - base
		closeRaw()
		runtime.KeepAlive(conns)

		base = heapInUse()
		hconns, closeHerz := openConns(b, n, func(addr string) (net.Conn, error) { return d.DialContext(context.Background(), "tcp", addr) })
		for _, c := range hconns {
			c.(*dialer.Conn).Probe()
		}
		herzBytes := heapInUse() - base
		closeHerz()
		b.ReportMetric(float64(int64(herzBytes)-int64(rawBytes))/n, "extra-B/conn")
	}
}

// holdEnv makes the test binary a server that accepts and holds connections
// (see TestHoldServerProcess): BenchmarkEvictorCPU keeps the server ends of its
// 10,000 conns in that child so the benchmark's own fd limit covers them.
const holdEnv = "HERZ_DIALER_HOLD_SERVER"

// TestHoldServerProcess is not a test: run by BenchmarkEvictorCPU in a child
// process, it listens on 127.0.0.1, prints its address and holds every
// accepted conn until its stdin closes.
func TestHoldServerProcess(t *testing.T) {
	if os.Getenv(holdEnv) == "" {
		t.Skip("helper process for BenchmarkEvictorCPU; runs only when re-executed by it")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println(ln.Addr().String())
	var held []net.Conn
	go func() {
		io.Copy(io.Discard, os.Stdin) // parent gone or done
		ln.Close()
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			break
		}
		held = append(held, c)
	}
	for _, c := range held {
		c.Close()
	}
}

// BenchmarkEvictorCPU holds 10,000 idle tracked conns and reports the process
// CPU time spent per wall second (target: ≤ 1% of a core) and the probe
// rate achieved, with the default probe interval (0.75 × tcp_fin_timeout:
// the evictor only checks deadlines) and with every conn probed and scored
// every second.
func BenchmarkEvictorCPU(b *testing.B) {
	b.Run("probe=default", func(b *testing.B) { benchEvictorCPU(b, 0) })
	b.Run("probe=1s", func(b *testing.B) { benchEvictorCPU(b, time.Second) })
}

func benchEvictorCPU(b *testing.B, probeEvery time.Duration) {
	const n = 10000
	raiseFDLimit(b, n+1000)
	cmd := exec.Command(os.Args[0], "-test.run", "^TestHoldServerProcess$")
	cmd.Env = append(os.Environ(), holdEnv+"=1")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { stdin.Close(); cmd.Wait() }()
	addr, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatal(err)
	}
	addr = strings.TrimSpace(addr)
	d := newDialer(b, dialer.Config{ProbeInterval: probeEvery})
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < n; i++ {
		c, err := d.DialContext(context.Background(), "tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		conns = append(conns, c)
	}
	time.Sleep(1500 * time.Millisecond) // let every conn pass its first probe interval
	cpu := func() time.Duration {
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	probes0 := d.Stats().Probes["alive"]
	c0, w0 := cpu(), time.Now()
	for b.Loop() {
		time.Sleep(500 * time.Millisecond)
	}
	c1, w1 := cpu(), time.Now()
	b.ReportMetric(100*float64(c1-c0)/float64(w1.Sub(w0)), "cpu-%")
	b.ReportMetric(float64(d.Stats().Probes["alive"]-probes0)/w1.Sub(w0).Seconds(), "probes/s")
	if got := d.Stats().Open; got != n {
		b.Fatalf("%d of %d idle healthy conns left open: the evictor closed healthy conns", got, n)
	}
}

// BenchmarkWatchdogCPU holds 10,000 tracked conns, each of which wrote a
// request the server never answers (so every one is a watchdog candidate
// once its write is older than the bound), with the default bound (8 s: a
// tick every 250 ms) and with a 1 s bound (a tick every 100 ms). It reports
// the process CPU time per wall second (target: ≤ 1% of a core, like the
// evictor's) once the watchdog has found each conn fully acknowledged, and
// the cost of one tick when every conn is stalled at once (the worst case:
// it reads its budget of 1024 TCP_INFOs).
func BenchmarkWatchdogCPU(b *testing.B) {
	b.Run("bound=default", func(b *testing.B) { benchWatchdogCPU(b, 0) })
	b.Run("bound=1s", func(b *testing.B) { benchWatchdogCPU(b, time.Second) })
}

// watchTick mirrors the watchdog's period for a bound.
func watchTick(bound time.Duration) time.Duration {
	return max(100*time.Millisecond, min(bound/32, 250*time.Millisecond))
}

func benchWatchdogCPU(b *testing.B, bound time.Duration) {
	const n = 10000
	raiseFDLimit(b, n+1000)
	cmd := exec.Command(os.Args[0], "-test.run", "^TestHoldServerProcess$")
	cmd.Env = append(os.Environ(), holdEnv+"=1")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { stdin.Close(); cmd.Wait() }()
	addr, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatal(err)
	}
	addr = strings.TrimSpace(addr)
	d := newDialer(b, dialer.Config{UserTimeout: bound, DisableEvictor: true})
	if bound == 0 {
		bound = d.Profile().UserTimeout
	}
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < n; i++ {
		c, err := d.DialContext(context.Background(), "tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Write([]byte("GET / HTTP/1.1\r\n\r\n")); err != nil {
			b.Fatal(err)
		}
		conns = append(conns, c)
	}
	// Every write is past the bound, and judged once (1024 per tick).
	time.Sleep(bound + 10*watchTick(bound) + 500*time.Millisecond)
	cpu := func() time.Duration {
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	c0, w0 := cpu(), time.Now()
	for b.Loop() {
		time.Sleep(500 * time.Millisecond)
	}
	c1, w1 := cpu(), time.Now()
	b.ReportMetric(100*float64(c1-c0)/float64(w1.Sub(w0)), "cpu-%")
	const worst = 5
	start := time.Now()
	for range worst {
		d.ForgetAcked()
		d.WatchOnce()
	}
	b.ReportMetric(float64(time.Since(start).Microseconds())/worst, "worst-tick-µs")
	if s := d.Stats(); s.DeadPaths != 0 || s.Open != n {
		b.Fatalf("%d dead paths, %d of %d open: the watchdog cut live conns", s.DeadPaths, s.Open, n)
	}
}
