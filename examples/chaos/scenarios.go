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

type tally struct {
	requests, errors int
	dups             int
	sample           string
}

type scenario struct {
	name    string
	method  string
	n       int           // requests per worker
	workers int           // concurrent callers
	gap     time.Duration // mean pause between a worker's requests (±20%)
	idle    time.Duration // server IdleTimeout (0: default)
	resetN  int64
	storm   time.Duration // 503 storm at the start of the run
	restart bool          // the server goes away for a moment mid-run
}

var scenarios = []scenario{
	{name: "idle-close race, POST", method: http.MethodPost, n: 150, workers: 4, gap: 30 * time.Millisecond, idle: 30 * time.Millisecond},
	{name: "RST every 7th request, GET", method: http.MethodGet, n: 100, workers: 4, gap: 2 * time.Millisecond, resetN: 7},
	{name: "RST every 7th request, POST", method: http.MethodPost, n: 100, workers: 4, gap: 2 * time.Millisecond, resetN: 7},
	{name: "503 storm, Retry-After: 1, GET", method: http.MethodGet, n: 20, workers: 4, gap: 50 * time.Millisecond, storm: 600 * time.Millisecond},
	{name: "server restarts, GET", method: http.MethodGet, n: 60, workers: 4, gap: 10 * time.Millisecond, restart: true},
}

// showScenarios runs each fault with a stdlib client and a herz client,
// each against its own identical server, and prints what callers saw.
func showScenarios(w io.Writer) error {
	section(w, "4. HTTP under faults: what callers see, http.DefaultTransport vs herz transport.Config{}")
	fmt.Fprintf(w, "   %-32s %9s %14s %12s %18s\n", "scenario", "requests", "stdlib errors", "herz errors", "POSTs run twice s/h")
	for _, sc := range scenarios {
		std, err := runScenario(sc, false)
		if err != nil {
			return err
		}
		hz, err := runScenario(sc, true)
		if err != nil {
			return err
		}
		dups := "-" // GETs are idempotent: re-sending them is the point
		if sc.method == http.MethodPost {
			dups = fmt.Sprintf("%d/%d", std.dups, hz.dups)
		}
		fmt.Fprintf(w, "   %-32s %9d %14d %12d %18s\n", sc.name, std.requests, std.errors, hz.errors, dups)
		if hz.sample != "" {
			fmt.Fprintf(w, "      herz error: %s\n", hz.sample)
		}
	}
	fmt.Fprintln(w, "\n   POSTs whose bytes may have reached the server are never re-sent by herz: after an RST")
	fmt.Fprintln(w, "   the caller gets the error, and the server's duplicate counter stays at 0.")
	return nil
}

func runScenario(sc scenario, useHerz bool) (tally, error) {
	srv := newServer(sc.idle, sc.resetN)
	defer srv.Close()
	var rt http.RoundTripper
	if useHerz {
		t, err := transport.New(transport.Config{})
		if err != nil {
			return tally{}, err
		}
		defer t.Close()
		rt = t
	} else {
		t := http.DefaultTransport.(*http.Transport).Clone()
		defer t.CloseIdleConnections()
		rt = t
	}
	client := &http.Client{Transport: rt, Timeout: 10 * time.Second}
	if sc.idle > 0 {
		// Like any running service: the server has idle-closed a connection once.
		get(client, srv.URL)
		time.Sleep(3 * sc.idle)
	}
	if sc.storm > 0 {
		srv.storm.Store(time.Now().Add(sc.storm).UnixNano())
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
			srv.restart(80 * time.Millisecond)
		}()
	}
	var mu sync.Mutex
	var res tally
	var wg sync.WaitGroup
	var seq atomic.Int64
	for range sc.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range sc.n {
				id := fmt.Sprintf("req-%d", seq.Add(1))
				err := do(client, sc.method, srv.URL, id)
				mu.Lock()
				res.requests++
				if err != nil {
					res.errors++
					if res.sample == "" {
						res.sample = err.Error()
					}
				}
				mu.Unlock()
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
