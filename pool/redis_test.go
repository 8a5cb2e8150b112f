package pool_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/herz-go/herz/dialer"
	"github.com/herz-go/herz/faultlab"
	"github.com/herz-go/herz/internal/testenv"
	"github.com/herz-go/herz/pool"
)

// clientName returns a Redis client name unique to this process and tag, so
// that CLIENT KILL only ever touches this test's own connections.
func clientName(tag string) string { return fmt.Sprintf("herzpool-%d-%s", os.Getpid(), tag) }

// Redis closes clients idle past `timeout` seconds. Callers of the herz pool
// never get one of those dead conns (hand-out probe), and with a Heartbeat
// the pool keeps its conns alive instead; bare puddle hands the dead conns
// out.
func TestRedisIdleTimeoutClosedConnsNeverHandedOut(t *testing.T) {
	addr := testenv.RequireRedis(t)
	const n = 4
	d := newDialer(t, nil, nil)
	herz := newHerz(t, pool.Config{Addr: addr, Dialer: d, MaxConns: n, HealthCheckPeriod: -1})
	beat := newHerz(t, pool.Config{Addr: addr, MaxConns: n, Heartbeat: heartbeat, HealthCheckPeriod: 200 * time.Millisecond})
	bare := newBare(t, addr, n, d.DialContext)
	for name, a := range map[string]acquirer{"herz": herz, "heartbeat": beat, "bare": bare} {
		if ae, ue := holdN(t, a, n, redisPing); ae+ue != 0 {
			t.Fatalf("%s: warming up: %d acquire and %d PING errors", name, ae, ue)
		}
	}
	testenv.RedisSetConfig(t, "timeout", "1")
	time.Sleep(2500 * time.Millisecond) // Redis closes clients idle > 1s (checked every 100ms)

	_, herzErrs := holdN(t, herz, n, redisPing)
	_, beatErrs := holdN(t, beat, n, redisPing)
	_, bareErrs := holdN(t, bare, n, redisPing)
	hs, bs := herz.Stat(), beat.Stat()
	t.Logf("PING errors after idling past Redis' timeout: herz %d, herz+heartbeat %d, bare puddle %d (of %d)", herzErrs, beatErrs, bareErrs, n)
	t.Logf("herz: %v", hs)
	t.Logf("herz+heartbeat: %v", bs)
	if herzErrs != 0 || beatErrs != 0 {
		t.Errorf("herz callers got dead conns: %d (hand-out probe) and %d (heartbeat) PING errors, want 0", herzErrs, beatErrs)
	}
	if bareErrs < herzErrs {
		t.Errorf("bare puddle did better than herz: %d < %d errors", bareErrs, herzErrs)
	}
	if got := hs.HandoutRejects; got < n {
		t.Errorf("herz discarded %d dead idle conns at hand-out, want %d (the server closed them all)", got, n)
	}
	if bs.Dials != n || bs.Heartbeats == 0 {
		t.Errorf("heartbeat pool: %d dials and %d heartbeats, want %d dials (conns kept alive) and some heartbeats", bs.Dials, bs.Heartbeats, n)
	}
}

// CLIENT KILL of the pool's idle conns: herz finds them dead at hand-out
// (and refills MinIdle in the background); bare puddle hands them out.
func TestRedisClientKillOfIdleConns(t *testing.T) {
	addr := testenv.RequireRedis(t)
	const n = 4
	d := newDialer(t, nil, nil)
	herz := newHerz(t, pool.Config{Addr: addr, Dialer: d, MaxConns: n, HealthCheckPeriod: -1})
	bare := newBare(t, addr, n, d.DialContext)
	herzName, bareName := clientName("kill-herz"), clientName("kill-bare")
	if ae, ue := holdN(t, herz, n, setName(herzName)); ae+ue != 0 {
		t.Fatalf("herz: naming conns: %d acquire and %d use errors", ae, ue)
	}
	if ae, ue := holdN(t, bare, n, setName(bareName)); ae+ue != 0 {
		t.Fatalf("bare: naming conns: %d acquire and %d use errors", ae, ue)
	}
	if k := testenv.RedisKillClients(t, herzName) + testenv.RedisKillClients(t, bareName); k != 2*n {
		t.Fatalf("killed %d clients, want %d", k, 2*n)
	}
	time.Sleep(50 * time.Millisecond) // let the FINs land

	herzAcq, herzErrs := holdN(t, herz, n, redisPing)
	bareAcq, bareErrs := holdN(t, bare, n, redisPing)
	s := herz.Stat()
	t.Logf("after CLIENT KILL of %d idle conns: herz %d acquire + %d PING errors, bare puddle %d + %d; herz %v", n, herzAcq, herzErrs, bareAcq, bareErrs, s)
	if herzAcq+herzErrs != 0 {
		t.Errorf("herz callers saw %d errors, want 0", herzAcq+herzErrs)
	}
	if bareAcq+bareErrs < herzAcq+herzErrs {
		t.Errorf("bare puddle did better than herz")
	}
	if s.Evictions["probe_eof"]+s.Evictions["probe_rst"] < n {
		t.Errorf("herz evictions %v, want %d found dead by the probe", s.Evictions, n)
	}
}

