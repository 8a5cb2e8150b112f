package dialer_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/herz-go/herz/adaptive"
	"github.com/herz-go/herz/dialer"
	"github.com/herz-go/herz/internal/sockopt"
)

func newLearnerWith(t testing.TB, peer string, hint time.Duration) *adaptive.Learner {
	t.Helper()
	l, err := adaptive.NewLearner(adaptive.LearnerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if peer != "" {
		l.ObserveHint(peer, hint)
	}
	return l
}

// idleServer is a real net/http server that closes keep-alive connections
// idle longer than idle.
func idleServer(t testing.TB, idle time.Duration) *httptest.Server {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Write([]byte("ok"))
	}))
	srv.Config.IdleTimeout = idle
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// pooledGet does one GET on a fresh conn to srv the way a pool uses it: lent
// for the exchange, returned idle after the response, and then — like
// net/http's readLoop — read by a goroutine while idle, so that the server's
// idle close is seen at once. The goroutine ends with the conn.
func pooledGet(t testing.TB, d *dialer.Dialer, srv *httptest.Server) *dialer.Conn {
	t.Helper()
	c := dial(t, d, srv.Listener.Addr().String())
	lease, ok := c.Lend()
	if !ok {
		t.Fatal("Lend failed on a new conn")
	}
	br := bufio.NewReader(c)
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: herz\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if !c.Return(lease) {
		t.Fatal("Return refused the current lease")
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		br.Peek(1) // blocks until the server closes (or herz does)
	}()
	t.Cleanup(func() { c.Close(); wg.Wait() })
	return c
}

// TestLearnerLearnsServerIdleTimeout: connections returned idle are closed by
// a net/http server with IdleTimeout 300ms; the idle age at each close is a
// sample, and the learned estimate lands within ±20% of 300ms.
func TestLearnerLearnsServerIdleTimeout(t *testing.T) {
	const serverIdle = 300 * time.Millisecond
	srv := idleServer(t, serverIdle)
	peer := srv.Listener.Addr().String()
	d := newDialer(t, dialer.Config{DisableEvictor: true})
	for i := 0; i < 4; i++ {
		before := d.Stats().PeerCloses
		pooledGet(t, d, srv)
		eventually(t, 5*time.Second, "the server to idle-close the conn", func() bool {
			return d.Stats().PeerCloses > before
		})
	}
	est, ok := d.Learner().Estimate(peer)
	if !ok {
		t.Fatalf("no estimate after 4 idle closes; stats %v", d.Stats())
	}
	if est < serverIdle*8/10 || est > serverIdle*12/10 {
		t.Fatalf("learned idle timeout %v, want within ±20%% of %v", est, serverIdle)
	}
	dl, ok := d.Learner().IdleDeadline(peer)
	if !ok || dl >= est {
		t.Fatalf("idle deadline %v (ok=%v) must sit below the estimate %v", dl, ok, est)
	}
	t.Logf("learned %v (deadline %v) for a %v server idle timeout", est, dl, serverIdle)
}

// TestEvictorClosesBeforeServerOnceLearned: once the deadline is learned,
// herz closes idle conns before the server does — all but one per round, the
// explorer, which is left for the server to close and so keeps the estimate
// tested.
func TestEvictorClosesBeforeServerOnceLearned(t *testing.T) {
	const serverIdle = 200 * time.Millisecond
	srv := idleServer(t, serverIdle)
	d := newDialer(t, dialer.Config{})
	peer := srv.Listener.Addr().String()
	for i := 0; i < 10; i++ {
		if _, ok := d.Learner().IdleDeadline(peer); ok {
			break
		}
		before := d.Stats().PeerCloses
		pooledGet(t, d, srv)
		eventually(t, 5*time.Second, "the server to idle-close the conn", func() bool {
			return d.Stats().PeerCloses > before
		})
	}
	if _, ok := d.Learner().IdleDeadline(peer); !ok {
		t.Fatal("deadline not learned after 10 idle closes")
	}
	const rounds, perRound = 3, 3
	for i := 0; i < rounds; i++ {
		before := d.Stats()
		for range perRound {
			pooledGet(t, d, srv)
		}
		eventually(t, 5*time.Second, "every idle conn closed", func() bool { return d.Tracked() == 0 })
		after := d.Stats()
		if herz, server := after.Evictions["learned_idle"]-before.Evictions["learned_idle"], after.PeerCloses-before.PeerCloses; herz < perRound-1 || server > 1 {
			t.Fatalf("round %d: herz closed %d and the server %d of %d idle conns; want herz to close all but the explorer", i, herz, server, perRound)
		}
	}
	if _, ok := d.Learner().IdleDeadline(peer); !ok {
		t.Fatal("the explorer's closes lost the estimate")
	}
}

