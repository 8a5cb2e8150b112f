package faultlab_test

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herz-go/herz/faultlab"
	"github.com/herz-go/herz/internal/testenv"
)

// soakShort is the duration of each scenario run in these tests: enough for
// tens of operations, short enough for the package's time budget.
const soakShort = 300 * time.Millisecond

// Every ready-made scenario, soaked with net/http and herz's transport in
// the same test against the same kind of backend. herz must never execute a
// POST twice, must show callers no error when the server closes idle
// connections, must be back after an outage, and must leave no more
// behind after its Close than net/http does.
func TestSoakScenariosWithStdlibAndHerz(t *testing.T) {
	for _, sc := range []faultlab.Scenario{
		faultlab.IdleCloseRace(faultlab.POSTs, 30*time.Millisecond),
		faultlab.ResetStorm(10),
		faultlab.OutageAndReturn(),
		faultlab.Storm503("1"),
		faultlab.SlowBackend(),
		faultlab.GoAwayRestarts(2),
	} {
		sc.Duration = soakShort
		t.Run(sc.Name, func(t *testing.T) {
			res := map[string]*faultlab.Result{}
			for _, ck := range clientKinds {
				r, err := faultlab.Soak(context.Background(), sc, ck.new)
				if err != nil {
					t.Fatalf("%s: %v", ck.name, err)
				}
				t.Logf("%s %s", ck.name, r)
				res[ck.name] = r
				if r.Ops == 0 || len(r.Latencies) != r.Ops || r.NewConns == 0 {
					t.Errorf("%s: ops=%d latencies=%d new-conns=%d, want a workload that ran", ck.name, r.Ops, len(r.Latencies), r.NewConns)
				}
				if r.RecoveryMarked != (sc.Name == "outage-and-return") || (r.RecoveryMarked && !r.Recovered) {
					t.Errorf("%s: recovery marked=%v recovered=%v", ck.name, r.RecoveryMarked, r.Recovered)
				}
			}
			herz, std := res["herz"], res["stdlib"]
			if herz.LeftFDs > std.LeftFDs || herz.LeftGoroutines > std.LeftGoroutines {
				t.Errorf("herz left %d descriptors and %d goroutines 1s after its Close, stdlib %d and %d",
					herz.LeftFDs, herz.LeftGoroutines, std.LeftFDs, std.LeftGoroutines)
			}
			if herz.Duplicates != 0 {
				t.Errorf("herz executed %d POSTs twice, want 0", herz.Duplicates)
			}
			if herz.Duplicates > std.Duplicates {
				t.Errorf("herz dups %d > stdlib's %d", herz.Duplicates, std.Duplicates)
			}
			// A run here is ~40 POSTs, and herz acts on a learned idle
			// deadline only once two of the server's closes agree (one
			// close may be a restart), so the race can hit it once before
			// that, as it hits net/http; the two runs race independently,
			// so one error either way is noise. 0 errors over thousands of
			// POSTs is transport's TestIdleCloseRacePOSTsSeeNoErrorsAndNoDuplicates.
			if strings.HasPrefix(sc.Name, "idle-close") && herz.Errors > std.Errors+1 {
				t.Errorf("herz: %d errors against a server closing idle conns, stdlib %d", herz.Errors, std.Errors)
			}
			if sc.Name == "slow-backend" && len(herz.ServerRequests) != 3 {
				t.Errorf("server requests %v, want 3 backends", herz.ServerRequests)
			}
		})
	}
}

// A scenario for your own server: a raw TCP client (here against an echo
// server) soaked through a proxy that resets every connection for a tenth
// of the run. Proves Upstreams, Steps, ClientFunc and the error accounting.
func TestSoakProxyFaultsOnYourOwnUpstream(t *testing.T) {
	e := testenv.NewEchoServer(t)
	sc := faultlab.ProxyFaults(faultlab.ResetAll(), 0.3, 0.5, e.Addr())
	sc.Duration = soakShort
	newClient := func(tgt faultlab.Target) (faultlab.Client, error) {
		if len(tgt.Addrs) != 1 || tgt.Addrs[0] == e.Addr() || len(tgt.URLs) != 0 {
			t.Errorf("target %+v: want the proxy's address only", tgt)
		}
		var mu sync.Mutex
		var conn net.Conn // one shared conn, redialled after a failure: a tiny pool
		do := func(ctx context.Context, op faultlab.Op) error {
			mu.Lock()
			defer mu.Unlock()
			if conn == nil {
				var d net.Dialer
				c, err := d.DialContext(ctx, "tcp", op.Addr)
				if err != nil {
					return err
				}
				conn = c
			}
			dl, _ := ctx.Deadline()
			_ = conn.SetDeadline(dl)
			buf := make([]byte, 4)
			_, err := conn.Write([]byte("ping"))
			if err == nil {
				_, err = io.ReadFull(conn, buf)
			}
			if err != nil {
				conn.Close()
				conn = nil
			}
			return err
		}
		closeFn := func() error {
			mu.Lock()
			defer mu.Unlock()
			if conn != nil {
				return conn.Close()
			}
			return nil
		}
		return faultlab.ClientFunc(do, closeFn), nil
	}
	r, err := faultlab.Soak(context.Background(), sc, newClient)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(r)
	if r.LeftFDs != 0 || r.LeftGoroutines != 0 {
		t.Errorf("left %d fds and %d goroutines after Close", r.LeftFDs, r.LeftGoroutines)
	}
	if r.Errors == 0 || r.Errors == r.Ops || r.NewConns < 2 {
		t.Errorf("errors=%d of %d ops, new conns=%d: want some errors during the resets and successes around them, and redials",
			r.Errors, r.Ops, r.NewConns)
	}
	if r.Duplicates != 0 || len(r.ServerRequests) != 0 {
		t.Errorf("dups=%d server requests=%v, want none for an upstream", r.Duplicates, r.ServerRequests)
	}
}