// After every idle conn is killed, the background loop refills MinIdle with
// live conns (slow start: 1, 2, 4, ...), so callers never dial; bare puddle
// has no MinIdle and keeps its dead conns.
func TestRedisMinIdleRefilledAfterMassEviction(t *testing.T) {
	addr := testenv.RequireRedis(t)
	const n = 4
	herz := newHerz(t, pool.Config{Addr: addr, MaxConns: 2 * n, MinIdle: n, HealthCheckPeriod: 50 * time.Millisecond})
	bare := newBare(t, addr, 2*n, newDialer(t, nil, nil).DialContext)
	if !waitFor(3*time.Second, func() bool { return herz.Stat().IdleConns == n }) {
		t.Fatalf("MinIdle not reached: %v", herz.Stat())
	}
	name := clientName("refill")
	holdN(t, herz, n, setName(name))
	holdN(t, bare, n, setName(name))
	if k := testenv.RedisKillClients(t, name); k != 2*n {
		t.Fatalf("killed %d clients, want %d", k, 2*n)
	}
	dialsBefore := herz.Stat().Dials
	// The health check finds the dead conns and the loop refills MinIdle.
	ok := waitFor(3*time.Second, func() bool {
		s := herz.Stat()
		return s.IdleConns == n && s.Dials >= dialsBefore+n
	})
	s := herz.Stat()
	t.Logf("after killing %d idle conns: %v", n, s)
	if !ok {
		t.Fatalf("MinIdle not refilled with new conns: %v", s)
	}
	acq, errs := holdN(t, herz, n, redisPing)
	_, bareErrs := holdN(t, bare, n, redisPing)
	after := herz.Stat()
	if acq+errs != 0 {
		t.Errorf("herz: %d acquire and %d PING errors after refill, want 0", acq, errs)
	}
	if after.Dials != s.Dials {
		t.Errorf("callers had to dial (%d -> %d dials): MinIdle conns were not live", s.Dials, after.Dials)
	}
	if bareErrs < errs {
		t.Errorf("bare puddle did better than herz")
	}
	t.Logf("bare puddle PING errors on its killed conns: %d of %d", bareErrs, n)
}

