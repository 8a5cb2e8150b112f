package benchmarks_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herz-go/herz/internal/testenv"
)

// defaultSoak is the duration of one scenario × client run when HERZ_SOAK
// is not set: short, so that `make bench` stays fast. `make soak` sets it
// long.
const defaultSoak = 2 * time.Second

// maxOps bounds the requests of one run, whatever its duration.
const maxOps = 500_000

// soakDuration reads HERZ_SOAK (a Go duration).
func soakDuration(tb testing.TB) time.Duration {
	v := os.Getenv("HERZ_SOAK")
	if v == "" {
		return defaultSoak
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		tb.Fatalf("HERZ_SOAK=%q: want a positive Go duration such as 30s", v)
	}
	return d
}

// method says what a scenario sends.
type method int

const (
	get   method = iota // GET only
	post                // POST only, each with a unique X-Request-Id and a replayable body
	mixed               // alternating GET and POST (only POSTs carry an ID)
)

// soakEnv is what a running scenario's fault driver may act on.
type soakEnv struct {
	srvs      []*testenv.HTTPServer
	start     time.Time
	d         time.Duration
	restartAt atomic.Int64 // ns since start when the server came back; 0: not yet
}

// scenario is one HTTP soak scenario.
type scenario struct {
	name    string
	servers []testenv.HTTPOptions // one or more backends; requests round-robin over them
	method  method
	workers int
	gap     func(r *rand.Rand) time.Duration // pause of each worker between its requests
	fault   func(ctx context.Context, e *soakEnv)
	// warmup, if set: one GET per backend, then this pause before the
	// measured run, for every client alike. A client that learns a server's
	// idle timeout (herz) needs to have seen it once; a long-running service
	// has, within its first idle period.
	warmup time.Duration
}

