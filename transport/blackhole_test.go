package transport_test

import (
	"context"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/herz-go/herz/internal/testenv"
	"github.com/herz-go/herz/transport"
)

// TestBlackholeDeadPooledConnFoundWithinBound is P5: in a network
// namespace, the server's port is blackholed (no ACK, FIN or RST) while the
// transport holds a pooled connection. A POST sent on it — not retried, so
// the time measured is the detection of the dead connection — must end with
// an error well before a 12s deadline: HTTP/1.1 through TCP_USER_TIMEOUT
// (adaptive default 8s), HTTP/2 through PING health checks (3s + 3s).
func TestBlackholeDeadPooledConnFoundWithinBound(t *testing.T) {
	testenv.InNetns(t, func(t *testing.T) {
		for _, p := range []testenv.Protocol{testenv.HTTP1, testenv.HTTPS} {
			t.Run(p.String(), func(t *testing.T) {
				srv := testenv.NewHTTPServer(t, testenv.HTTPOptions{Protocol: p})
				tr := newHerz(t, srv, p, transport.Config{})
				warm, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				if code, _, err := send(warm, tr, http.MethodGet, srv.URL()); err != nil || code != 200 {
					t.Fatalf("warm-up: %d, %v", code, err)
				}
				testenv.BlackholePort(t, testenv.Port(t, srv.Addr()))

				const deadline = 12 * time.Second
				ctx, cancel2 := context.WithTimeout(context.Background(), deadline)
				defer cancel2()
				start := time.Now()
				code, _, err := send(ctx, tr, http.MethodPost, srv.URL())
				took := time.Since(start)
				t.Logf("%s: POST on a blackholed pooled conn returned after %v: %d, %v", p, took.Round(time.Millisecond), code, err)
				if err == nil {
					t.Fatalf("POST through a blackhole succeeded (%d)", code)
				}
				if took >= deadline-500*time.Millisecond || ctx.Err() != nil {
					t.Errorf("dead connection not found before the %v deadline (took %v)", deadline, took)
				}
				t.Logf("%v", tr.Stats())
			})
		}
	})
}

// TestBlackholeCallerAnsweredWithinTheRetryWindow is P15: in a network
// namespace the server's whole path is blackholed (the pooled conn's
// packets and new SYNs dropped) while GETs — idempotent, so herz retries
// them — are sent with a caller deadline well past the bound: one on the
// pooled conn, one by a client with no conn yet (its first connect goes
// into the blackhole). herz's callers have their answer within
// Config.RetryWindow (default 10s), detection of the dead conn
// (TCP_USER_TIMEOUT on HTTP/1.1 and for SYNs, PINGs on h2) and retries
// included; net/http's, in the same run, wait for their deadline.
// HTTP/1.1 and h2 run side by side.
func TestBlackholeCallerAnsweredWithinTheRetryWindow(t *testing.T) {
	testenv.InNetns(t, func(t *testing.T) {
		const (
			bound    = 10 * time.Second // Config.RetryWindow's default
			deadline = 13 * time.Second // the caller's own
			margin   = 300 * time.Millisecond
		)
		var wg sync.WaitGroup
		for _, p := range []testenv.Protocol{testenv.HTTP1, testenv.HTTPS} {
			srv := testenv.NewHTTPServer(t, testenv.HTTPOptions{Protocol: p})
			herz := newHerz(t, srv, p, transport.Config{})
			std := stdlibFor(t, srv, p)
			// net/http's h2 conn into the blackhole is still blocked reading
			// when the test ends (its canceled stream keeps it from being
			// idle): close net/http's conns ourselves, or goleak sees them.
			var conns netConns
			t.Cleanup(conns.closeAll)
			std.DialContext = conns.dial
			for _, rt := range []http.RoundTripper{herz, std} {
				if code, _, err := send(context.Background(), rt, http.MethodGet, srv.URL()); err != nil || code != 200 {
					t.Fatalf("%s warm-up: %d, %v", p, code, err)
				}
			}
			// Clients with no pooled conn.
			herzFresh := newHerz(t, srv, p, transport.Config{})
			stdFresh := stdlibFor(t, srv, p)
			stdFresh.DialContext = conns.dial
			testenv.BlackholePort(t, testenv.Port(t, srv.Addr()))
			rts := []http.RoundTripper{herz, std, herzFresh, stdFresh}
			names := []string{"herz pooled", "net/http pooled", "herz fresh", "net/http fresh"}
			took := make([]time.Duration, len(rts))
			errs := make([]error, len(rts))
			for i, rt := range rts {
				wg.Go(func() {
					ctx, cancel := context.WithTimeout(context.Background(), deadline)
					defer cancel()
					start := time.Now()
					_, _, errs[i] = send(ctx, rt, http.MethodGet, srv.URL())
					took[i] = time.Since(start)
				})
			}
			defer func() { // after wg.Wait
				for i := range rts {
					t.Logf("%s whole-path blackhole, GET, %s: answered after %v (%v)", p, names[i], took[i].Round(time.Millisecond), errs[i])
				}
				t.Logf("%s herz pooled: %v", p, herz.Stats())
				for i := 0; i < len(rts); i += 2 {
					if errs[i] == nil {
						t.Errorf("%s: %s: GET through a blackhole succeeded", p, names[i])
					}
					if took[i] > bound+margin {
						t.Errorf("%s: %s: the caller waited %v, want ≤ the %v bound", p, names[i], took[i], bound)
					}
					if took[i] > took[i+1] {
						t.Errorf("%s: %s: the caller waited longer (%v) than net/http's (%v)", p, names[i], took[i], took[i+1])
					}
				}
			}()
		}
		wg.Wait()
	})
}

// netConns records the conns a net/http Transport dials, to close them all.
type netConns struct {
	mu    sync.Mutex
	conns []net.Conn
}

func (n *netConns) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err == nil {
		n.mu.Lock()
		n.conns = append(n.conns, c)
		n.mu.Unlock()
	}
	return c, err
}

func (n *netConns) closeAll() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, c := range n.conns {
		c.Close()
	}
}
