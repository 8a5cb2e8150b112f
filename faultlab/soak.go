package faultlab

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Mix says which HTTP methods a soak workload sends.
type Mix int

const (
	// GETs sends only GETs: idempotent, so clients may retry them freely.
	GETs Mix = iota
	// POSTs sends only POSTs, each with a unique [RequestIDHeader] and a
	// replayable body, so the servers count duplicate executions.
	POSTs
	// Mixed alternates GETs and POSTs (only the POSTs carry a request ID).
	Mixed
)

// String returns "get", "post" or "mixed".
func (m Mix) String() string {
	switch m {
	case GETs:
		return "get"
	case POSTs:
		return "post"
	case Mixed:
		return "mixed"
	}
	return fmt.Sprintf("Mix(%d)", int(m))
}

// Step is one change of a scenario's fault schedule: at the fraction At of
// the run (0 is the start, 1 the end), every proxy of the run switches to
// Fault.
type Step struct {
	// At is the fraction of the run at which the step applies, in [0, 1].
	At float64
	// Fault is what every proxy of the run switches to.
	Fault Fault
}

// Scenario is one soak workload under one fault schedule: which backends a
// run starts, how many workers send what, how often, for how long, and
// which faults hit them when. The zero Scenario is a well-behaved HTTP/1.1
// backend soaked with GETs by 4 workers for 2 s. The constructors
// ([IdleCloseRace], [ResetStorm], [OutageAndReturn], [Storm503],
// [SlowBackend], [GoAwayRestarts], [ProxyFaults]) return ready ones; adjust
// their fields as you like.
type Scenario struct {
	// Name names the scenario in results and logs.
	Name string

	// Backends are the HTTP servers a run starts, one per entry; the
	// workload round-robins over them. Empty with no Upstreams: one
	// default [HTTPOptions] backend.
	Backends []HTTPOptions

	// Upstreams are "host:port" addresses of servers you run yourself (a
	// database, a gRPC server), soaked through a [Proxy] each instead of
	// Backends. Your client gets the proxies' addresses in [Target].Addrs.
	Upstreams []string

	// Proxied puts a [Proxy] in front of each of the Backends too, so that
	// Steps (or Fault through [Env].Proxies) can hit them at the TCP level;
	// clients then get the proxies' URLs and addresses. Upstreams are always
	// proxied.
	Proxied bool

	// Steps switch every proxy's fault at fixed points of the run. A run
	// ends with [NoFault] on every proxy whatever the last step was.
	Steps []Step

	// Fault, if set, runs alongside the workload in its own goroutine and
	// may do anything to the run's servers and proxies through env (stop,
	// restart, storm, GOAWAY); it must return when ctx ends (the end of the
	// run), which [Env.At] makes easy.
	Fault func(ctx context.Context, env *Env)

	// Mix is what the workload sends. Zero: [GETs].
	Mix Mix

	// Workers is the number of goroutines sending, each one operation at a
	// time. Zero: 4. Must be >= 0.
	Workers int

	// Duration is how long the measured run lasts (operations in flight at
	// its end finish, bounded by OpTimeout). Zero: 2 s. Must be >= 0.
	Duration time.Duration

	// MaxOps bounds the operations of one run, whatever its duration.
	// Zero: 1,000,000. Must be >= 0.
	MaxOps int

	// OpTimeout bounds each operation (the context given to [Client.Do]).
	// Zero: twice the Duration, at least 1 s and at most 10 s. Must be >= 0.
	OpTimeout time.Duration

	// Gap is the pause of each worker after each operation, drawn from the
	// worker's own seeded generator. Nil: no pause. See [Every] and
	// [Around].
	Gap func(r *rand.Rand) time.Duration

	// Warmup, if positive: before the measured run, one GET per backend,
	// then this pause, with the same client. A client that learns a
	// server's idle timeout needs to have seen it once; a long-running
	// service has, within its first idle period. Zero: no warm-up. Must be
	// >= 0.
	Warmup time.Duration

	// ReportShare makes the result report the last backend's share of the
	// requests the servers saw, as slow-share-% (see [SlowBackend]).
	ReportShare bool
}

