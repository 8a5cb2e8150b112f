package benchmarks_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/herz-go/herz/internal/testenv"
)

// netnsScenarios need a network namespace of their own (iptables DROP,
// conntrack expiry). testenv.InNetns takes a *testing.T and re-executes the
// test binary, so they are Test functions that measure and t.Log; their
// BenchmarkSoak entries skip and point here.
var netnsScenarios = []struct{ name, test string }{
	{"blackhole-h1", "TestSoakBlackhole/h1"},
	{"blackhole-h2", "TestSoakBlackhole/h2"},
	{"nat-expiry", "TestSoakNATExpiry"},
}

// detectCap bounds how long a client may hang on a dead peer before the
// test gives up on it (P5's default bound is 10s; stdlib without pings and
// timeouts would wait for minutes).
func detectCap() time.Duration {
	if testing.Short() {
		return 3 * time.Second
	}
	return 12 * time.Second
}

// nsClient is one client with its own server inside the namespace.
type nsClient struct {
	kind clientKind
	srv  *testenv.HTTPServer
	c    *httpClient
}

// nsClients starts a server per client kind (so each can be faulted on its
// own port) and warms one connection of each client up. Kinds that cannot
// run are logged and left out.
func nsClients(t *testing.T, proto testenv.Protocol) []*nsClient {
	var out []*nsClient
	for _, ck := range httpClients {
		srv := testenv.NewHTTPServer(t, testenv.HTTPOptions{Protocol: proto})
		c, skip := ck.build(srv.ClientTLSConfig())
		if skip != "" {
			t.Logf("%s: skipped: %s", ck.name, skip)
			continue
		}
		t.Cleanup(c.close)
		req, err := http.NewRequest(http.MethodGet, srv.URL()+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := c.do(req)
		if err != nil {
			t.Fatalf("%s: warm-up request: %v", ck.name, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		t.Logf("%s: warm connection speaks %s", ck.name, resp.Proto)
		out = append(out, &nsClient{kind: ck, srv: srv, c: c})
	}
	return out
}

// measureAll sends one POST per client concurrently, each bounded by
// detectCap, and logs how long each took and how it ended.
func measureAll(t *testing.T, label string, cs []*nsClient) {
	limit := detectCap()
	var wg sync.WaitGroup
	lines := make([]string, len(cs))
	for i, nc := range cs {
		wg.Go(func() {
			t0 := time.Now()
			// A POST: once its bytes are out it is never re-sent (except by
			// retryablehttp), so the error surfaces when the dead connection
			// is found instead of after a retry that hangs on the blackholed
			// port's unanswered SYNs.
			err := doOne(nc.c, "POST", nc.srv.URL()+"/", fmt.Sprintf("%s-%s", label, nc.kind.name), limit)
			el := time.Since(t0)
			switch {
			case err == nil:
				lines[i] = fmt.Sprintf("ok after %dms", el.Milliseconds())
			case errors.Is(err, context.DeadlineExceeded) && el >= limit-50*time.Millisecond:
				lines[i] = "NOT detected: still hanging at the " + limit.String() + " cap (" + shorten(err.Error()) + ")"
			default:
				lines[i] = fmt.Sprintf("detected: failed after detect-ms=%d: %s", el.Milliseconds(), shorten(err.Error()))
			}
		})
	}
	wg.Wait()
	for i, nc := range cs {
		t.Logf("%s/%s: %s", label, nc.kind.name, lines[i])
	}
}

// TestSoakBlackhole measures how long a request on a warm keep-alive
// connection takes to fail once its peer is blackholed (iptables DROP in a
// namespace: no FIN, no RST, no ACK), over HTTP/1.1 and HTTP/2 (P5). It
// logs the figures (go test -v); it asserts nothing timed.
func TestSoakBlackhole(t *testing.T) {
	for _, tc := range []struct {
		name  string
		proto testenv.Protocol
	}{{"h1", testenv.HTTP1}, {"h2", testenv.HTTPS}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			testenv.InNetns(t, func(t *testing.T) {
				cs := nsClients(t, tc.proto)
				for _, nc := range cs {
					testenv.BlackholePort(t, testenv.Port(t, nc.srv.Addr()))
				}
				measureAll(t, "blackhole-"+tc.name, cs)
			})
		})
	}
}

// TestSoakNATExpiry puts the clients behind a NAT that forgets connections
// idle for 2s, lets their warm connections idle for 4s, and logs what the
// next request saw: a client that keeps its connections alive (TCP
// keepalive interval below the limit, HTTP/2 pings) or drops them before
// the limit succeeds at once; one that reuses a forgotten connection hangs.
func TestSoakNATExpiry(t *testing.T) {
	t.Parallel()
	testenv.InNetns(t, func(t *testing.T) {
		testenv.ConntrackExpiry(t, 2*time.Second)
		cs := nsClients(t, testenv.HTTP1)
		time.Sleep(4 * time.Second)
		measureAll(t, "nat-expiry", cs)
	})
}
