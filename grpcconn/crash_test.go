package grpcconn_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/herz-go/herz/breaker"
	"github.com/herz-go/herz/grpcconn"
)

// crashLoad drives one client with n callers until stop is closed.
type crashLoad struct {
	name                  string
	calls, errs, refusals atomic.Int64
	start                 time.Time
	mu                    sync.Mutex
	errAt                 []time.Duration // when each failed call started, since start
	lastErr               atomic.Pointer[error]
	stop                  chan struct{}
	wg                    sync.WaitGroup
}

func startCrashLoad(cc grpc.ClientConnInterface, name string, n int, opts ...grpc.CallOption) *crashLoad {
	l := &crashLoad{name: name, stop: make(chan struct{}), start: time.Now()}
	for g := range n {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for i := 0; ; i++ {
				select {
				case <-l.stop:
					return
				default:
				}
				t0 := int64(time.Since(l.start))
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				err := callUnaryOpts(ctx, cc, name, fmt.Sprintf("%s-%d-%d", name, g, i), opts...)
				cancel()
				l.calls.Add(1)
				if err != nil {
					l.errs.Add(1)
					l.lastErr.Store(&err)
					l.mu.Lock()
					l.errAt = append(l.errAt, time.Duration(t0))
					l.mu.Unlock()
					if errors.Is(err, breaker.ErrOpen) {
						l.refusals.Add(1)
					}
				}
			}
		}()
	}
	return l
}

func (l *crashLoad) end() { close(l.stop); l.wg.Wait() }

// errorsFrom counts the errors of calls started at or after at. Call it
// after end.
func (l *crashLoad) errorsFrom(at time.Time) int64 {
	n := int64(0)
	for _, t0 := range l.errAt {
		if t0 >= at.Sub(l.start) {
			n++
		}
	}
	return n
}

func (l *crashLoad) String() string {
	var e error
	if p := l.lastErr.Load(); p != nil {
		e = *p
	}
	return fmt.Sprintf("%s: %d calls, %d errors (%d breaker refusals), last error: %v", l.name, l.calls.Load(), l.errs.Load(), l.refusals.Load(), e)
}

// waitServed polls srv until it has served a call from each client, and
// returns how long each took (-1: not within limit).
func waitServed(srv *echoServer, limit time.Duration, clients ...string) []time.Duration {
	start := time.Now()
	took := make([]time.Duration, len(clients))
	for i := range took {
		took[i] = -1
	}
	for left := len(clients); left > 0 && time.Since(start) < limit; time.Sleep(5 * time.Millisecond) {
		for i, c := range clients {
			if took[i] < 0 && srv.takeCalls(c) > 0 {
				took[i] = time.Since(start)
				left--
			}
		}
	}
	return took
}