// Every returns a Gap of exactly d.
func Every(d time.Duration) func(*rand.Rand) time.Duration {
	return func(*rand.Rand) time.Duration { return d }
}

// Around returns a Gap drawn uniformly from [0.9d, 1.1d]: operations spaced
// tightly around d, so many of them race something that happens after d of
// idleness.
func Around(d time.Duration) func(*rand.Rand) time.Duration {
	return func(r *rand.Rand) time.Duration {
		return time.Duration(float64(d) * (0.9 + 0.2*r.Float64()))
	}
}

// defaults for a Scenario's zero fields.
const (
	defaultWorkers  = 4
	defaultDuration = 2 * time.Second
	defaultMaxOps   = 1_000_000
)

// withDefaults validates sc and fills in its zero fields.
func (sc Scenario) withDefaults() (Scenario, error) {
	switch {
	case sc.Workers < 0:
		return sc, fmt.Errorf("herz/faultlab: Scenario.Workers must be >= 0, got %d", sc.Workers)
	case sc.Duration < 0:
		return sc, fmt.Errorf("herz/faultlab: Scenario.Duration must be >= 0, got %v", sc.Duration)
	case sc.MaxOps < 0:
		return sc, fmt.Errorf("herz/faultlab: Scenario.MaxOps must be >= 0, got %d", sc.MaxOps)
	case sc.OpTimeout < 0:
		return sc, fmt.Errorf("herz/faultlab: Scenario.OpTimeout must be >= 0, got %v", sc.OpTimeout)
	case sc.Warmup < 0:
		return sc, fmt.Errorf("herz/faultlab: Scenario.Warmup must be >= 0, got %v", sc.Warmup)
	case sc.Mix < GETs || sc.Mix > Mixed:
		return sc, fmt.Errorf("herz/faultlab: Scenario.Mix must be GETs, POSTs or Mixed, got %d", int(sc.Mix))
	case len(sc.Backends) > 0 && len(sc.Upstreams) > 0:
		return sc, errors.New("herz/faultlab: Scenario.Backends and Scenario.Upstreams are exclusive")
	}
	for i, st := range sc.Steps {
		if !(st.At >= 0 && st.At <= 1) {
			return sc, fmt.Errorf("herz/faultlab: Scenario.Steps[%d].At must be in [0,1], got %v", i, st.At)
		}
	}
	for i, o := range sc.Backends {
		if err := o.validate(fmt.Sprintf("Scenario.Backends[%d]", i)); err != nil {
			return sc, err
		}
	}
	if sc.Name == "" {
		sc.Name = "soak"
	}
	if len(sc.Backends) == 0 && len(sc.Upstreams) == 0 {
		sc.Backends = []HTTPOptions{{}}
	}
	if sc.Workers == 0 {
		sc.Workers = defaultWorkers
	}
	if sc.Duration == 0 {
		sc.Duration = defaultDuration
	}
	if sc.MaxOps == 0 {
		sc.MaxOps = defaultMaxOps
	}
	if sc.OpTimeout == 0 {
		sc.OpTimeout = min(max(2*sc.Duration, time.Second), 10*time.Second)
	}
	return sc, nil
}

// Target is what a client under soak talks to; [Run] and [Soak] pass it to
// your constructor before each run.
type Target struct {
	// URLs are the HTTP backends' base URLs ("http://127.0.0.1:port/"),
	// proxied if the scenario says so; empty for Upstreams.
	URLs []string
	// Addrs are the "127.0.0.1:port" addresses to dial, one per backend or
	// upstream (the proxy's when proxied).
	Addrs []string
	// TLSConfig trusts the backends' self-signed certificate when they
	// speak [HTTPS]; nil otherwise. Clone it into your transport.
	TLSConfig *tls.Config
	// H2C is true when the backends speak [H2C] (HTTP/2 over plain text
	// with prior knowledge).
	H2C bool
}

