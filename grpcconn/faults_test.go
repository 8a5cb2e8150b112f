package grpcconn_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"

	"github.com/herz-go/herz/dialer"
	"github.com/herz-go/herz/grpcconn"
)

// TestAggressiveKeepaliveNoTooManyPings: the server enforces grpc-go's
// default keepalive policy (MinTime 5 min); both clients ask for pings every
// 10s (grpc-go's minimum) during a quiet 45s server stream. Plain grpc-go's
// third early ping draws GOAWAY ENHANCE_YOUR_CALM "too_many_pings" and the
// stream dies; herz raises the interval to the servers' minimum and relies
// on TCP keepalive and TCP_USER_TIMEOUT for dead peers: no GOAWAY, the
// stream lives. (45s of wall time: the scenario starts before t.Parallel,
// so the other tests run meanwhile.)
func TestAggressiveKeepaliveNoTooManyPings(t *testing.T) {
	if testing.Short() {
		t.Skip("45s: skipped with -short")
	}
	herzSrv := newEchoServer(t, "herz", grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{}))
	plainSrv := newEchoServer(t, "plain", grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{}))
	aggressive := keepalive.ClientParameters{Time: 10 * time.Second, Timeout: 5 * time.Second}
	herz := herzClient(t, herzSrv.addr, grpcconn.Config{Keepalive: grpcconn.KeepaliveConfig{Time: aggressive.Time, Timeout: aggressive.Timeout}})
	plain := plainClient(t, plainSrv.addr, "", grpc.WithKeepaliveParams(aggressive))
	// A herz client told, wrongly, that the server permits 10s pings: it
	// is killed like plain grpc-go, and its Stats say why.
	wrongSrv := newEchoServer(t, "wrong", grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{}))
	wrong := herzClient(t, wrongSrv.addr, grpcconn.Config{Keepalive: grpcconn.KeepaliveConfig{ServerMinTime: 10 * time.Second}})

	// The server sends its headers at once and nothing else for 45s: the
	// clients' keepalive pings start after 10s of silence.
	var wg sync.WaitGroup
	errs := map[string]error{}
	var mu sync.Mutex
	for name, cc := range map[string]grpc.ClientConnInterface{"herz": herz, "plain": plain, "wrong": wrong} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
			defer cancel()
			err := quietStream(ctx, cc, 45*time.Second)
			mu.Lock()
			errs[name] = err
			mu.Unlock()
		}()
	}
	// Start the 45s scenario first, then let the other tests run meanwhile.
	t.Parallel()
	wg.Wait()
	t.Logf("herz: %v (GOAWAYs %d, too_many_pings %d); plain grpc-go: %v (GOAWAYs %d, too_many_pings %d)",
		errs["herz"], herzSrv.goaways.Load(), herzSrv.tooManyPings.Load(), errs["plain"], plainSrv.goaways.Load(), plainSrv.tooManyPings.Load())
	if errs["herz"] != nil || herzSrv.tooManyPings.Load() != 0 {
		t.Errorf("herz: %v, %d too_many_pings GOAWAYs; want none", errs["herz"], herzSrv.tooManyPings.Load())
	}
	if plainSrv.tooManyPings.Load() == 0 {
		t.Errorf("plain grpc-go got no too_many_pings GOAWAY: the scenario does not test anything")
	}
	st := wrong.Options().Stats()
	t.Logf("herz with ServerMinTime 10s against the default policy: %v (too_many_pings GOAWAYs %d); %v", errs["wrong"], wrongSrv.tooManyPings.Load(), st)
	if wrongSrv.tooManyPings.Load() > 0 && st.TooManyPings == 0 {
		t.Errorf("the server sent too_many_pings but Stats.TooManyPings is 0")
	}
}

