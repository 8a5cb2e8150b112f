package dialer_test

import (
	"context"
	"io"
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

func get(t testing.TB, c *http.Client, url string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

// TestLearnerLearnsServerIdleTimeout: connections dialed through herz go idle
// and are closed by a net/http server with IdleTimeout 300ms; the idle age at
// each close is a sample, and the learned estimate lands within ±20% of 300ms.
func TestLearnerLearnsServerIdleTimeout(t *testing.T) {
	const serverIdle = 300 * time.Millisecond
	srv := idleServer(t, serverIdle)
	peer := srv.Listener.Addr().String()
	d := newDialer(t, dialer.Config{DisableEvictor: true})
	tr := &http.Transport{DialContext: d.DialContext}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	for i := 0; i < 4; i++ {
		before := d.Stats().PeerCloses
		get(t, client, srv.URL)
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

// TestEvictorClosesBeforeServerOnceLearned: once the deadline is learned, herz
// closes idle conns before the server does.
func TestEvictorClosesBeforeServerOnceLearned(t *testing.T) {
	const serverIdle = 200 * time.Millisecond
	srv := idleServer(t, serverIdle)
	d := newDialer(t, dialer.Config{})
	tr := &http.Transport{DialContext: d.DialContext}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	peer := srv.Listener.Addr().String()
	for i := 0; i < 10; i++ {
		if _, ok := d.Learner().IdleDeadline(peer); ok {
			break
		}
		before := d.Stats().PeerCloses
		get(t, client, srv.URL)
		eventually(t, 5*time.Second, "the server to idle-close the conn", func() bool {
			return d.Stats().PeerCloses > before
		})
	}
	if _, ok := d.Learner().IdleDeadline(peer); !ok {
		t.Fatal("deadline not learned after 10 idle closes")
	}
	peerCloses := d.Stats().PeerCloses
	for i := 0; i < 3; i++ {
		before := d.Stats().Evictions["learned_idle"]
		get(t, client, srv.URL)
		eventually(t, 5*time.Second, "the evictor to close the idle conn", func() bool {
			return d.Stats().Evictions["learned_idle"] > before
		})
	}
	if got := d.Stats().PeerCloses; got != peerCloses {
		t.Fatalf("the server closed %d conns after the deadline was learned; herz must close first", got-peerCloses)
	}
}

func TestEvictorClosesResetConnAsProbeRST(t *testing.T) {
	if !sockopt.Supported {
		t.Skip("probes are Linux-only")
	}
	srv := newServer(t)
	d := newDialer(t, dialer.Config{ProbeInterval: 20 * time.Millisecond})
	dial(t, d, srv.addr())
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

func TestEvictorLeavesBusyConnsAlone(t *testing.T) {
	srv := newServer(t)
	learner := newLearnerWith(t, srv.addr(), 40*time.Millisecond) // deadline 30ms
	d := newDialer(t, dialer.Config{Learner: learner, ProbeInterval: 10 * time.Millisecond})
	c := dial(t, d, srv.addr())
	s := srv.accept(t)
	// A request in flight: written, no response yet. Far past the deadline.
	if _, err := c.Write([]byte("slow request")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(120 * time.Millisecond)
	if n := d.SweepOnce(); n != 0 || d.Tracked() != 1 {
		t.Fatalf("evictor closed a busy conn (evicted %d, tracked %d)", n, d.Tracked())
	}
	// The response arrives: now it is idle and past the deadline soon.
	buf := make([]byte, 12)
	io.ReadFull(s, buf)
	s.Write([]byte("done"))
	io.ReadFull(c, buf[:4])
	eventually(t, 5*time.Second, "eviction once idle", func() bool { return d.Tracked() == 0 })
	if d.Stats().Evictions["learned_idle"] != 1 {
		t.Fatalf("stats %v, want one learned_idle eviction", d.Stats())
	}
}

func TestEvictorEnforcesLifetime(t *testing.T) {
	srv := newServer(t)
	d := newDialer(t, dialer.Config{MaxLifetime: 50 * time.Millisecond})
	dial(t, d, srv.addr())
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
		conns = append(conns, dial(t, d, srv.addr()))
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
				c.Write([]byte("x"))
				buf := make([]byte, 1)
				c.SetReadDeadline(time.Now().Add(2 * time.Second))
				c.Read(buf)
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