// at sleeps until frac of the run has passed; false if ctx ended first.
func (e *soakEnv) at(ctx context.Context, frac float64) bool {
	t := time.NewTimer(time.Until(e.start.Add(time.Duration(frac * float64(e.d)))))
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// around returns a gap uniformly in [0.9d, 1.1d]: requests spaced tightly
// around d, so many of them race a server-side close after d of idleness.
func around(d time.Duration) func(*rand.Rand) time.Duration {
	return func(r *rand.Rand) time.Duration {
		return time.Duration(float64(d) * (0.9 + 0.2*r.Float64()))
	}
}

func fixed(d time.Duration) func(*rand.Rand) time.Duration {
	return func(*rand.Rand) time.Duration { return d }
}

const idleTimeout = 30 * time.Millisecond

// httpScenarios are the HTTP soak scenarios, in the order they run.
var httpScenarios = []scenario{
	{
		// P4: the server closes idle keep-alive connections at about the
		// request spacing, so requests race the server's close.
		name:    "idle-close-post",
		servers: []testenv.HTTPOptions{{IdleTimeout: idleTimeout}},
		method:  post, workers: 4, gap: around(idleTimeout), warmup: 3 * idleTimeout,
	},
	{
		name:    "idle-close-get",
		servers: []testenv.HTTPOptions{{IdleTimeout: idleTimeout}},
		method:  get, workers: 4, gap: around(idleTimeout), warmup: 3 * idleTimeout,
	},
	{
		// Every 10th request is executed, then its connection reset: a
		// client that re-sends such a POST executes it twice (P10).
		name:    "rst-storm",
		servers: []testenv.HTTPOptions{{ResetEvery: 10}},
		method:  mixed, workers: 4, gap: fixed(2 * time.Millisecond),
	},
	{
		// The server crashes at 1/3 of the run and is back on the same port
		// at 2/3; recover-ms is how long after its return the first request
		// succeeded.
		name:    "outage-and-return",
		servers: []testenv.HTTPOptions{{}},
		method:  mixed, workers: 4, gap: fixed(5 * time.Millisecond),
		fault: func(ctx context.Context, e *soakEnv) {
			if !e.at(ctx, 1.0/3) {
				return
			}
			e.srvs[0].Stop()
			if !e.at(ctx, 2.0/3) {
				e.srvs[0].Restart()
				return
			}
			e.srvs[0].Restart()
			e.restartAt.Store(int64(time.Since(e.start)))
		},
	},
	{
		// 503 with Retry-After: 1 from 1/4 to 3/4 of the run; srv-reqs/op
		// shows how much the client multiplied the load (P9).
		name:    "503-storm",
		servers: []testenv.HTTPOptions{{}},
		method:  mixed, workers: 4, gap: fixed(5 * time.Millisecond),
		fault: func(ctx context.Context, e *soakEnv) {
			if e.at(ctx, 0.25) {
				e.srvs[0].SetStatus(http.StatusServiceUnavailable, "1")
				e.at(ctx, 0.75)
			}
			e.srvs[0].SetStatus(0, "")
		},
	},
	{
		// One backend of three is 10× slower; the caller round-robins over
		// the three base URLs. slow-share is the share of requests the slow
		// one served (P11 wants it moved away: ≤ 5%).
		name: "slow-backend",
		servers: []testenv.HTTPOptions{
			{Delay: 2 * time.Millisecond}, {Delay: 2 * time.Millisecond}, {Delay: 20 * time.Millisecond},
		},
		method: get, workers: 4, gap: fixed(0),
	},
}

// soakResult is what one scenario × client run measured.
type soakResult struct {
	ops, errs  int
	errSamples map[string]int // error text (shortened) → count
	lat        []time.Duration
	dups       int
	srvReqs    []int // requests each server saw
	recover    time.Duration
	hasRecover bool
	// neverRecovered: the server came back but no request succeeded after.
	neverRecovered bool
	leakedG        int
	leakedFDs      int
	clientSecond   time.Duration // wall time of the run, tail included
}

func (r *soakResult) percentile(q float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	i := int(q*float64(len(r.lat))+0.999999) - 1
	return r.lat[max(0, min(i, len(r.lat)-1))]
}

func (r *soakResult) errRatio() float64 {
	if r.ops == 0 {
		return 0
	}
	return float64(r.errs) / float64(r.ops)
}

func (r *soakResult) totalSrvReqs() int {
	n := 0
	for _, v := range r.srvReqs {
		n += v
	}
	return n
}

// summary is a one-line human form for t.Log.
func (r *soakResult) summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "reqs=%d errors=%d (%.4f/op) dups=%d p50=%v p99=%v srv-reqs=%d",
		r.ops, r.errs, r.errRatio(), r.dups, r.percentile(0.5).Round(10*time.Microsecond),
		r.percentile(0.99).Round(10*time.Microsecond), r.totalSrvReqs())
	if len(r.srvReqs) > 1 {
		fmt.Fprintf(&b, " per-server=%v", r.srvReqs)
	}
	if r.hasRecover {
		fmt.Fprintf(&b, " recover=%v", r.recover.Round(time.Millisecond))
	}
	if r.neverRecovered {
		b.WriteString(" recover=never (no success after the restart)")
	}
	fmt.Fprintf(&b, " leaked-goroutines=%d leaked-fds=%d", r.leakedG, r.leakedFDs)
	if len(r.errSamples) > 0 {
		keys := make([]string, 0, len(r.errSamples))
		for k := range r.errSamples {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool { return r.errSamples[keys[i]] > r.errSamples[keys[j]] })
		if len(keys) > 3 {
			keys = keys[:3]
		}
		for _, k := range keys {
			fmt.Fprintf(&b, "\n\t%d× %s", r.errSamples[k], k)
		}
	}
	return b.String()
}

// payload is the POST body; each request reads it through its own
// bytes.Reader, so http.NewRequest sets GetBody and the body is replayable.
var payload = bytes.Repeat([]byte("herz"), 64)

