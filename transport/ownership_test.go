package transport_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herz-go/herz/dialer"
	"github.com/herz-go/herz/transport"
)

// These tests check the uses herz was not designed around, each against
// net/http in the same test with the same server: herz's outcome must be
// equal or better. They are the cases where inferring "idle" from read and
// write times broke what net/http does right.

// clientPair is a herz Transport and a plain net/http one for the same server.
type clientPair struct {
	herz   *transport.Transport
	stdlib *http.Transport
}

func (p clientPair) each(t *testing.T, f func(t *testing.T, name string, rt http.RoundTripper)) {
	t.Run("stdlib", func(t *testing.T) { f(t, "stdlib", p.stdlib) })
	t.Run("herz", func(t *testing.T) { f(t, "herz", p.herz) })
}

// newPair makes both transports for srv (trusting its certificate if any).
func newPair(t testing.TB, srv *httptest.Server, cfg transport.Config) clientPair {
	t.Helper()
	std := &http.Transport{ForceAttemptHTTP2: true}
	if srv.TLS != nil {
		tc := srv.Client().Transport.(*http.Transport).TLSClientConfig
		std.TLSClientConfig = tc.Clone()
		cfg.TLSClientConfig = tc.Clone()
	}
	if cfg.Proxy == nil {
		cfg.Proxy = transport.NoProxy
	}
	tr, err := transport.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close(); std.CloseIdleConnections() })
	return clientPair{herz: tr, stdlib: std}
}

func newServer(t testing.TB, h http.HandlerFunc, tlsH2 bool, idle time.Duration) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Config.IdleTimeout = idle
	if tlsH2 {
		srv.EnableHTTP2 = true
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return srv
}

// TestSSEStreamIsNeverCut: a slowly streamed response (server-sent events,
// one every 1.1s) from a server advertising "Keep-Alive: timeout=1": the
// learned idle deadline (0.75s) is shorter than the gaps, but the conn is
// lent to the response until its body ends, so herz gets every event, as
// net/http does.
func TestSSEStreamIsNeverCut(t *testing.T) {
	const events = 3
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Keep-Alive", "timeout=1")
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range events {
			if i > 0 {
				time.Sleep(1100 * time.Millisecond)
			}
			fmt.Fprintf(w, "data: %d\n\n", i)
			w.(http.Flusher).Flush()
		}
	}, false, 0)
	p := newPair(t, srv, transport.Config{})
	got := map[string]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, rt := range map[string]http.RoundTripper{"stdlib": p.stdlib, "herz": p.herz} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
			resp, err := rt.RoundTrip(req)
			if err != nil {
				t.Errorf("%s: %v", name, err)
				return
			}
			defer resp.Body.Close()
			sc := bufio.NewScanner(resp.Body)
			n := 0
			for sc.Scan() {
				if strings.HasPrefix(sc.Text(), "data: ") {
					n++
				}
			}
			if err := sc.Err(); err != nil {
				t.Errorf("%s: stream cut after %d events: %v", name, n, err)
			}
			mu.Lock()
			got[name] = n
			mu.Unlock()
		}()
	}
	wg.Wait()
	if got["herz"] < got["stdlib"] || got["herz"] != events {
		t.Fatalf("events received: %v, want %d for herz (net/http got %d)", got, events, got["stdlib"])
	}
}

// upgradeHandler answers "Upgrade: echo" with 101 and then echoes lines on
// the hijacked conn; with serverFirst it greets first.
func upgradeHandler(serverFirst bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "echo" {
			w.Header().Set("Keep-Alive", "timeout=1")
			io.WriteString(w, "plain")
			return
		}
		w.Header().Set("Connection", "Upgrade")
		w.Header().Set("Upgrade", "echo")
		w.WriteHeader(http.StatusSwitchingProtocols)
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		if serverFirst {
			brw.WriteString("hello\n")
			brw.Flush()
		}
		for {
			line, err := brw.ReadString('\n')
			if err != nil {
				return
			}
			brw.WriteString(line)
			brw.Flush()
		}
	}
}

