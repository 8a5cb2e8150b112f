package faultlab_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/herz-go/herz/faultlab"
	"github.com/herz-go/herz/internal/testenv"
	"github.com/herz-go/herz/transport"
)

// clientKind builds one of the two clients every fault is tried against.
type clientKind struct {
	name string
	new  faultlab.NewClient
}

// stdlibClient is what most services run: http.DefaultTransport's settings,
// its own pool.
func stdlibClient(tgt faultlab.Target) (faultlab.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	tr.TLSClientConfig = tgt.TLSConfig
	return faultlab.HTTPClient(&http.Client{Transport: tr}), nil
}

// herzClient is herz's drop-in transport with its zero Config.
func herzClient(tgt faultlab.Target) (faultlab.Client, error) {
	tr, err := transport.New(transport.Config{TLSClientConfig: tgt.TLSConfig, H2C: tgt.H2C})
	if err != nil {
		return nil, err
	}
	return faultlab.HTTPClient(&http.Client{Transport: tr}), nil
}

var clientKinds = []clientKind{{"stdlib", stdlibClient}, {"herz", herzClient}}

// proxied is one client talking to one server through one proxy.
type proxied struct {
	srv *faultlab.HTTPServer
	p   *faultlab.Proxy
	c   faultlab.Client
	url string
	n   int
}