func TestSoakRejectsBadScenariosNamingTheField(t *testing.T) {
	never := func(faultlab.Target) (faultlab.Client, error) {
		t.Error("client built for a bad scenario")
		return nil, errors.New("unreachable")
	}
	for _, tc := range []struct {
		sc    faultlab.Scenario
		field string
	}{
		{faultlab.Scenario{Workers: -1}, "Scenario.Workers"},
		{faultlab.Scenario{Duration: -1}, "Scenario.Duration"},
		{faultlab.Scenario{MaxOps: -1}, "Scenario.MaxOps"},
		{faultlab.Scenario{OpTimeout: -1}, "Scenario.OpTimeout"},
		{faultlab.Scenario{Warmup: -1}, "Scenario.Warmup"},
		{faultlab.Scenario{Mix: 9}, "Scenario.Mix"},
		{faultlab.Scenario{Steps: []faultlab.Step{{At: 1.5}}}, "Scenario.Steps[0].At"},
		{faultlab.Scenario{Backends: []faultlab.HTTPOptions{{Delay: -1}}}, "Scenario.Backends[0].Delay"},
		{faultlab.Scenario{Backends: []faultlab.HTTPOptions{{}}, Upstreams: []string{"127.0.0.1:1"}}, "Scenario.Upstreams"},
	} {
		t.Run(tc.field, func(t *testing.T) {
			_, err := faultlab.Soak(context.Background(), tc.sc, never)
			if err == nil || !strings.Contains(err.Error(), tc.field) || !strings.HasPrefix(err.Error(), "herz/faultlab: ") {
				t.Errorf("err = %v, want one naming %s", err, tc.field)
			}
		})
	}
}

// A client that fails to build, or a context that ends, is an error, and
// the run's servers are gone either way (goleak in TestMain).
func TestSoakReportsSetupFailuresAndCancellation(t *testing.T) {
	boom := errors.New("boom")
	_, err := faultlab.Soak(context.Background(), faultlab.Scenario{}, func(faultlab.Target) (faultlab.Client, error) {
		return nil, boom
	})
	if !errors.Is(err, boom) {
		t.Errorf("client constructor failure: %v, want it wrapped", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	r, err := faultlab.Soak(ctx, faultlab.Scenario{Duration: time.Minute}, stdlibClient)
	if !errors.Is(err, context.DeadlineExceeded) || r == nil || r.Ops == 0 {
		t.Errorf("canceled soak: result %v, err %v; want the partial result and the context's error", r, err)
	}
}

func TestResultPercentilesAndString(t *testing.T) {
	r := &faultlab.Result{Scenario: "x", Ops: 4, Errors: 1, ErrorSamples: map[string]int{"EOF": 1},
		Latencies: []time.Duration{1 * time.Millisecond, 2 * time.Millisecond, 3 * time.Millisecond, 4 * time.Millisecond}}
	if r.Percentile(0.5) != 2*time.Millisecond || r.Percentile(0.99) != 4*time.Millisecond || r.Percentile(0) != time.Millisecond {
		t.Errorf("percentiles p0=%v p50=%v p99=%v", r.Percentile(0), r.Percentile(0.5), r.Percentile(0.99))
	}
	if r.ErrorRatio() != 0.25 || (&faultlab.Result{}).ErrorRatio() != 0 || (&faultlab.Result{}).Percentile(0.5) != 0 {
		t.Errorf("ErrorRatio = %v", r.ErrorRatio())
	}
	if s := r.String(); !strings.HasPrefix(s, "x: ops=4 errors=1 (0.2500/op)") || !strings.Contains(s, "1× EOF") {
		t.Errorf("String() = %q", s)
	}
}

func TestShortenKeepsTheCause(t *testing.T) {
	got := faultlab.Shorten(`Post "http://127.0.0.1:1/": read tcp 127.0.0.1:2->[::1]:15: read: connection reset by peer`)
	if got != "read tcp ADDR->ADDR: read: connection reset by peer" {
		t.Errorf("Shorten = %q", got)
	}
}

// Run is what users call from their benchmarks: every documented metric
// must reach the benchmark result.
func TestRunReportsEveryMetric(t *testing.T) {
	sc := faultlab.OutageAndReturn()
	sc.Backends = []faultlab.HTTPOptions{{}, {}} // two backends: srv-reqs/op per backend too
	sc.ReportShare = true
	sc.Duration = time.Second // one iteration at the default -benchtime
	var last *faultlab.Result
	br := testing.Benchmark(func(b *testing.B) { last = faultlab.Run(b, sc, stdlibClient) })
	if br.N == 0 || last == nil {
		t.Fatalf("benchmark did not run: %+v", br)
	}
	for _, m := range []string{"reqs", "errors/op", "dups", "p50-ms", "p99-ms", "new-conns", "srv-reqs/op",
		"slow-share-%", "recover-ms", "leaked-goroutines", "leaked-fds"} {
		if _, ok := br.Extra[m]; !ok {
			t.Errorf("metric %q not reported; got %v", m, br.Extra)
		}
	}
	if got := br.Extra["reqs"]; got != float64(last.Ops) {
		t.Errorf("reqs = %v, want the last run's %d", got, last.Ops)
	}
}
