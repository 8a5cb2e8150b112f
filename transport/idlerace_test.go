package transport_test

import (
	"context"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herz-go/herz/internal/testenv"
	"github.com/herz-go/herz/transport"
)

// TestIdleCloseRacePOSTsSeeNoErrorsAndNoDuplicates is P4/P10: a server that
// closes idle keep-alive connections after 30ms, and POSTs spaced around
// that timeout, so that the server often closes a connection just as a
// request is sent on it. herz must show callers no error and the server no
// duplicate; the standard library, run side by side with the same spacing
// against its own identical server, is only logged.
func TestIdleCloseRacePOSTsSeeNoErrorsAndNoDuplicates(t *testing.T) {
	const (
		idle       = 30 * time.Millisecond
		goroutines = 4
		perG       = 500
	)
	if testing.Short() {
		t.Skip("15s soak; skipped in -short")
	}
	herzSrv := testenv.NewHTTPServer(t, testenv.HTTPOptions{IdleTimeout: idle})
	stdSrv := testenv.NewHTTPServer(t, testenv.HTTPOptions{IdleTimeout: idle})
	herz := newHerz(t, herzSrv, testenv.HTTP1, transport.Config{})
	std := stdlibFor(t, stdSrv, testenv.HTTP1)

	run := func(rt http.RoundTripper, url string) (errs int64, first error) {
		var n atomic.Int64
		var once sync.Once
		var wg sync.WaitGroup
		for range goroutines {
			wg.Go(func() {
				for range perG {
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					code, _, err := send(ctx, rt, http.MethodPost, url)
					cancel()
					if err == nil && code != http.StatusOK {
						err = &statusErr{code}
					}
					if err != nil {
						n.Add(1)
						once.Do(func() { first = err })
					}
					// 0.8..1.2 × the server's idle timeout.
					time.Sleep(time.Duration(float64(idle) * (0.8 + 0.4*rand.Float64())))
				}
			})
		}
		wg.Wait()
		return n.Load(), first
	}

	warmUp(t, herz, herzSrv, std, stdSrv)

	var herzErrs, stdErrs int64
	var herzFirst, stdFirst error
	start := time.Now()
	var wg sync.WaitGroup
	wg.Go(func() { herzErrs, herzFirst = run(herz, herzSrv.URL()) })
	wg.Go(func() { stdErrs, stdFirst = run(std, stdSrv.URL()) })
	wg.Wait()

	total := goroutines * perG
	t.Logf("%d POSTs each in %v, server idle timeout %v, spacing 0.8-1.2x", total, time.Since(start).Round(time.Millisecond), idle)
	t.Logf("herz:   %d caller-visible errors (first: %v), %d duplicates; %v", herzErrs, herzFirst, herzSrv.Duplicates(), herz.Stats())
	t.Logf("stdlib: %d caller-visible errors (first: %v), %d duplicates", stdErrs, stdFirst, stdSrv.Duplicates())
	t.Logf("conns: herz %d stdlib %d ratio %.2f", herzSrv.Conns(), stdSrv.Conns(), float64(herzSrv.Conns())/float64(stdSrv.Conns()))
	if herzErrs != 0 {
		t.Errorf("herz: %d of %d POSTs failed, want 0 (first: %v)", herzErrs, total, herzFirst)
	}
	if d := herzSrv.Duplicates(); d != 0 {
		t.Errorf("herz: server executed %d POSTs twice, want 0", d)
	}
	if d := stdSrv.Duplicates(); d != 0 {
		t.Errorf("stdlib: server executed %d POSTs twice, want 0", d)
	}
}

// warmUp lets herzSrv idle-close herz's conns until herz has learned its
// idle timeout, and stdSrv one of std's. herz learns a peer's idle timeout
// from idle conns the peer closes; before that it knows nothing, and a POST
// racing that very first close cannot be re-sent safely by anyone. A
// deadline acts once two closes at different moments agree (one close at
// an odd age, a restart's, is never a deadline), and on a loaded machine a
// close may be read late or the server may close late, so it takes up to
// 8 rounds here, as a long-running client sees within its first idle
// periods.
func warmUp(t *testing.T, herz *transport.Transport, herzSrv *testenv.HTTPServer, std http.RoundTripper, stdSrv *testenv.HTTPServer) {
	t.Helper()
	warm := func(rt http.RoundTripper, url string) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, _, err := send(ctx, rt, http.MethodGet, url); err != nil {
			t.Fatalf("warm-up GET: %v", err)
		}
	}
	peer := herzSrv.Addr()
	for range 8 {
		if _, ok := herz.Dialer().Learner().IdleDeadline(peer); ok {
			break
		}
		closes := herz.Stats().PeerCloses
		warm(herz, herzSrv.URL())
		for i := 0; i < 200 && herz.Stats().PeerCloses == closes; i++ {
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(30 * time.Millisecond) // the next close is another moment
	}
	if _, ok := herz.Dialer().Learner().IdleDeadline(peer); !ok {
		t.Fatalf("herz did not learn the server's idle timeout from 8 idle closes: %v", herz.Stats())
	}
	warm(std, stdSrv.URL())
}

type statusErr struct{ code int }

func (e *statusErr) Error() string { return "status " + http.StatusText(e.code) }