// Op is one operation of a soak workload, handed to [Client.Do].
type Op struct {
	// Backend is the index into Target.URLs / Target.Addrs this operation
	// goes to (round robin).
	Backend int
	// URL is the backend's base URL, "" for Upstreams.
	URL string
	// Addr is the backend's (or its proxy's) address.
	Addr string
	// Method is http.MethodGet or http.MethodPost, following Scenario.Mix.
	Method string
	// ID is unique within the run; [HTTPClient] sends it as
	// [RequestIDHeader] on POSTs, so the servers can count duplicates.
	ID string
	// Body is the payload of a POST (a few hundred bytes), nil for a GET.
	// Do not modify it.
	Body []byte
}

// Client is the code under soak: anything that can run an [Op] (an
// *http.Client through [HTTPClient], a *sql.DB, a gRPC stub or a raw pool
// through [ClientFunc]). Do is called from several goroutines at once; a
// non-nil error is a caller-visible failure. Close releases the client's
// connections and goroutines; the leftovers are measured after it returns.
type Client interface {
	Do(ctx context.Context, op Op) error
	Close() error
}

// NewClient builds a fresh client for one run's target. Fresh matters: the
// new connections, goroutines and descriptors of a run are charged to it.
type NewClient func(Target) (Client, error)

// ClientFunc adapts a function to [Client]; close may be nil.
func ClientFunc(do func(ctx context.Context, op Op) error, close func() error) Client {
	return funcClient{do: do, close: close}
}

type funcClient struct {
	do    func(context.Context, Op) error
	close func() error
}

func (f funcClient) Do(ctx context.Context, op Op) error { return f.do(ctx, op) }
func (f funcClient) Close() error {
	if f.close == nil {
		return nil
	}
	return f.close()
}

// HTTPClient adapts c to [Client]: each [Op] becomes a request to op.URL
// (POSTs carry op.Body through a bytes.Reader, so http.NewRequest sets
// GetBody and the body is replayable, and op.ID as [RequestIDHeader]); the
// response body is read to the end; any error or a status other than 200 is
// a failure. Close closes c's idle connections and, when c.Transport has a
// Close() error method (herz's transport.Transport does), calls it.
func HTTPClient(c *http.Client) Client { return httpClient{c} }

type httpClient struct{ c *http.Client }

var (
	_ Client = httpClient{}
	_ Client = funcClient{}
)

func (h httpClient) Do(ctx context.Context, op Op) error {
	var body io.Reader
	if op.Body != nil {
		body = bytes.NewReader(op.Body)
	}
	req, err := http.NewRequestWithContext(ctx, op.Method, op.URL, body)
	if err != nil {
		return err
	}
	if op.Method == http.MethodPost {
		req.Header.Set(RequestIDHeader, op.ID)
	}
	resp, err := h.c.Do(req)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("herz/faultlab: status %d", resp.StatusCode)
	}
	return nil
}

func (h httpClient) Close() error {
	h.c.CloseIdleConnections()
	if cl, ok := h.c.Transport.(interface{ Close() error }); ok {
		return cl.Close()
	}
	return nil
}

// payload is the POST body of every run.
var payload = bytes.Repeat([]byte("herz"), 64)

// Env is what a running scenario's Fault function acts on. Its methods are
// safe for concurrent use.
type Env struct {
	// Servers are the run's HTTP backends, in Scenario.Backends order.
	Servers []*HTTPServer
	// Proxies are the run's proxies: one per backend when proxied, one per
	// upstream.
	Proxies []*Proxy

	start    time.Time
	d        time.Duration
	recoverT atomic.Int64 // ns since start of MarkRecovery; 0: not called
	tl       *Timeline    // nil: not recording
}

