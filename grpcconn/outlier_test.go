package grpcconn_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"

	"github.com/herz-go/herz/grpcconn"
)

// threeBackends starts three echo servers (each answering after 2ms) and a
// manual resolver listing them, one per client.
func threeBackends(t *testing.T) []*echoServer {
	var srvs []*echoServer
	for _, n := range []string{"a", "b", "c"} {
		s := newEchoServer(t, n)
		s.setDelay(2 * time.Millisecond)
		srvs = append(srvs, s)
	}
	return srvs
}

func resolverFor(srvs []*echoServer) (*manual.Resolver, grpc.DialOption) {
	r := manual.NewBuilderWithScheme(fmt.Sprintf("herz%d", time.Now().UnixNano()))
	var eps []resolver.Endpoint
	for _, s := range srvs {
		eps = append(eps, resolver.Endpoint{Addresses: []resolver.Address{{Addr: s.addr}}})
	}
	r.InitialState(resolver.State{Endpoints: eps})
	return r, grpc.WithResolvers(r)
}

// load drives a client with 4 goroutines until stop is closed and counts
// the errors the callers saw.
type load struct {
	errs, calls atomic.Int64
	stop        chan struct{}
	wg          sync.WaitGroup
}

func startLoad(cc grpc.ClientConnInterface, client string) *load {
	l := &load{stop: make(chan struct{})}
	for g := range 4 {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for i := 0; ; i++ {
				select {
				case <-l.stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				err := callUnary(ctx, cc, client, fmt.Sprintf("%s-%d-%d", client, g, i))
				cancel()
				l.calls.Add(1)
				if err != nil {
					l.errs.Add(1)
				}
			}
		}()
	}
	return l
}

func (l *load) end() { close(l.stop); l.wg.Wait() }

// shares takes the calls each backend saw from client since the last call.
func shares(srvs []*echoServer, client string) []int {
	n := make([]int, len(srvs))
	for i, s := range srvs {
		n[i] = s.takeCalls(client)
	}
	return n
}

func share(n []int, i int) float64 {
	sum := 0
	for _, v := range n {
		sum += v
	}
	if sum == 0 {
		return 0
	}
	return float64(n[i]) / float64(sum)
}

// TestOutlierEjectionMovesTrafficAway is P11: three backends, one failing
// half of its calls with UNAVAILABLE, then (healed) answering 10× slower.
// Within 5s, ≥ 95% of the sick backend's share must move away (its share of
// a 1s window at most 1/3 × 5%), then return after it heals; plain grpc-go
// round_robin in the same test keeps sending it a third; never all ejected.
func TestOutlierEjectionMovesTrafficAway(t *testing.T) {
	t.Parallel()
	srvs := threeBackends(t)
	sick := srvs[1]
	rh, ropt := resolverFor(srvs)
	herz := herzClient(t, rh.Scheme()+":///backends", grpcconn.Config{
		Outlier: grpcconn.OutlierConfig{BaseEjection: 2 * time.Second, MaxEjection: 4 * time.Second},
	}, ropt)
	rp, popt := resolverFor(srvs)
	plain := plainClient(t, rp.Scheme()+":///backends", "round_robin", popt)

	hl, pl := startLoad(herz, "herz"), startLoad(plain, "plain")
	defer func() { hl.end(); pl.end() }()
	const limit = 1.0 / 3 * 0.05

	// window waits up to 5s for the sick backend's share of a 1s window of
	// herz's traffic to satisfy ok, and returns the last shares seen.
	window := func(phase string, ok func(float64) bool) {
		t.Helper()
		shares(srvs, "herz")
		shares(srvs, "plain")
		for sec := 1; sec <= 5; sec++ {
			time.Sleep(time.Second)
			h, p := shares(srvs, "herz"), shares(srvs, "plain")
			t.Logf("%s, second %d: herz %v (sick %.1f%%), plain round_robin %v (sick %.1f%%)", phase, sec, h, 100*share(h, 1), p, 100*share(p, 1))
			if ok(share(h, 1)) {
				if phase != "healed" && share(p, 1) < 0.2 {
					t.Errorf("%s: plain grpc-go moved traffic away too (%.1f%%): the scenario does not test anything", phase, 100*share(p, 1))
				}
				return
			}
		}
		t.Errorf("%s: herz did not reach the target share within 5s", phase)
	}

	// Warm up: every backend in use.
	time.Sleep(500 * time.Millisecond)
	sick.setFailRatio(0.5)
	window("failing half the time", func(s float64) bool { return s <= limit })
	sick.setFailRatio(0)
	window("healed", func(s float64) bool { return s >= 0.2 })
	sick.setDelay(20 * time.Millisecond)
	window("10x slower", func(s float64) bool { return s <= limit })
	sick.setDelay(2 * time.Millisecond)

	hl.end()
	pl.end()
	hl.stop, pl.stop = make(chan struct{}), make(chan struct{})
	st := herz.Options().Stats()
	t.Logf("herz: %d calls, %d errors; plain: %d calls, %d errors; %v", hl.calls.Load(), hl.errs.Load(), pl.calls.Load(), pl.errs.Load(), st)
	if st.Ejections == 0 {
		t.Error("no ejection counted")
	}
	herzErrRate := float64(hl.errs.Load()) / float64(hl.calls.Load())
	plainErrRate := float64(pl.errs.Load()) / float64(pl.calls.Load())
	if herzErrRate > plainErrRate {
		t.Errorf("herz callers saw more errors (%.3f%%) than plain grpc-go's (%.3f%%)", 100*herzErrRate, 100*plainErrRate)
	}
}

