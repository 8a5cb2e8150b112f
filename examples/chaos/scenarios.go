package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"time"

	"github.com/herz-go/herz/transport"
)

// server is a local net/http server that misbehaves on purpose and counts
// executions per X-Request-Id, so duplicates show.
type server struct {
	*httptest.Server
	n      atomic.Int64
	mu     sync.Mutex
	execs  map[string]int
	dups   int
	resetN int64        // every resetN-th request is reset after executing (0: never)
	storm  atomic.Int64 // unix ns until which requests get 503 + Retry-After: 1
}

func newServer(idle time.Duration, resetN int64) *server {
	s := &server{execs: map[string]int{}, resetN: resetN}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(s.handle))
	s.Config.IdleTimeout = idle
	s.Start()
	return s
}

func (s *server) handle(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	if time.Now().UnixNano() < s.storm.Load() {
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	n := s.n.Add(1)
	if id := r.Header.Get("X-Request-Id"); id != "" {
		s.mu.Lock()
		if s.execs[id]++; s.execs[id] == 2 {
			s.dups++
		}
		s.mu.Unlock()
	}
	if s.resetN > 0 && n%s.resetN == 0 {
		// Executed, then the connection is reset: no answer comes.
		if c, _, err := http.NewResponseController(w).Hijack(); err == nil {
			c.(*net.TCPConn).SetLinger(0)
			c.Close()
			return
		}
	}
	w.Write([]byte("ok"))
}

func (s *server) duplicates() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dups
}

type scenario struct {
	name    string
	method  string
	n       int           // requests per worker
	workers int           // concurrent callers
	gap     time.Duration // mean pause between a worker's requests (±20%)
	idle    time.Duration // server IdleTimeout (0: default)
	resetN  int64
	storm   time.Duration    // 503 storm at the start of the run
	restart bool             // the server goes away for a moment mid-run
	herz    transport.Config // the herz client's Config (zero: the defaults)
}

var scenarios = []scenario{
	{name: "HTTP idle-close race, POST", method: http.MethodPost, n: 150, workers: 4, gap: 30 * time.Millisecond, idle: 30 * time.Millisecond},
	{name: "HTTP RST every 7th request, GET", method: http.MethodGet, n: 100, workers: 4, gap: 2 * time.Millisecond, resetN: 7},
	{name: "HTTP RST every 7th request, POST", method: http.MethodPost, n: 100, workers: 4, gap: 2 * time.Millisecond, resetN: 7},
	// Status retries are opt-in (a caller that retries itself must not get
	// a second layer of them): this row opts in, as a client would.
	{name: "HTTP 503 storm, Retry-After: 1, GET (herz: RetryStatus opted in)", method: http.MethodGet, n: 20, workers: 4, gap: 50 * time.Millisecond, storm: 600 * time.Millisecond,
		herz: transport.Config{Retry: transport.RetryConfig{RetryStatus: transport.RetryUnavailable}}},
	{name: "HTTP server restarts, GET", method: http.MethodGet, n: 60, workers: 4, gap: 10 * time.Millisecond, restart: true},
}

// httpRows runs each HTTP fault with a stdlib client and a herz client, each
// against its own identical server. In short mode each worker sends a tenth
// of the requests.
func httpRows(w io.Writer, o options) ([]row, error) {
	var rows []row
	for _, sc := range scenarios {
		if o.short {
			sc.n = max(2, sc.n/10)
		}
		r := row{name: sc.name}
		starting(w, sc.name)
		for _, useHerz := range []bool{false, true} {
			t, err := runScenario(sc, useHerz)
			if err != nil {
				return nil, err
			}
			if useHerz {
				r.hz = t
			} else {
				r.std = t
			}
		}
		if sc.method != http.MethodPost {
			r.std.dups, r.hz.dups = -1, -1 // GETs are idempotent: re-sending them is the point
		}
		done(w, r, "errors")
		rows = append(rows, r)
	}
	return rows, nil
}

// countingDial is a net.Dialer whose DialContext counts connects: the
// stdlib's "new connections" column.
type countingDial struct {
	d net.Dialer
	n atomic.Uint64
}

func (c *countingDial) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	c.n.Add(1)
	return c.d.DialContext(ctx, network, addr)
}