// FaultOn marks the start of a fault named label on the run's timeline
// (the shaded window of its figure), when the run records one. Steps mark
// themselves; a Scenario.Fault function calls FaultOn and [Env.FaultOff]
// around what it does.
func (e *Env) FaultOn(label string) { e.tl.FaultOn(label) }

// FaultOff marks the end of the fault that is on; see [Env.FaultOn].
func (e *Env) FaultOff() { e.tl.FaultOff() }

// At waits until the fraction frac of the run has passed and reports true,
// or false if ctx ended first (the run is over).
func (e *Env) At(ctx context.Context, frac float64) bool {
	return sleepCtx(ctx, time.Until(e.start.Add(time.Duration(frac*float64(e.d)))))
}

// MarkRecovery starts the recovery clock: the result reports how long after
// this call the first operation succeeded (recover-ms). Call it when a
// fault ends, e.g. right after [HTTPServer.Restart]. The first call counts.
func (e *Env) MarkRecovery() {
	e.recoverT.CompareAndSwap(0, max(int64(time.Since(e.start)), 1))
}

// Result is what one soak run measured. [Result.Report] turns it into
// benchmark metrics, [Result.String] into a line for a log.
type Result struct {
	// Scenario is the name of the scenario that ran.
	Scenario string
	// Ops and Errors count operations and the failures callers saw.
	Ops, Errors int
	// ErrorSamples counts failures by shortened message.
	ErrorSamples map[string]int
	// Latencies of every operation, failures included, sorted.
	Latencies []time.Duration
	// Duplicates is how many request IDs the HTTP backends executed more
	// than once (0 for Upstreams, which cannot tell).
	Duplicates int
	// ServerRequests is how many requests each HTTP backend saw during the
	// run (warm-up excluded).
	ServerRequests []int
	// NewConns is how many connections the client opened during the run
	// (warm-up excluded), as the backends (or proxies) accepted them.
	NewConns int
	// Recovered is set when the scenario called [Env.MarkRecovery] and an
	// operation succeeded after that; Recovery is how long it took.
	Recovered bool
	Recovery  time.Duration
	// RecoveryMarked is set when the scenario called [Env.MarkRecovery].
	RecoveryMarked bool
	// LeftGoroutines and LeftFDs are the goroutines and file descriptors
	// above the baseline taken before the client was built, after its Close
	// (waiting up to 1 s for them to go).
	LeftGoroutines, LeftFDs int
	// ReportShare copies Scenario.ReportShare.
	ReportShare bool
	// Elapsed is the wall time of the measured run, tail included.
	Elapsed time.Duration
	// Timeline is the run over time (operations, failures by class,
	// latency quantiles, connections, fault marks) when the run was asked
	// to record it ([WithTimeline], [WithFigure]); nil otherwise.
	Timeline *Timeline
}

// Option changes what [Soak] and [Run] record.
type Option func(*soakOptions)

type soakOptions struct {
	record bool
	figure string
}

// WithTimeline makes the run record [Result].Timeline: fixed-size buckets
// (200 over the run and 50 for its tail, about 140 KB), allocated before
// it starts, one set per worker up to 8 so that workers do not share the
// counters they write, merged at the end; each operation then costs a few
// atomic additions and no allocation. Without it (the default) nothing is
// recorded.
func WithTimeline() Option { return func(o *soakOptions) { o.record = true } }

// WithFigure records the run's timeline ([WithTimeline]) and, after the
// run, writes its figure (errors/s, p99 latency and connections over time,
// the fault windows shaded; see [NewFigure]) to path, as SVG or PNG
// following the extension. Run it before and after a change of your client
// (two paths) and compare the pictures; with [Run], each iteration
// overwrites the file. To draw several clients on the same axes, record
// with WithTimeline and draw the results' timelines with [NewFigure].
func WithFigure(path string) Option {
	return func(o *soakOptions) { o.record, o.figure = true, path }
}

