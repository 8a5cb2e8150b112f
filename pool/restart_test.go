package pool_test

import (
	"context"
	"net"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/herz-go/herz/dialer"
	"github.com/herz-go/herz/internal/testenv"
	"github.com/herz-go/herz/pool"
)

// redisServer is a redis-server of the test's own on a port of its own
// (never the shared one), without persistence.
type redisServer struct {
	port int
	cmd  *exec.Cmd
}

func (r *redisServer) addr() string { return "127.0.0.1:" + strconv.Itoa(r.port) }

func startRedisServer(t *testing.T, port int) *redisServer {
	t.Helper()
	bin := testenv.RequireCommand(t, "redis-server")
	if port == 0 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port = l.Addr().(*net.TCPAddr).Port
		l.Close()
	}
	r := &redisServer{port: port}
	r.cmd = exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "no", "--loglevel", "warning")
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	t.Cleanup(r.kill)
	if !waitFor(5*time.Second, func() bool {
		c, err := net.DialTimeout("tcp", r.addr(), 100*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err == nil
	}) {
		t.Fatalf("redis-server on %s not accepting", r.addr())
	}
	return r
}

// kill kills the server (SIGKILL: its connections are reset or closed by
// the kernel) and waits for it to exit.
func (r *redisServer) kill() {
	if r.cmd.ProcessState != nil {
		return
	}
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
}

// op is one worker operation: Acquire, PING, give back.
type op struct {
	start, end time.Duration // since the test's start
	err        error
}