func newProxied(t *testing.T, ck clientKind, opts faultlab.HTTPOptions) *proxied {
	t.Helper()
	srv := testenv.NewHTTPServer(t, opts).HTTPServer
	p := testenv.NewProxy(t, srv.Addr())
	c, err := ck.new(faultlab.Target{URLs: []string{"http://" + p.Addr() + "/"}, Addrs: []string{p.Addr()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &proxied{srv: srv, p: p, c: c, url: "http://" + p.Addr() + "/"}
}

// do sends one request within timeout and returns its error.
func (x *proxied) do(t *testing.T, method string, timeout time.Duration) (string, error) {
	t.Helper()
	x.n++
	op := faultlab.Op{URL: x.url, Addr: x.p.Addr(), Method: method, ID: fmt.Sprintf("%s-%d", t.Name(), x.n)}
	if method == http.MethodPost {
		op.Body = []byte("payload")
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return op.ID, x.c.Do(ctx, op)
}

func (x *proxied) mustDo(t *testing.T, method string) {
	t.Helper()
	if _, err := x.do(t, method, 5*time.Second); err != nil {
		t.Fatalf("%s: %v", method, err)
	}
}

// Each proxy fault against a real net/http client and herz's transport,
// asserting what each caller sees. Every client is warmed up first (one
// keep-alive connection through the proxy), as a running service is.
func TestProxyFaultsAsSeenByStdlibAndHerzClients(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts faultlab.HTTPOptions
		run  func(t *testing.T, ck clientKind, x *proxied)
	}{
		{"refuse", faultlab.HTTPOptions{}, func(t *testing.T, ck clientKind, x *proxied) {
			// The warm connection still works; new ones are refused.
			must(t, x.p.SetFault(faultlab.Refuse()))
			x.mustDo(t, http.MethodGet)
			must(t, x.p.SetFault(faultlab.ResetAll()))
			must(t, x.p.SetFault(faultlab.Refuse()))
			_, err := x.do(t, http.MethodGet, time.Second)
			if err == nil {
				t.Fatal("GET while the proxy refuses and every conn was reset: no error")
			}
			if ck.name == "stdlib" && !errors.Is(err, syscall.ECONNREFUSED) {
				t.Errorf("stdlib: %v, want ECONNREFUSED", err)
			}
			must(t, x.p.SetFault(faultlab.NoFault()))
		}},
		{"reset-all-idle", faultlab.HTTPOptions{}, func(t *testing.T, ck clientKind, x *proxied) {
			// The idle connection dies with an RST, then the path heals:
			// both clients notice the dead connection and dial a new one.
			must(t, x.p.SetFault(faultlab.ResetAll()))
			must(t, x.p.SetFault(faultlab.NoFault()))
			time.Sleep(20 * time.Millisecond) // the RST lands
			x.mustDo(t, http.MethodPost)
			if got := x.p.Accepted(); got != 2 {
				t.Errorf("connections accepted = %d, want 2 (the reset one and a new one)", got)
			}
		}},
		{"reset-after-bytes", faultlab.HTTPOptions{}, func(t *testing.T, ck clientKind, x *proxied) {
			// The request (a few hundred bytes) gets through, the response
			// is cut by an RST: the POST was executed, the caller gets an
			// error, and neither client re-sends it.
			must(t, x.p.SetFault(faultlab.ResetAfterBytes(300)))
			id, err := x.do(t, http.MethodPost, 5*time.Second)
			if err == nil {
				t.Fatal("POST cut by an RST mid-response: no error")
			}
			if n := x.srv.Executions(id); n != 1 {
				t.Errorf("POST executed %d times, want 1 (no re-send after the server acted)", n)
			}
		}},
		{"reset-random", faultlab.HTTPOptions{}, func(t *testing.T, ck clientKind, x *proxied) {
			// p = 1: the first chunk of any connection resets it; nothing
			// gets through, whatever a client retries.
			must(t, x.p.SetFault(faultlab.ResetRandom(1)))
			if _, err := x.do(t, http.MethodGet, 3*time.Second); err == nil {
				t.Fatal("GET through ResetRandom(1): no error")
			}
			must(t, x.p.SetFault(faultlab.NoFault()))
			x.mustDo(t, http.MethodGet)
		}},
		{"blackhole", faultlab.HTTPOptions{}, func(t *testing.T, ck clientKind, x *proxied) {
			// Silence: the caller's own deadline is what ends the request.
			must(t, x.p.SetFault(faultlab.Blackhole()))
			if _, err := x.do(t, http.MethodPost, 300*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("POST into a blackhole: %v, want the caller's deadline", err)
			}
			must(t, x.p.SetFault(faultlab.NoFault()))
			x.mustDo(t, http.MethodGet)
		}},
		{"accept-and-drop", faultlab.HTTPOptions{}, func(t *testing.T, ck clientKind, x *proxied) {
			must(t, x.p.SetFault(faultlab.AcceptAndDrop()))
			if _, err := x.do(t, http.MethodPost, 300*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("POST into accept-and-drop: %v, want the caller's deadline", err)
			}
			if got := x.srv.Requests(); got != 1 { // the warm-up only
				t.Errorf("server saw %d requests, want 1: dropped bytes must not arrive", got)
			}
			must(t, x.p.SetFault(faultlab.NoFault()))
			x.mustDo(t, http.MethodGet)
		}},
		{"latency", faultlab.HTTPOptions{}, func(t *testing.T, ck clientKind, x *proxied) {
			const d = 30 * time.Millisecond
			must(t, x.p.SetFault(faultlab.Latency(d)))
			start := time.Now()
			x.mustDo(t, http.MethodGet)
			if took := time.Since(start); took < 2*d { // a lower bound only
				t.Errorf("GET took %v, want at least %v", took, 2*d)
			}
		}},
		{"bandwidth", faultlab.HTTPOptions{BodySize: 64 << 10}, func(t *testing.T, ck clientKind, x *proxied) {
			const rate = 512 << 10 // 64 KiB at 512 KiB/s: 125 ms at least
			must(t, x.p.SetFault(faultlab.Bandwidth(rate)))
			start := time.Now()
			x.mustDo(t, http.MethodGet)
			if took := time.Since(start); took < 100*time.Millisecond {
				t.Errorf("64 KiB at 512 KiB/s took %v, want at least 100ms", took)
			}
		}},
		{"close-after-bytes", faultlab.HTTPOptions{}, func(t *testing.T, ck clientKind, x *proxied) {
			must(t, x.p.SetFault(faultlab.CloseAfterBytes(300)))
			id, err := x.do(t, http.MethodPost, 5*time.Second)
			if err == nil {
				t.Fatal("POST cut by a FIN mid-response: no error")
			}
			if n := x.srv.Executions(id); n != 1 {
				t.Errorf("POST executed %d times, want 1", n)
			}
		}},
		{"idle-close", faultlab.HTTPOptions{}, func(t *testing.T, ck clientKind, x *proxied) {
			// The proxy drops the idle connection with a FIN; a request well
			// after that goes out on a new connection and succeeds.
			const idle = 40 * time.Millisecond
			must(t, x.p.SetFault(faultlab.IdleClose(idle)))
			x.mustDo(t, http.MethodGet)
			time.Sleep(4 * idle)
			if got := x.p.Conns(); got != 0 {
				t.Errorf("open proxied conns after %v idle = %d, want 0", 4*idle, got)
			}
			x.mustDo(t, http.MethodPost)
			if got := x.p.Accepted(); got < 2 {
				t.Errorf("connections accepted = %d, want a new one after the idle close", got)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, ck := range clientKinds {
				t.Run(ck.name, func(t *testing.T) {
					x := newProxied(t, ck, tc.opts)
					x.mustDo(t, http.MethodGet) // warm up
					tc.run(t, ck, x)
					if d := x.srv.Duplicates(); d != 0 {
						t.Errorf("%d request IDs executed twice", d)
					}
				})
			}
		})
	}
}

// A whole-path blackhole (iptables DROP in a namespace: no ACK, no FIN, no
// RST, SYNs unanswered) as each client sees it: the POST on the warm
// connection never reaches the server, and only the caller's deadline (or
// the client's own detection, herz's pings and timeouts, which take
// seconds) ends it.
func TestBlackholePortAsSeenByStdlibAndHerzClients(t *testing.T) {
	testenv.InNetns(t, func(t *testing.T) {
		for _, ck := range clientKinds {
			t.Run(ck.name, func(t *testing.T) {
				srv := testenv.NewHTTPServer(t, faultlab.HTTPOptions{}).HTTPServer
				c, err := ck.new(faultlab.Target{URLs: []string{srv.URL() + "/"}, Addrs: []string{srv.Addr()}})
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				op := faultlab.Op{URL: srv.URL() + "/", Addr: srv.Addr(), Method: http.MethodGet}
				if err := c.Do(context.Background(), op); err != nil {
					t.Fatal(err)
				}
				must(t, faultlab.BlackholePort(srv.Port()))
				op.Method, op.ID, op.Body = http.MethodPost, "blackholed", []byte("x")
				ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
				defer cancel()
				if err := c.Do(ctx, op); !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("POST into a whole-path blackhole: %v, want the caller's deadline", err)
				}
				if n := srv.Executions("blackholed"); n != 0 {
					t.Errorf("server executed the blackholed POST %d times, want 0", n)
				}
				must(t, faultlab.UnblackholePort(srv.Port()))
			})
		}
	})
}

// A NAT that forgets connections idle for 2s, and warm connections left
// idle for 3s: a client that reuses a forgotten connection hangs until its
// caller's deadline (net/http does); herz (keepalive probes derived from
// the namespace's conntrack limit, or eviction before it) must succeed.
func TestConntrackExpiryAsSeenByStdlibAndHerzClients(t *testing.T) {
	testenv.InNetns(t, func(t *testing.T) {
		must(t, faultlab.ConntrackExpiry(2*time.Second))
		type warm struct {
			srv *faultlab.HTTPServer
			c   faultlab.Client
		}
		ws := map[string]warm{}
		for _, ck := range clientKinds {
			srv := testenv.NewHTTPServer(t, faultlab.HTTPOptions{}).HTTPServer
			c, err := ck.new(faultlab.Target{URLs: []string{srv.URL() + "/"}, Addrs: []string{srv.Addr()}})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := c.Do(context.Background(), faultlab.Op{URL: srv.URL() + "/", Method: http.MethodGet}); err != nil {
				t.Fatal(err)
			}
			ws[ck.name] = warm{srv, c}
		}
		time.Sleep(3 * time.Second)
		got := map[string]error{}
		for name, w := range ws {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			got[name] = w.c.Do(ctx, faultlab.Op{URL: w.srv.URL() + "/", Method: http.MethodPost, ID: "after-idle", Body: []byte("x")})
			cancel()
			t.Logf("%s after 3s idle behind a 2s NAT: %v", name, got[name])
		}
		if got["herz"] != nil {
			t.Errorf("herz: %v; want success (keepalive below the NAT's limit, or the conn evicted before it)", got["herz"])
		}
		if got["stdlib"] != nil && !errors.Is(got["stdlib"], context.DeadlineExceeded) {
			t.Errorf("stdlib: %v, want success or a hang until the deadline", got["stdlib"])
		}
	})
}