// TestUpgradedConnIsTheCallers: a 101 Switching Protocols gives the conn to
// the caller for good. Whether the server or the client writes first, and
// after an idle pause longer than every herz limit, the upgraded conn works
// through herz as through net/http.
func TestUpgradedConnIsTheCallers(t *testing.T) {
	for _, serverFirst := range []bool{true, false} {
		t.Run(fmt.Sprintf("serverFirst=%v", serverFirst), func(t *testing.T) {
			srv := newServer(t, upgradeHandler(serverFirst), false, 0)
			p := newPair(t, srv, transport.Config{
				MaxLifetime: 50 * time.Millisecond,
				Dialer:      dialerIdle(50 * time.Millisecond),
			})
			p.each(t, func(t *testing.T, name string, rt http.RoundTripper) {
				// A plain request first teaches a 1s keep-alive hint and
				// leaves an idle conn for the upgrade to reuse.
				req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
				resp, err := rt.RoundTrip(req)
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				time.Sleep(20 * time.Millisecond)

				req, _ = http.NewRequest(http.MethodGet, srv.URL, nil)
				req.Header.Set("Connection", "Upgrade")
				req.Header.Set("Upgrade", "echo")
				resp, err = rt.RoundTrip(req)
				if err != nil {
					t.Fatal(err)
				}
				if resp.StatusCode != http.StatusSwitchingProtocols {
					t.Fatalf("status %d", resp.StatusCode)
				}
				rw, ok := resp.Body.(io.ReadWriteCloser)
				if !ok {
					t.Fatalf("101 body is %T, not an io.ReadWriteCloser", resp.Body)
				}
				defer rw.Close()
				br := bufio.NewReader(rw)
				if serverFirst {
					if line, err := br.ReadString('\n'); err != nil || line != "hello\n" {
						t.Fatalf("greeting %q, %v", line, err)
					}
				}
				for i := range 2 {
					if i == 1 {
						time.Sleep(150 * time.Millisecond) // past lifetime and idle limit
					}
					if _, err := io.WriteString(rw, "ping\n"); err != nil {
						t.Fatalf("write %d on the upgraded conn: %v", i, err)
					}
					if line, err := br.ReadString('\n'); err != nil || line != "ping\n" {
						t.Fatalf("echo %d: %q, %v", i, line, err)
					}
				}
			})
		})
	}
}

// TestExpectContinueIsNeverRunTwice: POSTs with "Expect: 100-continue" to a
// server that reads the body late, on reused conns past a short
// MaxLifetime. Each request is handled exactly once and none fails, as with
// net/http (herz once ran such a handler three times).
func TestExpectContinueIsNeverRunTwice(t *testing.T) {
	var mu sync.Mutex
	handled := map[string]int{}
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(60 * time.Millisecond) // read the body late
		io.Copy(io.Discard, r.Body)
		mu.Lock()
		handled[r.Header.Get("X-Request-Id")]++
		mu.Unlock()
		io.WriteString(w, "ok")
	}, false, 0)
	p := newPair(t, srv, transport.Config{MaxLifetime: 30 * time.Millisecond, ExpectContinueTimeout: time.Second})
	p.stdlib.ExpectContinueTimeout = time.Second
	p.each(t, func(t *testing.T, name string, rt http.RoundTripper) {
		for i := range 6 {
			id := fmt.Sprintf("%s-%d", name, i)
			req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(strings.Repeat("x", 4096)))
			req.Header.Set("Expect", "100-continue")
			req.Header.Set("X-Request-Id", id)
			resp, err := rt.RoundTrip(req)
			if err != nil {
				t.Fatalf("POST %s: %v", id, err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			time.Sleep(10 * time.Millisecond)
		}
	})
	mu.Lock()
	defer mu.Unlock()
	for id, n := range handled {
		if n != 1 {
			t.Errorf("request %s handled %d times", id, n)
		}
	}
	if len(handled) != 12 {
		t.Errorf("%d requests handled, want 12", len(handled))
	}
}