// clients returns the two HTTP clients of a row: http.DefaultTransport's
// clone and a herz Transport with cfg, and a func that reads their counters
// into the tallies and closes both.
//
// conns are the two clients' connect counters (stdlib, herz).
func clients(cfg transport.Config) (std, hz *http.Client, finish func(std, hz *tally), conns [2]func() int, err error) {
	tr, err := transport.New(cfg)
	if err != nil {
		return nil, nil, nil, conns, err
	}
	cd := &countingDial{d: net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}}
	st := http.DefaultTransport.(*http.Transport).Clone()
	st.DialContext = cd.DialContext
	finish = func(s, h *tally) {
		if s != nil {
			s.newConns = cd.n.Load()
		}
		if h != nil {
			hs := tr.Stats()
			h.herzSide, h.retries, h.evicts, h.newConns = true, hs.Retries, hs.Evictions, hs.Dials
		}
		st.CloseIdleConnections()
		tr.Close()
	}
	conns = [2]func() int{func() int { return int(cd.n.Load()) }, func() int { return int(tr.Stats().Dials) }}
	return &http.Client{Transport: st, Timeout: 10 * time.Second}, &http.Client{Transport: tr, Timeout: 10 * time.Second}, finish, conns, nil
}

func runScenario(sc scenario, useHerz bool) (*tally, error) {
	srv := newServer(sc.idle, sc.resetN)
	defer srv.Close()
	stdc, hzc, finish, conns, err := clients(sc.herz)
	if err != nil {
		return nil, err
	}
	res := &tally{conns: conns[0]}
	client := stdc
	if useHerz {
		client = hzc
		res.conns = conns[1]
		defer finish(nil, res)
	} else {
		defer finish(res, nil)
	}
	if sc.idle > 0 {
		// Like any running service: the server has idle-closed a connection once.
		get(client, srv.URL)
		time.Sleep(3 * sc.idle)
	}
	defer res.timeline().Finish() // time zero: the start of the measured run
	defer res.watch()()
	switch {
	case sc.idle > 0:
		res.faultOn(fmt.Sprintf("server idle timeout %v", sc.idle))
	case sc.resetN > 0:
		res.faultOn(fmt.Sprintf("RST after every %dth request", sc.resetN))
	}
	if sc.storm > 0 {
		now := time.Now()
		srv.storm.Store(now.Add(sc.storm).UnixNano())
		res.timeline().FaultOnAt(now, "503 storm")
		res.timeline().FaultOffAt(now.Add(sc.storm))
	}
	stopRestart := make(chan struct{})
	var bg sync.WaitGroup
	if sc.restart {
		bg.Add(1)
		go func() {
			defer bg.Done()
			select {
			case <-time.After(150 * time.Millisecond):
			case <-stopRestart:
				return
			}
			res.faultOn("server down")
			srv.restart(80 * time.Millisecond)
			res.faultOff()
		}()
	}
	var wg sync.WaitGroup
	var seq atomic.Int64
	for range sc.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range sc.n {
				id := fmt.Sprintf("req-%d", seq.Add(1))
				res.timed(func() error { return do(client, sc.method, srv.URL, id) })
				time.Sleep(time.Duration(float64(sc.gap) * (0.8 + 0.4*rand.Float64())))
			}
		}()
	}
	wg.Wait()
	close(stopRestart)
	bg.Wait()
	res.dups = srv.duplicates()
	return res, nil
}

// restart closes the server's listener and connections, then listens on the
// same port again after down.
func (s *server) restart(down time.Duration) {
	addr := s.Listener.Addr().String()
	s.Listener.Close()
	s.CloseClientConnections()
	time.Sleep(down)
	for i := 0; i < 50; i++ {
		ln, err := net.Listen("tcp", addr)
		if err == nil {
			s.Listener = ln
			go s.Config.Serve(ln)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func do(c *http.Client, method, url, id string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var body io.Reader
	if method == http.MethodPost {
		body = bytes.NewReader([]byte(`{"order":42}`))
	}
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return err
	}
	req.Header.Set("X-Request-Id", id)
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

func get(c *http.Client, url string) {
	if resp, err := c.Get(url); err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}