// TestRestartFastUnavailableNoDuplicates is P14 and P10 for gRPC: a server
// is stopped for 2s and restarted on the same port while a herz client and
// a plain grpc-go client call it. While it is down, calls fail fast with
// UNAVAILABLE; the first success comes ≤ 1s after it is back; no unary the
// server executed is executed twice (a server-side counter per request).
func TestRestartFastUnavailableNoDuplicates(t *testing.T) {
	t.Parallel()
	srv := newEchoServer(t, "restart")
	srv.setDelay(2 * time.Millisecond)
	herz := herzClient(t, srv.addr, grpcconn.Config{})
	plain := plainClient(t, srv.addr, "")

	type result struct {
		at, took time.Duration
		err      error
	}
	var mu sync.Mutex
	results := map[string][]result{}
	start := time.Now()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, c := range []struct {
		name string
		cc   grpc.ClientConnInterface
	}{{"herz", herz}, {"plain", plain}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-time.After(10 * time.Millisecond):
				}
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				t0 := time.Now()
				err := callUnary(ctx, c.cc, c.name, fmt.Sprintf("%s-%d", c.name, i))
				cancel()
				mu.Lock()
				results[c.name] = append(results[c.name], result{at: t0.Sub(start), took: time.Since(t0), err: err})
				mu.Unlock()
			}
		}()
	}
	time.Sleep(500 * time.Millisecond)
	downAt := time.Since(start)
	srv.stop()
	time.Sleep(2 * time.Second)
	srv.restart(t)
	backAt := time.Since(start)
	time.Sleep(2500 * time.Millisecond)
	close(stop)
	wg.Wait()

	firstSuccess := func(name string) (time.Duration, time.Duration, int) {
		var slowest time.Duration
		failed := 0
		for _, r := range results[name] {
			if r.at > downAt+200*time.Millisecond && r.at < backAt && r.err != nil {
				failed++
				if status.Code(r.err) != codes.Unavailable {
					t.Errorf("%s: while down: %v, want UNAVAILABLE", name, r.err)
				}
				slowest = max(slowest, r.took)
			}
		}
		for _, r := range results[name] {
			if r.at >= backAt && r.err == nil {
				return r.at + r.took - backAt, slowest, failed
			}
		}
		return -1, slowest, failed
	}
	h, hSlow, hFailed := firstSuccess("herz")
	p, pSlow, pFailed := firstSuccess("plain")
	t.Logf("first success after restart: herz %v, plain grpc-go %v; slowest failure while down: herz %v (%d failed), plain %v (%d failed); %v",
		h.Round(time.Millisecond), p.Round(time.Millisecond), hSlow.Round(time.Millisecond), hFailed, pSlow.Round(time.Millisecond), pFailed, herz.Options().Stats())
	if h < 0 || h > time.Second {
		t.Errorf("herz: first success %v after the server was back, want ≤ 1s", h)
	}
	if p >= 0 && h > max(p, time.Second) {
		t.Errorf("herz (%v) recovered later than plain grpc-go (%v) and past the bound", h, p)
	}
	if hSlow > time.Second {
		t.Errorf("herz: a call took %v to fail while the server was down, want fast UNAVAILABLE", hSlow)
	}
	if d := srv.duplicates(); d != 0 {
		t.Errorf("%d requests executed more than once", d)
	}
}