// TestOneOfThreeCrashesUnderLoad: three backends answering after 10ms, 32
// callers per client; one backend is killed (its connections cut) and
// restarted on the same port 1.5s later. The calls in flight on it are cut
// for every client (they were executed: nobody may re-run them), and how
// many of each client's 32 callers happened to be on it varies by a few
// between two round-robin clients. herz must add no error beyond those: no
// breaker refusal while two backends are healthy, errors of calls started
// after the clients learned of the crash at most plain grpc-go
// round_robin's in the same run, no request executed twice; and the
// restarted backend serves herz's calls again within 1s of being back (a
// backend whose calls were cut by its crash is not kept ejected).
func TestOneOfThreeCrashesUnderLoad(t *testing.T) {
	t.Parallel()
	var srvs []*echoServer
	for _, n := range []string{"a", "b", "c"} {
		s := newEchoServer(t, n)
		s.setDelay(10 * time.Millisecond)
		srvs = append(srvs, s)
	}
	rh, ropt := resolverFor(srvs)
	herz := herzClient(t, rh.Scheme()+":///backends", grpcconn.Config{}, ropt)
	rp, popt := resolverFor(srvs)
	plain := plainClient(t, rp.Scheme()+":///backends", "round_robin", popt)

	hl, pl := startCrashLoad(herz, "herz", 32), startCrashLoad(plain, "plain", 32)
	ended := false
	defer func() {
		if !ended {
			hl.end()
			pl.end()
		}
	}()
	time.Sleep(700 * time.Millisecond) // warm up: every backend in use
	victim := srvs[0]
	victim.stop()
	// grpc-go reads the EOF of the killed connections and moves the picker
	// off them within a few ms; calls sent before that are the crash's for
	// any client (100ms: headroom for this busy machine).
	learned := time.Now().Add(100 * time.Millisecond)
	time.Sleep(1500 * time.Millisecond)
	victim.takeCalls("herz")
	victim.takeCalls("plain")
	victim.restart(t)
	back := waitServed(victim, 3*time.Second, "herz", "plain")
	time.Sleep(300 * time.Millisecond)
	hl.end()
	pl.end()
	ended = true

	hAfter, pAfter := hl.errorsFrom(learned), pl.errorsFrom(learned)
	t.Logf("%v; %d of calls started after the clients learned of the crash", hl, hAfter)
	t.Logf("%v; %d of calls started after the clients learned of the crash", pl, pAfter)
	t.Logf("restarted backend serving again after: herz %v, plain round_robin %v; %v", back[0], back[1], herz.Options().Stats())
	if n := hl.refusals.Load(); n != 0 {
		t.Errorf("herz: %d calls refused by a breaker while two backends were healthy", n)
	}
	if hAfter > pAfter {
		t.Errorf("herz: %d errors of calls started after the clients learned of the crash, plain round_robin %d", hAfter, pAfter)
	}
	// The crash cuts each caller at most once; how many of the 32 were on
	// the killed backend at that instant differs between the two clients
	// (on this busy machine anywhere from 1 to 13), so the totals may differ
	// by up to the callers, never by more.
	if h, p := hl.errs.Load(), pl.errs.Load(); h > p+32 {
		t.Errorf("herz: %d errors, plain round_robin %d: more apart than the callers the crash could cut", h, p)
	}
	if back[0] < 0 || back[0] > time.Second {
		t.Errorf("herz: the restarted backend served again after %v, want ≤ 1s", back[0])
	}
	for _, s := range srvs {
		if d := s.duplicates(); d != 0 {
			t.Errorf("backend %s: %d requests executed more than once", s.name, d)
		}
	}
}

// TestWaitForReadyRestartNeverRefused: one backend answering after 10ms, 8
// callers per client, every call with grpc.WaitForReady(true) and a 5s
// deadline; the backend is killed and restarted on the same port 1.5s
// later. The calls in flight on it are cut for both clients, and one trips
// herz's breaker (set to trip on the first transport failure); every later call asked to wait for a ready
// connection within its deadline, so herz refuses none of them: errors of
// calls started after the clients learned of the crash at most plain
// grpc-go's in the same run (none), no breaker refusal, and herz's first
// success within 1s of the backend being back.
func TestWaitForReadyRestartNeverRefused(t *testing.T) {
	t.Parallel()
	srv := newEchoServer(t, "wfr")
	srv.setDelay(10 * time.Millisecond)
	var opens atomic.Int64
	herz := herzClient(t, srv.addr, grpcconn.Config{Breaker: breaker.Config{
		ConsecutiveFailures: 1,
		OnStateChange: func(_ string, _, to breaker.State) {
			if to == breaker.StateOpen {
				opens.Add(1)
			}
		},
	}})
	plain := plainClient(t, srv.addr, "")

	wfr := grpc.WaitForReady(true)
	hl, pl := startCrashLoad(herz, "herz", 8, wfr), startCrashLoad(plain, "plain", 8, wfr)
	ended := false
	defer func() {
		if !ended {
			hl.end()
			pl.end()
		}
	}()
	time.Sleep(500 * time.Millisecond)
	srv.stop()
	learned := time.Now().Add(100 * time.Millisecond) // see TestOneOfThreeCrashesUnderLoad
	time.Sleep(1500 * time.Millisecond)
	srv.takeCalls("herz")
	srv.takeCalls("plain")
	srv.restart(t)
	back := waitServed(srv, 3*time.Second, "herz", "plain")
	time.Sleep(300 * time.Millisecond)
	hl.end()
	pl.end()
	ended = true

	hAfter, pAfter := hl.errorsFrom(learned), pl.errorsFrom(learned)
	t.Logf("%v; %d of calls started after the clients learned of the crash", hl, hAfter)
	t.Logf("%v; %d of calls started after the clients learned of the crash", pl, pAfter)
	t.Logf("backend serving again after: herz %v, plain grpc-go %v; herz's breaker opened %d times; %v", back[0], back[1], opens.Load(), herz.Options().Stats())
	if n := hl.refusals.Load(); n != 0 {
		t.Errorf("herz: %d WaitForReady calls refused by the breaker", n)
	}
	if hAfter > pAfter {
		t.Errorf("herz: %d errors of calls started after the clients learned of the crash, plain grpc-go %d", hAfter, pAfter)
	}
	if h, p := hl.errs.Load(), pl.errs.Load(); h > p+8 {
		t.Errorf("herz: %d errors, plain grpc-go %d: more than the callers in flight apart", h, p)
	}
	if back[0] < 0 || back[0] > time.Second {
		t.Errorf("herz: first call served %v after the backend was back, want ≤ 1s", back[0])
	}
	if d := srv.duplicates(); d != 0 {
		t.Errorf("%d requests executed more than once", d)
	}
}