// A conn held by its caller (a blocking BLPOP, a SUBSCRIBE) is never closed,
// probed away or evicted by herz, even with every limit far below the
// hold time and the Dialer's evictor probing hard: the outcome equals bare
// puddle's.
func TestRedisHeldConnNeverTouched(t *testing.T) {
	addr := testenv.RequireRedis(t)
	d := newDialer(t, nil, func(c *dialer.Config) {
		c.IdleTimeout = 50 * time.Millisecond
		c.ProbeInterval = 20 * time.Millisecond
		c.MaxLifetime = 100 * time.Millisecond
	})
	herz := newHerz(t, pool.Config{Addr: addr, Dialer: d, MaxConns: 4,
		MaxIdleTime: 50 * time.Millisecond, MaxLifetime: 100 * time.Millisecond,
		HealthCheckPeriod: 20 * time.Millisecond, Heartbeat: heartbeat})
	bare := newBare(t, addr, 4, d.DialContext)
	channel := clientName("sub")

	blpop := func(c net.Conn) error {
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		defer c.SetDeadline(time.Time{})
		r, err := testenv.RedisDo(c, "BLPOP", clientName("nokey"), "1.2")
		if err == nil && r != nil {
			err = fmt.Errorf("BLPOP answered %v, want nil", r)
		}
		return err
	}
	subscribe := func(c net.Conn) error {
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		defer c.SetDeadline(time.Time{})
		if err := testenv.RedisSend(c, "SUBSCRIBE", channel); err != nil {
			return err
		}
		br := bufio.NewReader(c)
		if _, err := testenv.RedisRead(br); err != nil { // subscribe confirmation
			return err
		}
		msg, err := testenv.RedisRead(br) // the message published after 1.2s
		if err != nil {
			return err
		}
		if m, _ := msg.([]any); len(m) != 3 || m[2] != "hello" {
			return fmt.Errorf("SUBSCRIBE got %v", msg)
		}
		return nil // the conn stays subscribed: the caller destroys it
	}
	var wg sync.WaitGroup
	results := map[string]error{}
	var mu sync.Mutex
	run := func(name string, a acquirer, fn func(net.Conn) error, keep bool) {
		wg.Go(func() {
			c, put, err := a.get(context.Background())
			if err == nil {
				err = fn(c)
				put(keep && err == nil)
			}
			mu.Lock()
			results[name] = err
			mu.Unlock()
		})
	}
	run("herz BLPOP", herz, blpop, true)
	run("bare BLPOP", bare, blpop, true)
	run("herz SUBSCRIBE", herz, subscribe, false)
	run("bare SUBSCRIBE", bare, subscribe, false)
	time.Sleep(1200 * time.Millisecond)
	for i := 0; ; i++ { // publish until both subscribers got it
		n, _ := publish(t, channel, "hello")
		if n >= 2 || i == 100 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	wg.Wait()
	for name, err := range results {
		if err != nil {
			t.Errorf("%s on a held conn: %v", name, err)
		}
	}
	t.Logf("herz during the holds: %v; dialer %+v", herz.Stat(), d.Stats().Evictions)
}

// publish sends PUBLISH on a fresh admin connection.
func publish(t *testing.T, channel, msg string) (int64, error) {
	c, err := net.DialTimeout("tcp", testenv.RedisAddr, time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	r, err := testenv.RedisDo(c, "PUBLISH", channel, msg)
	n, _ := r.(int64)
	return n, err
}

// A short outage (every conn reset, then connects refused for 1s) through a
// fault-injecting proxy: herz callers never get a dead conn (0 PING errors);
// while the server is down, Acquire waits for the pool's prober within the
// caller's 300ms deadline (never longer) instead of dialing and failing, so
// herz callers see fewer errors than bare puddle's, which hands out the reset
// conns and dials (and fails) on every Acquire; herz recovers within about a
// second of the server coming back (the pool's prober finds it), with
// fewer connect attempts than bare puddle.
func TestRedisOutageThroughProxy(t *testing.T) {
	addr := testenv.RequireRedis(t)
	proxy := testenv.NewProxy(t, addr)
	var herzDials, bareDials atomic.Int64
	herz := newHerz(t, pool.Config{Addr: proxy.Addr(), Dialer: newDialer(t, &herzDials, nil), MaxConns: 4, MinIdle: 2, HealthCheckPeriod: 100 * time.Millisecond})
	bare := newBare(t, proxy.Addr(), 4, newDialer(t, &bareDials, func(c *dialer.Config) {
		c.DialRetries, c.DisableBreaker = -1, true // a plain dial per Acquire
	}).DialContext)

	type outcome struct {
		acqErrs, ctxErrs, useErrs, ok int
		firstOKAfterBack, slowestFail time.Duration
	}
	var gate sync.RWMutex // the fault switch waits for uses in flight
	var back atomic.Int64 // UnixNano when the server came back; 0 before
	stop := make(chan struct{})
	work := func(a acquirer, o *outcome, mu *sync.Mutex) {
		for {
			select {
			case <-stop:
				return
			default:
			}
			gate.RLock()
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			start := time.Now()
			c, put, err := a.get(ctx)
			took := time.Since(start)
			cancel()
			var useErr error
			if err == nil {
				useErr = redisPing(c)
				put(useErr == nil)
			}
			gate.RUnlock()
			mu.Lock()
			if err != nil {
				o.slowestFail = max(o.slowestFail, took)
			}
			switch {
			case err != nil && isCtxErr(err):
				o.ctxErrs++
			case err != nil:
				o.acqErrs++
			case useErr != nil:
				o.useErrs++
			default:
				o.ok++
				if b := back.Load(); b != 0 && o.firstOKAfterBack == 0 {
					o.firstOKAfterBack = time.Since(time.Unix(0, b))
				}
			}
			mu.Unlock()
			time.Sleep(5 * time.Millisecond)
		}
	}
	var herzOut, bareOut outcome
	var herzMu, bareMu sync.Mutex
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() { work(herz, &herzOut, &herzMu) })
		wg.Go(func() { work(bare, &bareOut, &bareMu) })
	}
	time.Sleep(300 * time.Millisecond)
	gate.Lock()
	proxy.SetFault(faultlab.ResetAll())
	proxy.SetFault(faultlab.Refuse())
	herzBefore, bareBefore := herzDials.Load()+int64(herz.Stat().Probes), bareDials.Load()
	// Let the RSTs land: loopback delivers them in softirq, and a reset
	// still in flight when a conn is handed out is a race no pool can see.
	time.Sleep(20 * time.Millisecond)
	gate.Unlock()
	time.Sleep(time.Second)
	herzDuring, bareDuring := herzDials.Load()+int64(herz.Stat().Probes)-herzBefore, bareDials.Load()-bareBefore
	proxy.SetFault(faultlab.NoFault())
	back.Store(time.Now().UnixNano())
	time.Sleep(1500 * time.Millisecond)
	close(stop)
	wg.Wait()

	herzMu.Lock()
	bareMu.Lock()
	defer herzMu.Unlock()
	defer bareMu.Unlock()
	t.Logf("herz: %+v, %d connect attempts during the 1s outage; %v", herzOut, herzDuring, herz.Stat())
	t.Logf("bare: %+v, %d connect attempts during the 1s outage", bareOut, bareDuring)
	if herzOut.useErrs != 0 {
		t.Errorf("herz handed out %d dead conns (PING errors), want 0", herzOut.useErrs)
	}
	if herzOut.slowestFail > 300*time.Millisecond+200*time.Millisecond {
		t.Errorf("a herz Acquire failed after %v, past the caller's 300ms deadline (+200ms slack)", herzOut.slowestFail)
	}
	if herzOut.acqErrs+herzOut.ctxErrs == 0 {
		t.Errorf("herz Acquire never failed during the outage: the fault did not bite")
	}
	if h, b := herzOut.acqErrs+herzOut.ctxErrs+herzOut.useErrs, bareOut.acqErrs+bareOut.ctxErrs+bareOut.useErrs; h > b {
		t.Errorf("herz callers saw %d errors, bare puddle's %d", h, b)
	}
	if herzOut.firstOKAfterBack == 0 || herzOut.firstOKAfterBack > 1250*time.Millisecond {
		t.Errorf("herz recovered %v after the server came back, want <= 1s (+250ms scheduling slack)", herzOut.firstOKAfterBack)
	}
	if herzDuring > 40 || herzDuring > bareDuring {
		t.Errorf("herz made %d connect attempts in a 1s outage (bare puddle %d): want a bounded number, at most bare's", herzDuring, bareDuring)
	}
	if bareOut.useErrs+bareOut.acqErrs < herzOut.useErrs+herzOut.acqErrs && bareOut.useErrs < herzOut.useErrs {
		t.Errorf("bare puddle did better than herz")
	}
}