// TestPOSTWithoutGetBodyIsNoWorseThanStdlib: POSTs whose body cannot be
// re-sent (no GetBody) against a server closing idle conns at about the
// request spacing. herz never refuses them as stale (nobody could re-send
// them), and its evictor closes conns before the server does, so it sees no
// more errors than net/http.
func TestPOSTWithoutGetBodyIsNoWorseThanStdlib(t *testing.T) {
	const idle = 40 * time.Millisecond
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "ok")
	}, false, idle)
	p := newPair(t, srv, transport.Config{Retry: transport.RetryConfig{MaxRetries: transport.NoRetries}})
	errs := map[string]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	const n = 150
	for name, rt := range map[string]http.RoundTripper{"stdlib": p.stdlib, "herz": p.herz} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range n {
				body := io.NopCloser(strings.NewReader("payload")) // no GetBody
				req, _ := http.NewRequest(http.MethodPost, srv.URL, body)
				resp, err := rt.RoundTrip(req)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				} else {
					mu.Lock()
					errs[name]++
					mu.Unlock()
				}
				// Spacing 0.8–1.2 × the server's idle timeout.
				time.Sleep(idle*8/10 + time.Duration(i%5)*idle/10)
			}
		}()
	}
	wg.Wait()
	t.Logf("errors in %d POSTs without GetBody: %v", n, errs)
	if errs["herz"] > errs["stdlib"] {
		t.Fatalf("herz errors %d > net/http's %d", errs["herz"], errs["stdlib"])
	}
}

// TestAttemptTimeoutAroundTheResponseTime sweeps AttemptTimeout across the
// server's response time: whether the headers or the timer win, the caller
// gets a response or an error — never a panic, never (nil, nil).
func TestAttemptTimeoutAroundTheResponseTime(t *testing.T) {
	const delay = 10 * time.Millisecond
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(delay)
		io.WriteString(w, "ok")
	}, false, 0)
	for at := delay - 3*time.Millisecond; at <= delay+3*time.Millisecond; at += time.Millisecond / 2 {
		tr, err := transport.New(transport.Config{Proxy: transport.NoProxy, AttemptTimeout: at, DisableBreaker: true, Retry: transport.RetryConfig{MaxRetries: transport.NoRetries}})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 3 {
					req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
					resp, err := tr.RoundTrip(req)
					switch {
					case err == nil && resp == nil:
						t.Errorf("AttemptTimeout %v: nil response and nil error", at)
					case err == nil:
						if _, err := io.Copy(io.Discard, resp.Body); err != nil {
							t.Errorf("AttemptTimeout %v: body of a returned response failed: %v", at, err)
						}
						resp.Body.Close()
					case resp != nil:
						t.Errorf("AttemptTimeout %v: response and error", at)
					}
				}
			}()
		}
		wg.Wait()
		tr.Close()
	}
}

// TestGETAfterCloseFailsAtOnce: a closed Transport fails requests at once
// with ErrClosed and retries nothing.
func TestGETAfterCloseFailsAtOnce(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {}, false, 0)
	p := newPair(t, srv, transport.Config{})
	p.herz.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	if _, err := p.herz.RoundTrip(req); !errors.Is(err, transport.ErrClosed) {
		t.Fatalf("err = %v, want ErrClosed", err)
	}
	if st := p.herz.Stats(); len(st.Retries) != 0 || st.Dials != 0 {
		t.Fatalf("a request after Close was retried or dialed: %v", st)
	}
}

// TestClientTimeoutErrorTextIsNetHTTPs: http.Client's own timeout reads
// "Client.Timeout exceeded while awaiting headers" through herz, every time,
// as through net/http.
func TestClientTimeoutErrorTextIsNetHTTPs(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(2 * time.Second):
		}
	}, false, 0)
	p := newPair(t, srv, transport.Config{})
	p.each(t, func(t *testing.T, name string, rt http.RoundTripper) {
		c := &http.Client{Transport: rt, Timeout: 20 * time.Millisecond}
		for i := range 10 {
			_, err := c.Get(srv.URL)
			if err == nil || !strings.Contains(err.Error(), "Client.Timeout exceeded while awaiting headers") {
				t.Fatalf("attempt %d: err = %v", i, err)
			}
		}
	})
}