// TestRedisRestartUnder8Workers is the pool's outage figure: a redis-server
// of the test's own stalls for 500ms (DEBUG SLEEP: no pool may count that
// against it), then is killed and started again on the same port 1s later,
// while 8 workers per pool PING through it every 10ms (each operation with a
// 1s deadline). herz's pool against bare puddle with a plain net.Dialer
// (a dial per Acquire that finds no idle conn) in the same run: herz's
// callers see no more errors, none in operations started after the server
// accepts again, a first success within 100ms of that, and at most a
// quarter of bare puddle's connects. While the server is down, herz's
// callers wait for the pool's prober within their deadline instead of
// failing fast: each fails at most once per deadline.
func TestRedisRestartUnder8Workers(t *testing.T) {
	srv := startRedisServer(t, 0)
	var herzDials, bareDials atomic.Int64
	herz := newHerz(t, pool.Config{Addr: srv.addr(), Dialer: newDialer(t, &herzDials, nil), MaxConns: 10})
	nd := net.Dialer{Timeout: time.Second, Control: func(string, string, syscall.RawConn) error { bareDials.Add(1); return nil }}
	bare := newBare(t, srv.addr(), 10, nd.DialContext)

	begin := time.Now()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	ops := map[string][]op{}
	for _, c := range []struct {
		name string
		a    acquirer
	}{{"herz", herz}, {"bare", bare}} {
		for range 8 {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					start := time.Since(begin)
					ctx, cancel := context.WithTimeout(context.Background(), time.Second)
					conn, put, err := c.a.get(ctx)
					cancel()
					if err == nil {
						err = redisPing(conn)
						put(err == nil)
					}
					mu.Lock()
					ops[c.name] = append(ops[c.name], op{start, time.Since(begin), err})
					mu.Unlock()
					time.Sleep(10 * time.Millisecond)
				}
			})
		}
	}
	time.Sleep(500 * time.Millisecond)
	// First a stall: DEBUG SLEEP 0.5 (the server answers nothing for 500ms,
	// within the PINGs' 1s deadline, and its kernel still accepts connects).
	admin, err := net.DialTimeout("tcp", srv.addr(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	stallFrom := time.Since(begin)
	if err := testenv.RedisSend(admin, "DEBUG", "SLEEP", "0.5"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	admin.Close()
	stallTo := time.Since(begin)
	time.Sleep(200 * time.Millisecond) // ops started from here are the kill's
	if n := herz.Stat().Outages; n != 0 {
		t.Errorf("herz: the stall was taken for %d outages", n)
	}
	herzBefore, bareBefore := herzDials.Load()+int64(herz.Stat().Probes), bareDials.Load()
	killed := time.Since(begin)
	srv.kill()
	time.Sleep(time.Second)
	srv = startRedisServer(t, srv.port) // waits until it accepts: back
	back := time.Since(begin)
	time.Sleep(1500 * time.Millisecond)
	close(stop)
	wg.Wait()
	herzConnects, bareConnects := herzDials.Load()+int64(herz.Stat().Probes)-herzBefore, bareDials.Load()-bareBefore

	type result struct {
		stallErrs                int
		ops, errs, errsAfterBack int
		firstOK                  time.Duration // after back; -1: none
		firstErr                 error
	}
	summarize := func(name string) result {
		r := result{firstOK: -1}
		for _, o := range ops[name] {
			if o.start >= stallFrom && o.start < stallTo {
				if o.err != nil {
					r.stallErrs++
				}
				continue
			}
			r.ops++
			if o.err != nil {
				r.errs++
				if r.firstErr == nil {
					r.firstErr = o.err
				}
				if o.start >= back {
					r.errsAfterBack++
				}
			} else if o.end >= back && (r.firstOK < 0 || o.end-back < r.firstOK) {
				r.firstOK = o.end - back
			}
		}
		return r
	}
	h, b := summarize("herz"), summarize("bare")
	t.Logf("500ms stall (DEBUG SLEEP): herz %d errors, bare puddle %d", h.stallErrs, b.stallErrs)
	if h.stallErrs > b.stallErrs {
		t.Errorf("500ms stall: herz %d errors, bare puddle %d", h.stallErrs, b.stallErrs)
	}
	t.Logf("herz: %d ops, %d errors (%d started after the server was back), first success %v after it, %d connects from the kill on; first error: %v; %v",
		h.ops, h.errs, h.errsAfterBack, h.firstOK, herzConnects, h.firstErr, herz.Stat())
	t.Logf("bare puddle: %d ops, %d errors (%d started after the server was back), first success %v after it, %d connects from the kill on; first error: %v",
		b.ops, b.errs, b.errsAfterBack, b.firstOK, bareConnects, b.firstErr)
	if h.errs > b.errs {
		t.Errorf("herz: %d caller errors, bare puddle %d", h.errs, b.errs)
	}
	// The caller's deadline wins over failing fast: a herz worker fails at
	// most once per 1s deadline spent waiting for the server, plus the PING
	// in flight at the kill.
	if limit := 8 * (int((back-killed+time.Second-1)/time.Second) + 1); h.errs > limit {
		t.Errorf("herz: %d caller errors in a %v outage, want ≤ %d (8 workers, one per 1s deadline, plus the PING cut by the kill)", h.errs, back-killed, limit)
	}
	if h.errsAfterBack != 0 {
		t.Errorf("herz: %d errors in operations started after the server accepted again, want 0", h.errsAfterBack)
	}
	if h.firstOK < 0 || h.firstOK > 100*time.Millisecond {
		t.Errorf("herz: first success %v after the server accepted again, want ≤ 100ms", h.firstOK)
	}
	if herzConnects*4 > bareConnects {
		t.Errorf("herz: %d connects from the kill on, bare puddle %d: want ≤ ¼", herzConnects, bareConnects)
	}
	if b.errs == 0 {
		t.Error("bare puddle saw no error: the restart did not bite")
	}
}

// TestFailFastWhileDown: with Config.FailFast, Acquire on a server that
// refuses connects fails at once with the dial error (a *dialer.DialError,
// refused), as bare puddle with a plain net.Dialer does; herz's 8 workers
// over 300ms make a handful of connects (the first dials and the prober's),
// bare puddle one per Acquire.
func TestFailFastWhileDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // refused from now on
	var herzDials, bareDials atomic.Int64
	herz := newHerz(t, pool.Config{Addr: addr, Dialer: newDialer(t, &herzDials, nil), MaxConns: 10, FailFast: true})
	nd := net.Dialer{Timeout: time.Second, Control: func(string, string, syscall.RawConn) error { bareDials.Add(1); return nil }}
	bare := newBare(t, addr, 10, nd.DialContext)

	type tally struct {
		calls, errs, refused int
		slowest              time.Duration
	}
	run := func(a acquirer) tally {
		var mu sync.Mutex
		var r tally
		var wg sync.WaitGroup
		end := time.Now().Add(300 * time.Millisecond)
		for range 8 {
			wg.Go(func() {
				for time.Now().Before(end) {
					ctx, cancel := context.WithTimeout(context.Background(), time.Second)
					start := time.Now()
					_, _, err := a.get(ctx)
					took := time.Since(start)
					cancel()
					mu.Lock()
					r.calls++
					r.slowest = max(r.slowest, took)
					if err != nil {
						r.errs++
						if dialer.RefusedConnect(err) {
							r.refused++
						}
					}
					mu.Unlock()
					time.Sleep(10 * time.Millisecond)
				}
			})
		}
		wg.Wait()
		return r
	}
	var h, b tally
	var wg sync.WaitGroup
	wg.Go(func() { h = run(herz) })
	wg.Go(func() { b = run(bare) })
	wg.Wait()
	hc := herzDials.Load() + int64(herz.Stat().Probes)
	t.Logf("herz: %+v, %d connects; bare puddle: %+v, %d connects; %v", h, hc, b, bareDials.Load(), herz.Stat())
	if h.errs != h.calls || b.errs != b.calls {
		t.Fatalf("every Acquire should fail: herz %d/%d, bare %d/%d", h.errs, h.calls, b.errs, b.calls)
	}
	if h.refused != h.errs {
		t.Errorf("herz: %d of %d errors are a refused connect (dialer.RefusedConnect)", h.refused, h.errs)
	}
	// End-to-end bound with headroom (the first dials retry a refused
	// connect a few times within milliseconds; waiting would take 1s).
	if h.slowest > 500*time.Millisecond {
		t.Errorf("herz: an Acquire took %v to fail, want it to fail fast", h.slowest)
	}
	if hc*4 > bareDials.Load() {
		t.Errorf("herz made %d connects, bare puddle %d: want ≤ ¼", hc, bareDials.Load())
	}
}