// Percentile returns the q-quantile (0..1) of the latencies, 0 without
// operations.
func (r *Result) Percentile(q float64) time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(r.Latencies)))) - 1
	return r.Latencies[max(0, min(i, len(r.Latencies)-1))]
}

// ErrorRatio returns Errors / Ops, 0 without operations.
func (r *Result) ErrorRatio() float64 {
	if r.Ops == 0 {
		return 0
	}
	return float64(r.Errors) / float64(r.Ops)
}

// TotalServerRequests sums ServerRequests.
func (r *Result) TotalServerRequests() int {
	n := 0
	for _, v := range r.ServerRequests {
		n += v
	}
	return n
}

// String summarises the result on one line, then the three most frequent
// errors, one per line.
func (r *Result) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: ops=%d errors=%d (%.4f/op) dups=%d p50=%v p99=%v new-conns=%d srv-reqs=%d",
		r.Scenario, r.Ops, r.Errors, r.ErrorRatio(), r.Duplicates, r.Percentile(0.5).Round(10*time.Microsecond),
		r.Percentile(0.99).Round(10*time.Microsecond), r.NewConns, r.TotalServerRequests())
	if len(r.ServerRequests) > 1 {
		fmt.Fprintf(&b, " per-server=%v", r.ServerRequests)
	}
	switch {
	case r.Recovered:
		fmt.Fprintf(&b, " recover=%v", r.Recovery.Round(time.Millisecond))
	case r.RecoveryMarked:
		b.WriteString(" recover=never")
	}
	fmt.Fprintf(&b, " left-goroutines=%d left-fds=%d", r.LeftGoroutines, r.LeftFDs)
	keys := make([]string, 0, len(r.ErrorSamples))
	for k := range r.ErrorSamples {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if r.ErrorSamples[keys[i]] != r.ErrorSamples[keys[j]] {
			return r.ErrorSamples[keys[i]] > r.ErrorSamples[keys[j]]
		}
		return keys[i] < keys[j]
	})
	for _, k := range keys[:min(len(keys), 3)] {
		fmt.Fprintf(&b, "\n\t%d× %s", r.ErrorSamples[k], k)
	}
	return b.String()
}

// Report reports r as benchmark metrics (see the package documentation for
// each) and suppresses ns/op, which means nothing for a soak run.
func (r *Result) Report(b *testing.B) {
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(r.Ops), "reqs")
	b.ReportMetric(r.ErrorRatio(), "errors/op")
	b.ReportMetric(float64(r.Duplicates), "dups")
	b.ReportMetric(ms(r.Percentile(0.5)), "p50-ms")
	b.ReportMetric(ms(r.Percentile(0.99)), "p99-ms")
	b.ReportMetric(float64(r.NewConns), "new-conns")
	if n := r.TotalServerRequests(); r.Ops > 0 && len(r.ServerRequests) > 0 {
		b.ReportMetric(float64(n)/float64(r.Ops), "srv-reqs/op")
		if r.ReportShare && n > 0 {
			b.ReportMetric(100*float64(r.ServerRequests[len(r.ServerRequests)-1])/float64(n), "slow-share-%")
		}
	}
	if r.Recovered {
		b.ReportMetric(ms(r.Recovery), "recover-ms")
	}
	b.ReportMetric(float64(r.LeftGoroutines), "leaked-goroutines")
	b.ReportMetric(float64(r.LeftFDs), "leaked-fds")
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Run is the benchmark runner: for each of the b.N iterations it runs sc
// once with a fresh client from newClient (see [Soak]), logs the result and
// reports the last run's metrics with [Result.Report]. An iteration is a
// whole soak run, so run it with -benchtime 1x (or any benchtime shorter
// than sc.Duration); compare clients with benchstat. A setup failure fails
// the benchmark.
func Run(b *testing.B, sc Scenario, newClient NewClient, opts ...Option) *Result {
	b.Helper()
	var last *Result
	for range b.N {
		r, err := Soak(context.Background(), sc, newClient, opts...)
		if err != nil {
			b.Fatal(err)
		}
		b.Log(r.String())
		last = r
	}
	if last != nil {
		last.Report(b)
	}
	return last
}