// TestExplorerRelearnsAfterBadSample: one early close (a restart) taught a
// deadline far below the server's real idle timeout. The explorer conn
// outlives it, a probe finds it alive, and the bad estimate is dropped:
// keep-alive is not turned off for good.
func TestExplorerRelearnsAfterBadSample(t *testing.T) {
	if !sockopt.Supported {
		t.Skip("probes are Linux-only")
	}
	srv := idleServer(t, time.Minute)
	peer := srv.Listener.Addr().String()
	learner, err := adaptive.NewLearner(adaptive.LearnerConfig{MinSamples: 1})
	if err != nil {
		t.Fatal(err)
	}
	learner.Observe(peer, 30*time.Millisecond) // deadline 22ms
	d := newDialer(t, dialer.Config{Learner: learner})
	d.SetExploreEvery(10 * time.Millisecond)
	c := pooledGet(t, d, srv)
	eventually(t, 5*time.Second, "the bad estimate to be dropped", func() bool {
		_, ok := learner.Estimate(peer)
		return !ok
	})
	if c.Ownership() != dialer.Idle || d.Tracked() != 1 {
		t.Fatalf("explorer closed (tracked %d, %v); stats %v", d.Tracked(), c.Ownership(), d.Stats())
	}
}

func TestEvictorClosesResetConnAsProbeRST(t *testing.T) {
	if !sockopt.Supported {
		t.Skip("probes are Linux-only")
	}
	srv := newServer(t)
	d := newDialer(t, dialer.Config{ProbeInterval: 20 * time.Millisecond})
	c := dial(t, d, srv.addr())
	l, _ := c.Lend()
	c.Return(l)
	s := srv.accept(t)
	s.SetLinger(0)
	s.Close()
	eventually(t, 5*time.Second, "eviction with reason probe_rst", func() bool {
		return d.Stats().Evictions["probe_rst"] == 1
	})
	if d.Tracked() != 0 {
		t.Fatal("evicted conn still tracked")
	}
}

// TestEvictorLeavesLentConnsAlone: a lent conn — here a request written and
// waiting for its answer far past the peer's idle deadline — is its owner's:
// the evictor never touches it. Returned idle, it is evicted (all but the
// explorer).
func TestEvictorLeavesLentConnsAlone(t *testing.T) {
	srv := newServer(t)
	learner := newLearnerWith(t, srv.addr(), 40*time.Millisecond) // deadline 30ms
	d := newDialer(t, dialer.Config{Learner: learner, ProbeInterval: 10 * time.Millisecond})
	var conns []*dialer.Conn
	var peers []net.Conn
	var leases []dialer.Lease
	for range 2 {
		c := dial(t, d, srv.addr())
		peers = append(peers, srv.accept(t))
		l, _ := c.Lend()
		if _, err := c.Write([]byte("slow request")); err != nil {
			t.Fatal(err)
		}
		conns, leases = append(conns, c), append(leases, l)
	}
	time.Sleep(120 * time.Millisecond)
	if n := d.SweepOnce(); n != 0 || d.Tracked() != 2 {
		t.Fatalf("evictor closed a lent conn (evicted %d, tracked %d)", n, d.Tracked())
	}
	for i, c := range conns {
		peers[i].Write([]byte("done")) // the answer, at last
		buf := make([]byte, 4)
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatal(err)
		}
		c.Return(leases[i])
	}
	eventually(t, 5*time.Second, "eviction once idle", func() bool { return d.Stats().Evictions["learned_idle"] == 1 })
}

// TestGivenAwayConnNeverTouched: a raw conn from DialContext, blocked in Read
// waiting for a server push far past every idle and age limit, is never
// closed by herz.
func TestGivenAwayConnNeverTouched(t *testing.T) {
	srv := newServer(t)
	d := newDialer(t, dialer.Config{IdleTimeout: 30 * time.Millisecond, MaxLifetime: 30 * time.Millisecond, ProbeInterval: 5 * time.Millisecond})
	c := dial(t, d, srv.addr())
	s := srv.accept(t)
	got := make(chan error, 1)
	go func() {
		buf := make([]byte, 4)
		_, err := io.ReadFull(c, buf)
		got <- err
	}()
	time.Sleep(200 * time.Millisecond)
	d.EvictStale()
	s.Write([]byte("push"))
	if err := <-got; err != nil {
		t.Fatalf("blocked read of a given-away conn failed: %v; stats %v", err, d.Stats())
	}
	if ev := d.Stats().Evictions; len(ev) != 0 {
		t.Fatalf("evictions %v on a given-away conn", ev)
	}
}