// runSoak runs scenario sc against client kind ck for d. It returns a
// non-empty skip reason when the client cannot run.
func runSoak(tb testing.TB, sc scenario, ck clientKind, d time.Duration) (*soakResult, string) {
	e := &soakEnv{d: d}
	for _, o := range sc.servers {
		e.srvs = append(e.srvs, testenv.NewHTTPServer(tb, o))
	}
	g0, fd0 := testenv.Goroutines(), testenv.OpenFDs()
	c, skip := ck.build(e.srvs[0].ClientTLSConfig())
	if skip != "" {
		return nil, skip
	}
	// A request may outlive the run by this much (retry sleeps included).
	reqTimeout := min(max(2*d, time.Second), 10*time.Second)

	var (
		mu        sync.Mutex
		res       = &soakResult{errSamples: map[string]int{}}
		seq       atomic.Int64
		firstOK   atomic.Int64
		wg        sync.WaitGroup
		urls      = make([]string, len(e.srvs))
		ctx, stop = context.WithCancel(context.Background())
	)
	defer stop()
	for i, s := range e.srvs {
		urls[i] = s.URL() + "/"
	}
	if sc.warmup > 0 {
		for i, u := range urls {
			if err := doOne(c, http.MethodGet, u, fmt.Sprintf("%s-warmup-%d", ck.name, i), reqTimeout); err != nil {
				tb.Fatalf("%s warm-up GET: %v", ck.name, err)
			}
		}
		time.Sleep(sc.warmup)
	}
	e.start = time.Now()
	if sc.fault != nil {
		wg.Add(1)
		go func() { defer wg.Done(); sc.fault(ctx, e) }()
	}
	var workers sync.WaitGroup
	for w := range sc.workers {
		workers.Add(1)
		go func() {
			defer workers.Done()
			r := rand.New(rand.NewPCG(uint64(w), 42))
			var lat []time.Duration
			errs, ops := 0, 0
			samples := map[string]int{}
			for i := 0; time.Since(e.start) < d; i++ {
				n := seq.Add(1)
				if n > maxOps {
					break
				}
				m := http.MethodGet
				if sc.method == post || (sc.method == mixed && n%2 == 0) {
					m = http.MethodPost
				}
				url := urls[int(n)%len(urls)]
				t0 := time.Now()
				err := doOne(c, m, url, fmt.Sprintf("%s-%d", ck.name, n), reqTimeout)
				el := time.Since(t0)
				ops++
				lat = append(lat, el)
				if err != nil {
					errs++
					samples[shorten(err.Error())]++
				} else if ra := e.restartAt.Load(); ra != 0 {
					firstOK.CompareAndSwap(0, int64(time.Since(e.start))-ra+1) // +1: 0 means none yet
				}
				if g := sc.gap(r); g > 0 {
					time.Sleep(g)
				}
			}
			mu.Lock()
			res.ops += ops
			res.errs += errs
			res.lat = append(res.lat, lat...)
			for k, v := range samples {
				res.errSamples[k] += v
			}
			mu.Unlock()
		}()
	}
	workers.Wait()
	stop()
	wg.Wait()
	res.clientSecond = time.Since(e.start)
	slices.Sort(res.lat)
	for _, s := range e.srvs {
		res.dups += s.Duplicates()
		res.srvReqs = append(res.srvReqs, s.Requests())
	}
	if sc.name == "outage-and-return" {
		if v := firstOK.Load(); v > 0 {
			res.hasRecover = true
			res.recover = time.Duration(v - 1)
		} else {
			res.neverRecovered = true
		}
	}
	c.closeIdle()
	c.close()
	res.leakedG, res.leakedFDs = settle(g0, fd0)
	return res, ""
}

