package transport_test

import (
	"context"
	"net/http"
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