// Cancelling Acquire while its dial is in flight does not abort the dial
// (puddle semantics): the conn lands idle for the next caller, who gets it
// without dialing; bare puddle behaves the same, and nothing leaks.
func TestCancelAcquireKeepsInFlightDial(t *testing.T) {
	addr := testenv.RequireRedis(t)
	var attempts atomic.Int64
	slow := func(c *dialer.Config) {
		c.Control = func(string, string, syscall.RawConn) error {
			attempts.Add(1)
			time.Sleep(200 * time.Millisecond)
			return nil
		}
	}
	d := newDialer(t, nil, slow)
	herz := newHerz(t, pool.Config{Addr: addr, Dialer: d, MaxConns: 2})
	bare := newBare(t, addr, 2, d.DialContext)
	for name, a := range map[string]acquirer{"herz": herz, "bare": bare} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		_, _, err := a.get(ctx)
		cancel()
		if !isCtxErr(err) {
			t.Fatalf("%s: Acquire with a 20ms context on a 200ms dial = %v, want the context's error", name, err)
		}
		before := attempts.Load()
		time.Sleep(300 * time.Millisecond) // the dial completes in the background
		acq, errs := holdN(t, a, 1, redisPing)
		if acq+errs != 0 || attempts.Load() != before {
			t.Errorf("%s: after the cancelled Acquire: %d acquire and %d PING errors, %d new connect attempts; want 0, 0, 0", name, acq, errs, attempts.Load()-before)
		}
	}
	if s := herz.Stat(); s.CanceledAcquireCount != 1 || s.DialErrors != 0 {
		t.Errorf("herz Stat after a cancelled Acquire: %v", s)
	}
}