// Soak runs sc once: it starts the scenario's backends and proxies, builds a
// client with newClient, warms it up if asked, runs the workload and the
// fault schedule for sc.Duration, closes the client, measures what it left
// behind, stops everything it started and returns the figures. It returns
// an error for a bad scenario, a failed setup or warm-up, or when ctx ends
// before the run does (the run stops early then), or when a figure asked
// for with [WithFigure] cannot be written (the result is returned then).
// It leaves no goroutine behind.
func Soak(ctx context.Context, sc Scenario, newClient NewClient, opts ...Option) (*Result, error) {
	sc, err := sc.withDefaults()
	if err != nil {
		return nil, err
	}
	var o soakOptions
	for _, opt := range opts {
		opt(&o)
	}
	env := &Env{d: sc.Duration}
	defer env.close()
	tgt, err := env.setUp(sc)
	if err != nil {
		return nil, err
	}
	g0, fd0 := Goroutines(), OpenFDs()
	c, err := newClient(tgt)
	if err != nil {
		return nil, fmt.Errorf("herz/faultlab: %s: build the client: %w", sc.Name, err)
	}
	closed := false
	defer func() {
		if !closed {
			_ = c.Close()
		}
	}()
	if sc.Warmup > 0 {
		for i := range tgt.Addrs {
			op := Op{Backend: i, Addr: tgt.Addrs[i], Method: http.MethodGet, ID: fmt.Sprintf("%s-warmup-%d", sc.Name, i)}
			if len(tgt.URLs) > 0 {
				op.URL = tgt.URLs[i]
			}
			octx, cancel := context.WithTimeout(ctx, sc.OpTimeout)
			err := c.Do(octx, op)
			cancel()
			if err != nil {
				return nil, fmt.Errorf("herz/faultlab: %s: warm-up: %w", sc.Name, err)
			}
		}
		if !sleepCtx(ctx, sc.Warmup) {
			return nil, ctx.Err()
		}
	}
	res := env.run(ctx, sc, tgt, c, o.record)
	closed = true
	_ = c.Close()
	res.LeftGoroutines, res.LeftFDs = settle(g0, fd0)
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("herz/faultlab: %s: stopped early: %w", sc.Name, err)
	}
	if o.figure != "" {
		if err := NewFigure(sc.Name, Series{Label: "client", Timeline: res.Timeline}).WriteFile(o.figure); err != nil {
			return res, fmt.Errorf("herz/faultlab: %s: %w", sc.Name, err)
		}
	}
	return res, nil
}

// setUp starts the run's servers and proxies and returns the target.
func (e *Env) setUp(sc Scenario) (Target, error) {
	var tgt Target
	for i, o := range sc.Backends {
		s, err := NewHTTPServer(o)
		if err != nil {
			return tgt, fmt.Errorf("herz/faultlab: %s: backend %d: %w", sc.Name, i, err)
		}
		e.Servers = append(e.Servers, s)
		tgt.TLSConfig = s.ClientTLSConfig()
		tgt.H2C = o.Protocol == H2C
		addr := s.Addr()
		if sc.Proxied {
			p, err := NewProxy(addr)
			if err != nil {
				return tgt, err
			}
			e.Proxies = append(e.Proxies, p)
			addr = p.Addr()
		}
		scheme := "http://"
		if o.Protocol == HTTPS {
			scheme = "https://"
		}
		tgt.URLs = append(tgt.URLs, scheme+addr+"/")
		tgt.Addrs = append(tgt.Addrs, addr)
	}
	for _, u := range sc.Upstreams {
		p, err := NewProxy(u)
		if err != nil {
			return tgt, err
		}
		e.Proxies = append(e.Proxies, p)
		tgt.Addrs = append(tgt.Addrs, p.Addr())
	}
	return tgt, nil
}