// TestReturnTakesOnlyTheCurrentLease: a late Return of an earlier hand-out
// never marks a conn idle while it is lent again.
func TestReturnTakesOnlyTheCurrentLease(t *testing.T) {
	srv := newServer(t)
	d := newDialer(t, dialer.Config{DisableEvictor: true})
	c := dial(t, d, srv.addr())
	if c.Ownership() != dialer.Dialed {
		t.Fatalf("new conn is %v, want dialed", c.Ownership())
	}
	l1, _ := c.Lend()
	if !c.Return(l1) || c.Ownership() != dialer.Idle {
		t.Fatal("Return of the current lease did not make the conn idle")
	}
	l2, _ := c.Lend()
	if c.Return(l1) || c.Ownership() != dialer.Lent {
		t.Fatal("a stale lease returned the conn")
	}
	if !c.Return(l2) {
		t.Fatal("current lease refused")
	}
	c.GiveAway()
	if c.Return(l2) || c.Ownership() != dialer.GivenAway {
		t.Fatal("Return after GiveAway changed the state")
	}
	if _, ok := c.Lend(); ok || c.Ownership() != dialer.GivenAway {
		t.Fatal("Lend took a conn given away for good")
	}
	got, ok := dialer.ConnOf(c)
	if !ok || got != c {
		t.Fatal("ConnOf(conn) did not find it")
	}
}

func TestEvictorEnforcesLifetime(t *testing.T) {
	srv := newServer(t)
	d := newDialer(t, dialer.Config{MaxLifetime: 50 * time.Millisecond})
	c := dial(t, d, srv.addr())
	l, _ := c.Lend()
	c.Return(l)
	srv.accept(t)
	eventually(t, 5*time.Second, "lifetime eviction", func() bool { return d.Stats().Evictions["lifetime"] == 1 })
}

func TestEvictStaleManual(t *testing.T) {
	if !sockopt.Supported {
		t.Skip("probes are Linux-only")
	}
	srv := newServer(t)
	d := newDialer(t, dialer.Config{DisableEvictor: true})
	var conns []*dialer.Conn
	for i := 0; i < 3; i++ {
		c := dial(t, d, srv.addr())
		l, _ := c.Lend()
		c.Return(l)
		conns = append(conns, c)
	}
	servers := []interface{ Close() error }{srv.accept(t), srv.accept(t), srv.accept(t)}
	servers[0].Close()
	eventually(t, 2*time.Second, "FIN to land", func() bool { return conns[0].Probe().Dead() || conns[1].Probe().Dead() || conns[2].Probe().Dead() })
	if n := d.EvictStale(); n != 1 {
		t.Fatalf("EvictStale closed %d, want 1", n)
	}
	if got := d.Stats(); got.Open != 2 || got.Evictions["probe_eof"] != 1 {
		t.Fatalf("stats %v, want 2 open and one probe_eof eviction", got)
	}
}

func TestConcurrentDialAndClose(t *testing.T) {
	srv := newServer(t)
	var swg sync.WaitGroup
	done := make(chan struct{})
	swg.Add(1)
	go func() {
		defer swg.Done()
		for {
			select {
			case c := <-srv.conns:
				swg.Add(1)
				go echo(c, time.Second, &swg)
			case <-done:
				return
			}
		}
	}()
	d := newDialer(t, dialer.Config{ProbeInterval: time.Millisecond, MaxLifetime: 30 * time.Millisecond})
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				c, err := d.DialContext(context.Background(), "tcp", srv.addr())
				if err != nil {
					t.Error(err)
					return
				}
				dc := c.(*dialer.Conn)
				l, _ := dc.Lend()
				c.Write([]byte("x"))
				buf := make([]byte, 1)
				c.SetReadDeadline(time.Now().Add(2 * time.Second))
				c.Read(buf)
				dc.Return(l)
				d.Stats()
				c.Close()
			}
		}()
	}
	wg.Wait()
	close(done)
	swg.Wait()
	if d.Tracked() != 0 {
		t.Fatalf("%d conns still tracked after all were closed", d.Tracked())
	}
}

// TestFreshConnParkedUnusedIsIdle: a conn a pool dialed and parked without
// lending it (net/http dials for a request another conn then served) is
// returned with the zero Lease; from then on it is idle: counted in
// Stats().Idle, checked by CheckIdle and evicted when the peer closes it.
// A conn fresh from DialContext is neither idle nor given away for good.
func TestFreshConnParkedUnusedIsIdle(t *testing.T) {
	srv := newServer(t)
	d := newDialer(t, dialer.Config{ProbeInterval: 5 * time.Millisecond})
	c := dial(t, d, srv.addr())
	s := srv.accept(t)
	if c.Ownership() != dialer.Dialed || d.Stats().Idle != 0 {
		t.Fatalf("fresh conn: %v, %d idle; want dialed, 0 idle", c.Ownership(), d.Stats().Idle)
	}
	if !c.Return(0) || c.Ownership() != dialer.Idle || d.Stats().Idle != 1 {
		t.Fatalf("parked conn: %v, %d idle; want idle, 1 idle", c.Ownership(), d.Stats().Idle)
	}
	s.Close()
	eventually(t, 5*time.Second, "the parked conn's eviction", func() bool { return d.Stats().Evictions["probe_eof"] == 1 })
}
