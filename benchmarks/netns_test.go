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

	"github.com/herz-go/herz/faultlab"
	"github.com/herz-go/herz/internal/testenv"
)

// netnsScenarios need a network namespace of their own (iptables DROP,
// conntrack expiry). faultlab.InNetns takes a *testing.T and re-executes
// the test binary, so they are Test functions that measure and t.Log; their
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
	srv  *faultlab.HTTPServer
	c    faultlab.Client
}

// nsClients starts a server per client kind (so each can be faulted on its
// own port) and warms one connection of each client up.
func nsClients(t *testing.T, proto faultlab.Protocol) []*nsClient {
	var out []*nsClient
	for _, ck := range httpClients {
		srv, err := faultlab.NewHTTPServer(faultlab.HTTPOptions{Protocol: proto})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = srv.Close() })
		hc, release := ck.build(srv.ClientTLSConfig())
		t.Cleanup(release)
		resp, err := hc.Get(srv.URL() + "/")
		if err != nil {
			t.Fatalf("%s: warm-up request: %v", ck.name, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		t.Logf("%s: warm connection speaks %s", ck.name, resp.Proto)
		out = append(out, &nsClient{kind: ck, srv: srv, c: faultlab.HTTPClient(hc)})
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
			ctx, cancel := context.WithTimeout(context.Background(), limit)
			defer cancel()
			err := nc.c.Do(ctx, faultlab.Op{
				URL: nc.srv.URL() + "/", Addr: nc.srv.Addr(), Method: http.MethodPost,
				ID: fmt.Sprintf("%s-%s", label, nc.kind.name), Body: []byte("herz"),
			})
			el := time.Since(t0)
			switch {
			case err == nil:
				lines[i] = fmt.Sprintf("ok after %dms", el.Milliseconds())
			case errors.Is(err, context.DeadlineExceeded) && el >= limit-50*time.Millisecond:
				lines[i] = "NOT detected: still hanging at the " + limit.String() + " cap (" + err.Error() + ")"
			default:
				lines[i] = fmt.Sprintf("detected: failed after detect-ms=%d: %v", el.Milliseconds(), err)
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
		proto faultlab.Protocol
	}{{"h1", faultlab.HTTP1}, {"h2", faultlab.HTTPS}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			testenv.InNetns(t, func(t *testing.T) { // faultlab.InNetns, failing under CI
				cs := nsClients(t, tc.proto)
				for _, nc := range cs {
					if err := faultlab.BlackholePort(nc.srv.Port()); err != nil {
						t.Fatal(err)
					}
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
		if err := faultlab.ConntrackExpiry(2 * time.Second); err != nil {
			t.Fatal(err)
		}
		cs := nsClients(t, faultlab.HTTP1)
		time.Sleep(4 * time.Second)
		measureAll(t, "nat-expiry", cs)
	})
}