// quietStream opens a server stream that sends one message after d and
// reads it to the end.
func quietStream(ctx context.Context, cc grpc.ClientConnInterface, d time.Duration) error {
	cs, err := cc.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, "/herz.test.Echo/Quiet", grpc.ForceCodec(rawCodec{}))
	if err != nil {
		return err
	}
	req := []byte(d.String())
	if err := cs.SendMsg(&req); err != nil {
		return err
	}
	if err := cs.CloseSend(); err != nil {
		return err
	}
	for {
		var m []byte
		if err := cs.RecvMsg(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// TestLongStreamsNeverCut: 3s server streams through herz with a dialer
// that closes idle connections after 300ms, gives connections a lifetime
// of 500ms and probes every 100ms are received to the end, as with plain
// grpc-go: the expired connection is drained (new calls go to a new
// connection, the streams finish on the old one), never cut.
func TestLongStreamsNeverCut(t *testing.T) {
	t.Parallel()
	srv := newEchoServer(t, "stream")
	herz := herzClient(t, srv.addr, grpcconn.Config{Dialer: dialer.Config{
		IdleTimeout: 300 * time.Millisecond, MaxLifetime: 500 * time.Millisecond, ProbeInterval: 100 * time.Millisecond,
	}})
	plain := plainClient(t, srv.addr, "")
	var wg sync.WaitGroup
	got := map[string]int{}
	errs := map[string]error{}
	var mu sync.Mutex
	for name, cc := range map[string]grpc.ClientConnInterface{"herz": herz, "plain": plain} {
		for i := range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				n, err := countStream(cc, 3*time.Second)
				mu.Lock()
				got[fmt.Sprintf("%s-%d", name, i)] = n
				if err != nil {
					errs[name] = err
				}
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	t.Logf("messages per stream: %v; errors: %v; %v", got, errs, herz.Options().Dialer().Stats())
	if errs["herz"] != nil {
		t.Errorf("herz stream cut: %v", errs["herz"])
	}
	if st := herz.Options().Stats(); st.Drains == 0 || herz.Options().Dialer().Stats().Dials < 2 {
		t.Errorf("no connection was drained at its 500ms lifetime (%v, %v): the scenario does not test anything", st, herz.Options().Dialer().Stats())
	}
	for k, n := range got {
		if n < 13 {
			t.Errorf("%s received %d messages, want ≥ 13 of a 3s stream", k, n)
		}
	}
}

func countStream(cc grpc.ClientConnInterface, d time.Duration) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d+5*time.Second)
	defer cancel()
	cs, err := cc.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, streamMethod, grpc.ForceCodec(rawCodec{}))
	if err != nil {
		return 0, err
	}
	req := []byte(d.String())
	if err := cs.SendMsg(&req); err != nil {
		return 0, err
	}
	cs.CloseSend()
	n := 0
	for {
		var m []byte
		if err := cs.RecvMsg(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return n, nil
			}
			return n, err
		}
		n++
	}
}

var _ atomic.Int64

// TestLifetimeDrainUnderLoadNoErrors: with a 300ms connection lifetime, a
// single backend and 4 callers for 3s, herz drains and replaces its
// connection several times and the callers see no error, like plain
// grpc-go (which never replaces its connection).
func TestLifetimeDrainUnderLoadNoErrors(t *testing.T) {
	t.Parallel()
	srv := newEchoServer(t, "lifetime")
	srv.setDelay(time.Millisecond)
	herz := herzClient(t, srv.addr, grpcconn.Config{Dialer: dialer.Config{MaxLifetime: 300 * time.Millisecond}})
	plain := plainClient(t, srv.addr, "")
	hl, pl := startLoad(herz, "herz"), startLoad(plain, "plain")
	time.Sleep(3 * time.Second)
	hl.end()
	pl.end()
	st := herz.Options().Stats()
	t.Logf("herz: %d calls, %d errors, %v, %v; plain: %d calls, %d errors", hl.calls.Load(), hl.errs.Load(), st, herz.Options().Dialer().Stats(), pl.calls.Load(), pl.errs.Load())
	if hl.errs.Load() > pl.errs.Load() {
		t.Errorf("herz callers saw %d errors, plain grpc-go's %d", hl.errs.Load(), pl.errs.Load())
	}
	if st.Drains < 2 { // lifetimes are checked every Outlier.Interval (1s)
		t.Errorf("%d drains in 3s with a 300ms lifetime, want ≥ 2", st.Drains)
	}
	if d := srv.duplicates(); d != 0 {
		t.Errorf("%d requests executed more than once", d)
	}
}