// close stops every server and proxy of the run.
func (e *Env) close() {
	for _, p := range e.Proxies {
		_ = p.Close()
	}
	for _, s := range e.Servers {
		_ = s.Close()
	}
}

// conns counts the connections clients opened so far: on the proxies when
// there are any, on the servers otherwise.
func (e *Env) conns() int {
	n := 0
	if len(e.Proxies) > 0 {
		for _, p := range e.Proxies {
			n += p.Accepted()
		}
		return n
	}
	for _, s := range e.Servers {
		n += s.Conns()
	}
	return n
}

// maxShards bounds the timeline shards of a run (about 140 KB each).
const maxShards = 8

// worker is what one worker goroutine measured.
type worker struct {
	ops, errs int
	lat       []time.Duration
	samples   map[string]int
	tl        *Timeline // its shard of the run's timeline; nil: not recording
}

// run drives the workload and the fault schedule for sc.Duration.
func (e *Env) run(ctx context.Context, sc Scenario, tgt Target, c Client, record bool) *Result {
	res := &Result{Scenario: sc.Name, ErrorSamples: map[string]int{}, ReportShare: sc.ReportShare}
	conns0 := e.conns()
	reqs0 := make([]int, len(e.Servers))
	for i, s := range e.Servers {
		reqs0[i] = s.Requests()
	}
	dups0 := 0
	for _, s := range e.Servers {
		dups0 += s.Duplicates()
	}

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	e.start = time.Now()
	if record {
		// 200 buckets over the run and 50 for its tail (operations in
		// flight at its end; later ones are counted in the last bucket).
		bucket := max(sc.Duration/200, time.Millisecond)
		tl, err := NewTimeline(TimelineConfig{Start: e.start, Bucket: bucket,
			Buckets: int(sc.Duration/bucket) + 50, Conns: e.conns})
		if err == nil { // the config is valid by construction
			e.tl = tl
			res.Timeline = tl
		}
	}
	tl := e.tl
	ws := make([]worker, sc.Workers)
	var shards []*Timeline // workers record into min(Workers, 8) shards, merged at the end
	if tl != nil {
		for i := range ws {
			if i < maxShards {
				shards = append(shards, tl.shard())
			}
			ws[i].tl = shards[i%maxShards]
		}
	}
	var (
		drivers sync.WaitGroup
		seq     atomic.Int64
		firstOK atomic.Int64 // ns since start of the first success after MarkRecovery
	)
	if len(sc.Steps) > 0 && len(e.Proxies) > 0 {
		drivers.Go(func() { e.runSteps(runCtx, sc.Steps) })
	}
	if sc.Fault != nil {
		drivers.Go(func() { sc.Fault(runCtx, e) })
	}
	if tl != nil {
		drivers.Go(func() { tl.Watch(runCtx) })
	}
	var workers sync.WaitGroup
	for w := range ws {
		workers.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 42))
			me := &ws[w]
			me.samples = map[string]int{}
			tl := me.tl // each worker records into a shard of its own
			for runCtx.Err() == nil && time.Since(e.start) < sc.Duration {
				n := seq.Add(1)
				if n > int64(sc.MaxOps) {
					return
				}
				op := e.op(sc, tgt, n)
				octx, cancel := context.WithTimeout(ctx, sc.OpTimeout)
				t0 := time.Now()
				err := c.Do(octx, op)
				t1 := time.Now()
				lat := t1.Sub(t0)
				me.lat = append(me.lat, lat)
				if tl != nil {
					tl.RecordAt(t1, lat, err)
				}
				cancel()
				me.ops++
				if err != nil {
					me.errs++
					me.samples[shorten(err.Error())]++
				} else if mark := e.recoverT.Load(); mark != 0 {
					firstOK.CompareAndSwap(0, max(int64(time.Since(e.start)), mark))
				}
				if sc.Gap != nil {
					if g := sc.Gap(r); g > 0 && !sleepCtx(runCtx, g) {
						return
					}
				}
			}
		})
	}
	workers.Wait()
	stop()
	drivers.Wait()
	if tl != nil {
		for _, s := range shards {
			tl.merge(s)
		}
		tl.Finish()
	}
	for _, p := range e.Proxies {
		_ = p.SetFault(NoFault())
	}
	res.Elapsed = time.Since(e.start)

	for _, w := range ws {
		res.Ops += w.ops
		res.Errors += w.errs
		res.Latencies = append(res.Latencies, w.lat...)
		for k, v := range w.samples {
			res.ErrorSamples[k] += v
		}
	}
	slices.Sort(res.Latencies)
	for i, s := range e.Servers {
		res.Duplicates += s.Duplicates()
		res.ServerRequests = append(res.ServerRequests, s.Requests()-reqs0[i])
	}
	res.Duplicates -= dups0
	res.NewConns = e.conns() - conns0
	if mark := e.recoverT.Load(); mark != 0 {
		res.RecoveryMarked = true
		if ok := firstOK.Load(); ok != 0 {
			res.Recovered = true
			res.Recovery = time.Duration(ok - mark)
		}
	}
	return res
}