// doOne sends one request and reads the answer; any error or a status other
// than 200 is a caller-visible failure.
func doOne(c *httpClient, m, url, id string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var body io.Reader
	if m == http.MethodPost {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, m, url, body)
	if err != nil {
		return err
	}
	if m == http.MethodPost {
		req.Header.Set(testenv.RequestIDHeader, id)
	}
	resp, err := c.do(req)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// shorten keeps error samples readable: URLs and request IDs vary per
// request, the cause does not.
func shorten(s string) string {
	if i := strings.LastIndex(s, "\": "); i >= 0 {
		s = s[i+3:]
	}
	if len(s) > 120 {
		s = s[:120]
	}
	return s
}

// settle waits (bounded) for goroutines and descriptors to drop back to
// their baselines after the client closed its connections, and returns
// what is left above them.
func settle(g0, fd0 int) (leakedG, leakedFDs int) {
	deadline := time.Now().Add(time.Second)
	for {
		g, fd := testenv.Goroutines(), testenv.OpenFDs()
		leakedG, leakedFDs = max(0, g-g0), max(0, fd-fd0)
		if (leakedG == 0 && leakedFDs == 0) || time.Now().After(deadline) {
			return leakedG, leakedFDs
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// reportSoak turns a result into benchmark metrics. ns/op is suppressed: an
// iteration is a whole soak run, so only the reported metrics mean anything.
func reportSoak(b *testing.B, r *soakResult) {
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(r.ops), "reqs")
	b.ReportMetric(r.errRatio(), "errors/op")
	b.ReportMetric(float64(r.dups), "dups")
	b.ReportMetric(ms(r.percentile(0.5)), "p50-ms")
	b.ReportMetric(ms(r.percentile(0.99)), "p99-ms")
	if r.ops > 0 {
		b.ReportMetric(float64(r.totalSrvReqs())/float64(r.ops), "srv-reqs/op")
	}
	if len(r.srvReqs) > 1 && r.totalSrvReqs() > 0 {
		b.ReportMetric(100*float64(r.srvReqs[len(r.srvReqs)-1])/float64(r.totalSrvReqs()), "slow-share-%")
	}
	if r.hasRecover {
		b.ReportMetric(ms(r.recover), "recover-ms")
	}
	b.ReportMetric(float64(r.leakedG), "leaked-goroutines")
	b.ReportMetric(float64(r.leakedFDs), "leaked-fds")
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// BenchmarkSoak runs every soak scenario for HERZ_SOAK (default 2s) with
// every client: BenchmarkSoak/<scenario>/<client>. Run it with
// -benchtime 1x (make soak); with a duration benchtime longer than
// HERZ_SOAK the framework runs it again. An iteration is a whole soak run:
// the numbers are the reported metrics, not ns/op.
func BenchmarkSoak(b *testing.B) {
	d := soakDuration(b)
	for _, sc := range httpScenarios {
		b.Run(sc.name, func(b *testing.B) {
			for _, ck := range httpClients {
				b.Run(ck.name, func(b *testing.B) {
					r, skip := runSoak(b, sc, ck, d)
					if skip != "" {
						b.Skip(skip)
					}
					b.Logf("%s/%s: %s", sc.name, ck.name, r.summary())
					reportSoak(b, r)
				})
			}
		})
	}
	for _, dk := range dbKinds {
		b.Run(dk.scenario, func(b *testing.B) {
			for _, cl := range dbClients {
				b.Run(cl.name, func(b *testing.B) {
					r, skip := runDBSoak(b, dk, cl, d)
					if skip != "" {
						b.Skip(skip)
					}
					b.Logf("%s/%s: %s", dk.scenario, cl.name, r.summary())
					reportDB(b, r)
				})
			}
		})
	}
	for _, ns := range netnsScenarios {
		b.Run(ns.name, func(b *testing.B) {
			b.Skipf("measured by %s (testenv.InNetns needs a *testing.T and its own process): "+
				"go test -run '%s' -v ./benchmarks/", ns.test, ns.test)
		})
	}
}

// TestSoakShort runs every soak scenario once per client for a fraction of
// a second and checks only the hard safety properties herz must keep: no
// duplicate execution of a POST (P10) and, for herz, no caller-visible error
// when the server closes idle connections (P4). Goroutine leaks are checked
// by goleak in TestMain. The other figures are logged (go test -v).
func TestSoakShort(t *testing.T) {
	const d = 400 * time.Millisecond
	for _, sc := range httpScenarios {
		t.Run(sc.name, func(t *testing.T) {
			for _, ck := range httpClients {
				t.Run(ck.name, func(t *testing.T) {
					r, skip := runSoak(t, sc, ck, d)
					if skip != "" {
						t.Skip(skip)
					}
					t.Logf("%s", r.summary())
					if ck.name != "herz" {
						return
					}
					if r.dups != 0 {
						t.Errorf("%d POSTs executed more than once (P10 wants 0)", r.dups)
					}
					if sc.name == "idle-close-post" && r.errs != 0 {
						t.Errorf("%d of %d POSTs failed against a server closing idle connections (P4 wants 0)", r.errs, r.ops)
					}
				})
			}
		})
	}
	for _, dk := range dbKinds {
		t.Run(dk.scenario, func(t *testing.T) {
			for _, cl := range dbClients {
				t.Run(cl.name, func(t *testing.T) {
					r, skip := runDBSoak(t, dk, cl, d)
					if skip != "" {
						t.Skip(skip)
					}
					t.Logf("%s", r.summary())
					if cl.name == "herz" && r.errs != 0 {
						t.Errorf("%d of %d queries failed after idle sessions were killed (P6 wants 0)", r.errs, r.ops)
					}
				})
			}
		})
	}
}