// Each conn's lifetime is shortened by its own random fraction, so conns
// made together do not expire together.
func TestLifetimesSpreadByJitter(t *testing.T) {
	addr := testenv.RequireRedis(t)
	const n, lifetime = 16, time.Minute
	p := newHerz(t, pool.Config{Addr: addr, MaxConns: n, MaxLifetime: lifetime})
	var lts []time.Duration
	for _, c := range acquireN(t, p, n) {
		lts = append(lts, pool.LifetimeOf(c))
		c.Release()
	}
	sort.Slice(lts, func(i, j int) bool { return lts[i] < lts[j] })
	t.Logf("lifetimes of %d conns made together: min %v, max %v", n, lts[0], lts[n-1])
	if lts[0] < lifetime*9/10 || lts[n-1] > lifetime {
		t.Errorf("lifetimes outside [0.9, 1] x %v: %v .. %v", lifetime, lts[0], lts[n-1])
	}
	if spread := lts[n-1] - lts[0]; spread < lifetime/100 {
		t.Errorf("lifetimes spread over %v only, want >= 1%% of %v", spread, lifetime)
	}
}

// Close returns at once while a caller holds a conn, the held conn keeps
// working, and its Release closes it and completes the shutdown; a hijacked
// conn survives Close untouched.
func TestCloseWaitsOnlyForWhatItOwns(t *testing.T) {
	addr := testenv.RequireRedis(t)
	p, err := pool.New(context.Background(), pool.Config{Addr: addr, MaxConns: 3, MinIdle: 1, HealthCheckPeriod: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	held, err := p.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	hc, err := p.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	hijacked := hc.Hijack()
	defer hijacked.Close()
	done := make(chan struct{})
	go func() { p.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close waited for a conn held by its caller")
	}
	if err := redisPing(held.NetConn()); err != nil {
		t.Errorf("held conn after Close: %v", err)
	}
	nc := held.NetConn()
	held.Release()
	if err := redisPing(nc); err == nil {
		t.Errorf("conn released after Close still open, want it closed")
	}
	if err := redisPing(hijacked); err != nil {
		t.Errorf("hijacked conn after Close: %v", err)
	}
	if _, err := p.Acquire(context.Background()); err != pool.ErrClosed {
		t.Errorf("Acquire after Close = %v, want ErrClosed", err)
	}
}

// The health check closes idle conns past their (jittered) lifetime and,
// above MinIdle, those idle past MaxIdleTime, each with its reason; bare
// puddle has neither rule and keeps every conn open.
func TestHealthCheckClosesExpiredAndOverIdleConns(t *testing.T) {
	addr := testenv.RequireRedis(t)
	const n = 4
	life := newHerz(t, pool.Config{Addr: addr, MaxConns: n, MaxLifetime: 300 * time.Millisecond, HealthCheckPeriod: 50 * time.Millisecond})
	idle := newHerz(t, pool.Config{Addr: addr, MaxConns: n, MinIdle: 1, MaxIdleTime: 100 * time.Millisecond, MaxLifetime: -1, HealthCheckPeriod: 50 * time.Millisecond})
	bare := newBare(t, addr, n, newDialer(t, nil, nil).DialContext)
	for _, a := range []acquirer{life, idle, bare} {
		if ae, ue := holdN(t, a, n, redisPing); ae+ue != 0 {
			t.Fatalf("warming up: %d acquire and %d PING errors", ae, ue)
		}
	}
	if !waitFor(3*time.Second, func() bool { s := life.Stat(); return s.Evictions["lifetime"] == n && s.TotalConns == 0 }) {
		t.Errorf("expired conns not closed by the health check: %v", life.Stat())
	}
	if !waitFor(3*time.Second, func() bool { s := idle.Stat(); return s.Evictions["idle"] == n-1 && s.IdleConns == 1 }) {
		t.Errorf("over-idle conns above MinIdle not closed: %v", idle.Stat())
	}
	dials := idle.Stat().Dials
	if acq, errs := holdN(t, idle, 1, redisPing); acq+errs != 0 || idle.Stat().Dials != dials {
		t.Errorf("the MinIdle conn kept: %d acquire and %d PING errors, %d new dials; want 0, 0, 0", acq, errs, idle.Stat().Dials-dials)
	}
	t.Logf("lifetime pool: %v", life.Stat())
	t.Logf("idle pool: %v", idle.Stat())
	t.Logf("bare puddle still holds %d conns", bare.Stat().TotalResources())
}

// The health check's probe finds Redis' idle closes (timeout 1s, which
// Redis applies with whole-second resolution: it closes after 1-2s idle) and
// feeds their idle ages to the Dialer's learner (one sample per close
// event); from then on herz closes
// idle conns at the learned deadline by itself (shown with Redis' timeout
// back at 0, so that only herz closes). Bare puddle learns nothing: its
// conns die idle and are handed out dead.
func TestRedisIdleTimeoutLearnedFromCloses(t *testing.T) {
	addr := testenv.RequireRedis(t)
	const n = 4
	p := newHerz(t, pool.Config{Addr: addr, MaxConns: n, HealthCheckPeriod: 100 * time.Millisecond})
	bare := newBare(t, addr, n, newDialer(t, nil, nil).DialContext)
	testenv.RedisSetConfig(t, "timeout", "1")
	holdN(t, bare, n, redisPing)
	// Separate idle closes (one per second), not one mass close: the pool
	// takes one sample per event and the learner needs 3.
	held := acquireN(t, p, n)
	pingHeld := func(cs []*pool.Conn) {
		for _, c := range cs {
			if err := redisPing(c.NetConn()); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i, c := range held {
		pingHeld(held[i:]) // held conns stay active for Redis
		c.Release()
		if i < n-1 {
			time.Sleep(500 * time.Millisecond)
			pingHeld(held[i+1:])
			time.Sleep(500 * time.Millisecond)
		}
	}
	learner := p.Dialer().Learner()
	if !waitFor(4*time.Second, func() bool { _, ok := learner.Estimate(addr); return ok }) {
		t.Fatalf("no idle timeout learned from Redis' closes: %v", p.Stat())
	}
	time.Sleep(400 * time.Millisecond) // Redis' clientsCron visits every client within ~300ms
	_, bareErrs := holdN(t, bare, n, redisPing)
	testenv.RedisSetConfig(t, "timeout", "0")
	est, _ := learner.Estimate(addr)
	dl, _ := learner.IdleDeadline(addr)
	before := p.Stat()
	if ae, ue := holdN(t, p, n, redisPing); ae+ue != 0 {
		t.Fatalf("re-warming: %d acquire and %d PING errors", ae, ue)
	}
	byHerz := func(s pool.Stat) uint64 { return s.Evictions["learned_idle"] + s.Evictions["evicted"] }
	ok := waitFor(dl+time.Second, func() bool { return byHerz(p.Stat())-byHerz(before) >= n })
	s := p.Stat()
	t.Logf("learned estimate %v, idle deadline %v; %v; bare puddle PING errors %d of %d", est, dl, s, bareErrs, n)
	if est < 900*time.Millisecond || est > 3*time.Second {
		t.Errorf("learned estimate %v, want Redis' 1-2s", est)
	}
	if !ok || s.Evictions["probe_eof"] != before.Evictions["probe_eof"] {
		t.Errorf("after learning: %d conns closed by herz at the learned deadline (want %d), %d new probe_eof (want 0)",
			byHerz(s)-byHerz(before), n, s.Evictions["probe_eof"]-before.Evictions["probe_eof"])
	}
	if bareErrs == 0 {
		t.Errorf("bare puddle saw no dead conns: Redis' timeout did not bite")
	}
}

// A server greeting waiting on a new conn is not mistaken for a fault: the
// health check and the hand-out keep the conn, and the caller reads the
// greeting, exactly as with bare puddle.
func TestGreetingOnFreshConnIsNotAFault(t *testing.T) {
	addr, stop := pongServer("+HELLO\r\n")
	t.Cleanup(stop)
	const n = 2
	herz := newHerz(t, pool.Config{Addr: addr, MaxConns: n, MinIdle: n, HealthCheckPeriod: 20 * time.Millisecond})
	bare := newBare(t, addr, n, newDialer(t, nil, nil).DialContext)
	if !waitFor(3*time.Second, func() bool { return herz.Stat().IdleConns == n }) {
		t.Fatalf("MinIdle not reached: %v", herz.Stat())
	}
	time.Sleep(100 * time.Millisecond) // several health checks see the greetings
	greet := func(c net.Conn) error {
		_ = c.SetDeadline(time.Now().Add(time.Second))
		defer c.SetDeadline(time.Time{})
		r := bufio.NewReader(c)
		if l, err := r.ReadString('\n'); err != nil || l != "+HELLO\r\n" {
			return fmt.Errorf("greeting %q, %v", l, err)
		}
		return nil
	}
	herzAcq, herzErrs := holdN(t, herz, n, greet)
	bareAcq, bareErrs := holdN(t, bare, n, greet)
	s := herz.Stat()
	if herzAcq+herzErrs != bareAcq+bareErrs || herzAcq+herzErrs != 0 || s.TotalEvictions() != 0 || s.Dials != n {
		t.Errorf("herz %d+%d errors, bare %d+%d; herz %v; want 0 errors, no evictions, %d dials", herzAcq, herzErrs, bareAcq, bareErrs, s, n)
	}
	// Released after the greeting was read, the conns are checked like any other.
	if acq, errs := holdN(t, herz, n, redisPing); acq+errs != 0 {
		t.Errorf("reuse after the greeting: %d acquire and %d PING errors", acq, errs)
	}
}

// MinIdle is refilled with a slow start: while the server is down the
// refill's connect attempts are bounded (backoff and the dial breaker), and
// when it is back the refill dials one conn, then 2, then 4 — never all of
// MinIdle at once.
func TestRedisMinIdleRefillSlowStartAfterOutage(t *testing.T) {
	addr := testenv.RequireRedis(t)
	proxy := testenv.NewProxy(t, addr)
	proxy.SetFault(faultlab.Refuse())
	const minIdle = 8
	var mu sync.Mutex
	var inFlight int
	var waves []int // in-flight connect attempts seen by each attempt
	var attempts atomic.Int64
	d := newDialer(t, &attempts, func(c *dialer.Config) {
		c.Control = func(string, string, syscall.RawConn) error {
			attempts.Add(1)
			mu.Lock()
			inFlight++
			waves = append(waves, inFlight)
			mu.Unlock()
			time.Sleep(20 * time.Millisecond) // a slower connect, so that overlaps show
			mu.Lock()
			inFlight--
			mu.Unlock()
			return nil
		}
	})
	p := newHerz(t, pool.Config{Addr: proxy.Addr(), Dialer: d, MaxConns: minIdle, MinIdle: minIdle, HealthCheckPeriod: 50 * time.Millisecond})
	time.Sleep(time.Second)
	down := attempts.Load() + int64(p.Stat().Probes) // the pool's probe connects too
	mu.Lock()
	waves = nil
	mu.Unlock()
	proxy.SetFault(faultlab.NoFault())
	ok := waitFor(5*time.Second, func() bool { return p.Stat().IdleConns == minIdle })
	mu.Lock()
	defer mu.Unlock()
	peak := 0
	for _, w := range waves {
		peak = max(peak, w)
	}
	t.Logf("connect attempts while down for 1s: %d; after: in flight per attempt %v; %v", down, waves, p.Stat())
	if !ok {
		t.Fatalf("MinIdle not refilled after the outage: %v", p.Stat())
	}
	// The pool's prober connects every 10 ms backing off to 50 ms while the
	// server is down (about 20 a second), and no caller or refill dials
	// meanwhile; bare puddle makes ~500 in the same outage. 40 leaves room
	// for the refill's first attempts and a loaded machine.
	if down > 40 {
		t.Errorf("%d connect attempts in 1s of outage, want a bounded few (the prober's)", down)
	}
	if len(waves) == 0 || waves[0] != 1 || peak >= minIdle {
		t.Errorf("refill after the outage: in-flight attempts %v, want the first alone and never all %d at once", waves, minIdle)
	}
}