// TestRestartThenSteadyTrafficReusesConns: a graceful server restart closes
// every idle conn at once — not an idle timeout. Afterwards, steady traffic
// reuses conns again (dials per request back to ~0), as with net/http.
func TestRestartThenSteadyTrafficReusesConns(t *testing.T) {
	// The warm-up requests wait for each other (up to 2 s), so each batch
	// really holds as many conns as requests even on a loaded machine:
	// otherwise every idle conn could have the same idle age, and a
	// restart would be indistinguishable from an idle timeout.
	var barrier struct {
		sync.Mutex
		want, got int
		all       chan struct{}
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		barrier.Lock()
		all := barrier.all
		if barrier.got++; all != nil && barrier.got == barrier.want {
			close(all)
			barrier.all = nil
		}
		barrier.Unlock()
		if all != nil {
			select {
			case <-all:
			case <-time.After(2 * time.Second):
			}
		}
		io.WriteString(w, "ok")
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	srv := &http.Server{Handler: handler}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	tr, err := transport.New(transport.Config{Proxy: transport.NoProxy, MaxIdleConnsPerHost: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	url := "http://" + addr
	get := func() {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	// Warm several idle conns at different idle ages.
	batch := func(n int) {
		barrier.Lock()
		barrier.want, barrier.got, barrier.all = n, 0, make(chan struct{})
		barrier.Unlock()
		defer func() {
			barrier.Lock()
			barrier.all = nil
			barrier.Unlock()
		}()
		var wg sync.WaitGroup
		for range n {
			wg.Add(1)
			go func() { defer wg.Done(); get() }()
		}
		wg.Wait()
	}
	batch(4)
	time.Sleep(50 * time.Millisecond)
	batch(2)
	time.Sleep(20 * time.Millisecond)
	// Graceful restart on the same port.
	srv.Shutdown(context.Background())
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("port %s taken after restart: %v", addr, err)
	}
	srv = &http.Server{Handler: handler}
	go srv.Serve(ln)
	time.Sleep(20 * time.Millisecond)
	if est, ok := tr.Dialer().Learner().Estimate(addr); ok {
		t.Fatalf("the restart was learned as an idle timeout of %v", est)
	}
	for range 10 {
		get()
		time.Sleep(100 * time.Millisecond)
	}
	before := tr.Stats().Dials
	for range 20 {
		get()
		time.Sleep(100 * time.Millisecond)
	}
	if dials := tr.Stats().Dials - before; dials > 1 {
		t.Fatalf("%d dials for 20 requests after the restart; want conns reused", dials)
	}
}

// TestHTTPSLearnsTheServerIdleTimeout: over TLS the server's idle close
// arrives as a close_notify (HTTP/1.1) or a GOAWAY (h2) before the FIN; herz
// learns a 300ms server idle timeout on both.
func TestHTTPSLearnsTheServerIdleTimeout(t *testing.T) {
	const idle = 300 * time.Millisecond
	for _, h2 := range []bool{false, true} {
		t.Run(map[bool]string{false: "h1", true: "h2"}[h2], func(t *testing.T) {
			srv := newServer(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }, true, idle)
			p := newPair(t, srv, transport.Config{DisableHTTP2: !h2})
			peer := srv.Listener.Addr().String()
			for i := 0; i < 6; i++ {
				if _, ok := p.herz.Dialer().Learner().Estimate(peer); ok {
					break
				}
				req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
				resp, err := p.herz.RoundTrip(req)
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if h2 != (resp.ProtoMajor == 2) {
					t.Fatalf("protocol %s", resp.Proto)
				}
				before := p.herz.Stats().PeerCloses
				deadline := time.Now().Add(3 * time.Second)
				for p.herz.Stats().PeerCloses == before && time.Now().Before(deadline) {
					time.Sleep(10 * time.Millisecond)
				}
			}
			est, ok := p.herz.Dialer().Learner().Estimate(peer)
			if !ok || est < idle*8/10 || est > idle*12/10 {
				t.Fatalf("learned %v (ok=%v), want within ±20%% of %v; stats %v", est, ok, idle, p.herz.Stats())
			}
		})
	}
}

// TestH2MaxLifetimeDrainsWithoutFailingAStream: HTTP/2 conns past their
// lifetime take no new streams and close after the last one; a long stream
// on an expiring conn completes, short requests keep succeeding, and herz
// redials. Over TLS and h2c.
func TestH2MaxLifetimeDrainsWithoutFailingAStream(t *testing.T) {
	t.Run("h2", func(t *testing.T) { testH2MaxLifetimeDrains(t, false) })
	t.Run("h2c", func(t *testing.T) { testH2MaxLifetimeDrains(t, true) })
}

func testH2MaxLifetimeDrains(t *testing.T, h2c bool) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/long" {
			for range 6 {
				io.WriteString(w, "chunk\n")
				w.(http.Flusher).Flush()
				time.Sleep(100 * time.Millisecond)
			}
			return
		}
		io.WriteString(w, "ok")
	})
	var srv *httptest.Server
	if h2c {
		srv = httptest.NewUnstartedServer(h)
		srv.Config.Protocols = new(http.Protocols)
		srv.Config.Protocols.SetHTTP1(true)
		srv.Config.Protocols.SetUnencryptedHTTP2(true)
		srv.Start()
		t.Cleanup(srv.Close)
	} else {
		srv = newServer(t, h, true, 0)
	}
	p := newPair(t, srv, transport.Config{MaxLifetime: 150 * time.Millisecond, H2C: h2c})
	var wg sync.WaitGroup
	wg.Add(1)
	var longErr error
	go func() {
		defer wg.Done()
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/long", nil)
		resp, err := p.herz.RoundTrip(req)
		if err != nil {
			longErr = err
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err == nil && bytes.Count(b, []byte("chunk")) != 6 {
			err = fmt.Errorf("got %q", b)
		}
		longErr = err
	}()
	var fails atomic.Int32
	for range 40 {
		req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
		resp, err := p.herz.RoundTrip(req)
		if err != nil {
			fails.Add(1)
			t.Errorf("short request: %v", err)
			continue
		}
		if resp.ProtoMajor != 2 {
			t.Fatalf("protocol %s", resp.Proto)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		time.Sleep(15 * time.Millisecond)
	}
	wg.Wait()
	if longErr != nil {
		t.Fatalf("long stream on a draining conn: %v", longErr)
	}
	if d := p.herz.Stats().Dials; d < 3 {
		t.Fatalf("%d dials in 600ms with a 150ms lifetime: h2 conns are not drained", d)
	}
}

// TestProxyCONNECTWorksAsWithStdlib: HTTPS through a local forward proxy
// (CONNECT), through herz as through net/http.
func TestProxyCONNECTWorksAsWithStdlib(t *testing.T) {
	target := newServer(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "through") }, true, 0)
	var connects atomic.Int32
	proxy := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect {
			http.Error(w, "CONNECT only", http.StatusMethodNotAllowed)
			return
		}
		connects.Add(1)
		up, err := net.Dial("tcp", r.Host)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		w.WriteHeader(http.StatusOK)
		down, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			up.Close()
			return
		}
		go func() { io.Copy(up, brw); up.Close() }()
		io.Copy(down, up)
		down.Close()
	}, false, 0)
	proxyURL, _ := url.Parse(proxy.URL)
	p := newPair(t, target, transport.Config{Proxy: http.ProxyURL(proxyURL)})
	p.stdlib.Proxy = http.ProxyURL(proxyURL)
	p.each(t, func(t *testing.T, name string, rt http.RoundTripper) {
		for range 3 {
			req, _ := http.NewRequest(http.MethodGet, target.URL, nil)
			resp, err := rt.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) != "through" {
				t.Fatalf("body %q", b)
			}
		}
	})
	if connects.Load() < 2 {
		t.Fatalf("%d CONNECTs: the proxy was not used by both", connects.Load())
	}
}

// dialerIdle is a dialer config with a short idle limit and frequent probes.
func dialerIdle(d time.Duration) dialer.Config {
	return dialer.Config{IdleTimeout: d, ProbeInterval: 5 * time.Millisecond}
}