// op builds operation number n (1-based) of the run.
func (e *Env) op(sc Scenario, tgt Target, n int64) Op {
	i := int(n % int64(len(tgt.Addrs)))
	op := Op{Backend: i, Addr: tgt.Addrs[i], Method: http.MethodGet, ID: fmt.Sprintf("%s-%d", sc.Name, n)}
	if len(tgt.URLs) > 0 {
		op.URL = tgt.URLs[i]
	}
	if sc.Mix == POSTs || (sc.Mix == Mixed && n%2 == 0) {
		op.Method = http.MethodPost
		op.Body = payload
	}
	return op
}

// runSteps applies the fault schedule to every proxy.
func (e *Env) runSteps(ctx context.Context, steps []Step) {
	steps = slices.Clone(steps)
	slices.SortStableFunc(steps, func(a, b Step) int {
		switch {
		case a.At < b.At:
			return -1
		case a.At > b.At:
			return 1
		}
		return 0
	})
	for _, st := range steps {
		if !e.At(ctx, st.At) {
			return
		}
		for _, p := range e.Proxies {
			_ = p.SetFault(st.Fault) // a failed re-listen shows as errors in the run
		}
		if st.Fault == NoFault() {
			e.FaultOff()
		} else {
			e.FaultOn(st.Fault.String())
		}
	}
}

// sleepCtx sleeps d; false if ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// addrPattern matches the IPv4 and IPv6 "host:port" addresses in errors.
var addrPattern = regexp.MustCompile(`(\d{1,3}(\.\d{1,3}){3}|\[[0-9a-fA-F:.]+\]):\d+`)

// shorten keeps error samples readable and groupable: URLs, request IDs and
// ports vary per request, the cause does not.
func shorten(s string) string {
	if i := strings.LastIndex(s, "\": "); i >= 0 {
		s = s[i+3:]
	}
	s = addrPattern.ReplaceAllString(s, "ADDR")
	if len(s) > 120 {
		s = s[:120]
	}
	return s
}

// settle waits (up to 1 s) for goroutines and descriptors to drop back to
// their baselines after the client closed its connections, and returns
// what is left above them. It collects garbage while it waits: net's splice
// pipes are cached in a sync.Pool and closed by finalizers, and are not
// the client's leak.
func settle(g0, fd0 int) (goroutines, fds int) {
	deadline := time.Now().Add(time.Second)
	for i := 0; ; i++ {
		if i > 0 {
			runtime.GC()
		}
		g, fd := Goroutines(), OpenFDs()
		goroutines, fds = max(0, g-g0), max(0, fd-fd0)
		if (goroutines == 0 && fds == 0) || time.Now().After(deadline) {
			return goroutines, fds
		}
		time.Sleep(20 * time.Millisecond)
	}
}