// TestBreakerOpensWhenEveryBackendFails: the target's breaker still does its
// job when no backend is healthy. Three backends hold every call for 2s;
// herz (50ms attempt timeout, breaker tripping after 3 failures counted)
// and plain grpc-go round_robin each make 12 calls with a 300ms deadline.
// Every call fails for both; once every backend has failed, herz's breaker
// opens and refuses the rest at once (UNAVAILABLE wrapping
// breaker.ErrOpen), so herz's calls take less time in all than plain
// grpc-go's, which each wait out the caller's deadline.
func TestBreakerOpensWhenEveryBackendFails(t *testing.T) {
	t.Parallel()
	var srvs []*echoServer
	for _, n := range []string{"a", "b", "c"} {
		s := newEchoServer(t, n)
		s.setDelay(2 * time.Second)
		srvs = append(srvs, s)
	}
	rh, ropt := resolverFor(srvs)
	herz := herzClient(t, rh.Scheme()+":///backends", grpcconn.Config{
		AttemptTimeout: 50 * time.Millisecond,
		Retry:          grpcconn.RetryConfig{MaxRetries: grpcconn.NoRetries},
		Breaker:        breaker.Config{ConsecutiveFailures: 3, OpenBase: 10 * time.Second},
		Outlier:        grpcconn.OutlierConfig{ConsecutiveFailures: -1}, // no ejection: the breaker alone
	}, ropt)
	rp, popt := resolverFor(srvs)
	plain := plainClient(t, rp.Scheme()+":///backends", "round_robin", popt)

	type tally struct {
		errs, refused int
		took          time.Duration
	}
	run := func(cc grpc.ClientConnInterface, name string) tally {
		var r tally
		start := time.Now()
		for i := range 12 {
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			err := callUnary(ctx, cc, name, fmt.Sprintf("%s-all-%d", name, i))
			cancel()
			if err != nil {
				r.errs++
				if errors.Is(err, breaker.ErrOpen) {
					r.refused++
				}
			}
		}
		r.took = time.Since(start)
		return r
	}
	var h, p tally
	var wg sync.WaitGroup
	wg.Go(func() { h = run(herz, "herz") })
	wg.Go(func() { p = run(plain, "plain") })
	wg.Wait()
	t.Logf("herz: %+v; plain round_robin: %+v", h, p)
	if h.errs > p.errs {
		t.Errorf("herz: %d errors, plain %d", h.errs, p.errs)
	}
	if h.refused == 0 {
		t.Error("herz's breaker never opened although every backend failed every call")
	}
	if h.took >= p.took {
		t.Errorf("herz's 12 failing calls took %v, plain grpc-go's %v: the open breaker should fail fast", h.took, p.took)
	}
}