// TestOutlierNeverEjectsAll: when every backend fails every call, herz
// ejects at most MaxEjectedShare of them (here one of three) and keeps
// sending to the others; its callers see no more errors than plain grpc-go
// round_robin's.
func TestOutlierNeverEjectsAll(t *testing.T) {
	t.Parallel()
	srvs := threeBackends(t)
	for _, s := range srvs {
		s.setFailRatio(1)
	}
	rh, ropt := resolverFor(srvs)
	herz := herzClient(t, rh.Scheme()+":///backends", grpcconn.Config{
		Retry:          grpcconn.RetryConfig{MaxRetries: grpcconn.NoRetries},
		DisableBreaker: true,
	}, ropt)
	rp, popt := resolverFor(srvs)
	plain := plainClient(t, rp.Scheme()+":///backends", "round_robin", popt)
	hl, pl := startLoad(herz, "herz"), startLoad(plain, "plain")
	time.Sleep(time.Second)
	shares(srvs, "herz")
	time.Sleep(time.Second)
	h := shares(srvs, "herz")
	hl.end()
	pl.end()
	used := 0
	for _, n := range h {
		if n > 0 {
			used++
		}
	}
	t.Logf("all failing: herz calls per backend in the last second %v, %v; errors herz %d/%d, plain %d/%d",
		h, herz.Options().Stats(), hl.errs.Load(), hl.calls.Load(), pl.errs.Load(), pl.calls.Load())
	if used < 2 {
		t.Errorf("herz used %d of 3 backends: more than MaxEjectedShare ejected", used)
	}
	if hl.errs.Load() != hl.calls.Load() || pl.errs.Load() != pl.calls.Load() {
		t.Errorf("every call should fail in this scenario")
	}
}

// TestOutlierPanicModeUsesEjectedBackends: with one of three backends
// ejected (failing every call), stopping a second leaves one usable backend
// of three, below the 50% panic threshold: herz then spreads calls over
// every ready backend again, ejected or not, instead of piling them onto
// the last one (Envoy's panic mode).
func TestOutlierPanicModeUsesEjectedBackends(t *testing.T) {
	t.Parallel()
	srvs := threeBackends(t)
	srvs[2].setFailRatio(1)
	r, ropt := resolverFor(srvs)
	herz := herzClient(t, r.Scheme()+":///backends", grpcconn.Config{
		Retry:          grpcconn.RetryConfig{MaxRetries: grpcconn.NoRetries},
		DisableBreaker: true,
	}, ropt)
	l := startLoad(herz, "herz")
	defer l.end()
	time.Sleep(time.Second)
	before := shares(srvs, "herz")
	srvs[1].stop()
	time.Sleep(time.Second)
	shares(srvs, "herz")
	time.Sleep(time.Second)
	after := shares(srvs, "herz")
	t.Logf("calls per backend: all up, one ejected %v; one ejected and one stopped (panic) %v; %v", before, after, herz.Options().Stats())
	if share(before, 2) > 0.05 {
		t.Errorf("the failing backend was not ejected: %v", before)
	}
	if share(after, 2) < 0.2 {
		t.Errorf("panic mode: the ejected backend got %.1f%% of the calls, want them spread over both ready backends", 100*share(after, 2))
	}
}
