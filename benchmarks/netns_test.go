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
// the test binary, so they are Test functions that measure, log and assert
// (herz against net/http in the same namespace); their BenchmarkSoak entries
// skip and point here.
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

// herzDetectBound is the bound within which herz's default Config gives the
// caller its answer on a dead connection (P5) and in a whole-path blackhole
// (P15): TCP_USER_TIMEOUT and HTTP/2 PINGs find the dead connection, and
// Config.RetryWindow (10s) bounds any retry. detectSlack is the margin the
// tests add for scheduling on a loaded machine (the kernel's retransmission
// timer does not run to the millisecond).
const (
	herzDetectBound = 10 * time.Second
	detectSlack     = 1500 * time.Millisecond
)

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

// outcome is how one client's request in a namespace test ended.
type outcome struct {
	elapsed time.Duration // from the call to its return
	err     error         // what the caller saw; nil for a 200
	capped  bool          // no answer of its own: detectCap ended the wait
}

// String describes o for the test log.
func (o outcome) String() string {
	switch {
	case o.err == nil:
		return fmt.Sprintf("ok after %dms", o.elapsed.Milliseconds())
	case o.capped:
		return fmt.Sprintf("NOT detected: still hanging at the %v cap (%v)", detectCap(), o.err)
	}
	return fmt.Sprintf("detected: failed after detect-ms=%d: %v", o.elapsed.Milliseconds(), o.err)
}

// rank orders outcomes from best to worst for the caller: an answer (0), an
// error of the client's own (1), still waiting at the cap (2).
func (o outcome) rank() int {
	switch {
	case o.err == nil:
		return 0
	case !o.capped:
		return 1
	}
	return 2
}

// measureAll sends one POST per client concurrently, each bounded by
// detectCap, logs how long each took and how it ended, and returns the
// outcomes by client name.
func measureAll(t *testing.T, label string, cs []*nsClient) map[string]outcome {
	outs := make([]outcome, len(cs))
	var wg sync.WaitGroup
	for i, nc := range cs {
		wg.Go(func() { outs[i] = measureOne(label, nc) })
	}
	wg.Wait()
	byName := make(map[string]outcome, len(cs))
	for i, nc := range cs {
		t.Logf("%s/%s: %s", label, nc.kind.name, outs[i])
		byName[nc.kind.name] = outs[i]
	}
	return byName
}

// measureOne sends nc's POST, bounded by detectCap.
func measureOne(label string, nc *nsClient) outcome {
	// A POST: once its bytes are out it is never re-sent (except by
	// retryablehttp), so the error surfaces when the dead connection is
	// found instead of after a retry that hangs on the blackholed port's
	// unanswered SYNs.
	ctx, cancel := context.WithTimeout(context.Background(), detectCap())
	defer cancel()
	t0 := time.Now()
	err := nc.c.Do(ctx, faultlab.Op{
		URL: nc.srv.URL() + "/", Addr: nc.srv.Addr(), Method: http.MethodPost,
		ID: fmt.Sprintf("%s-%s", label, nc.kind.name), Body: []byte("herz"),
	})
	el := time.Since(t0)
	capped := err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded)
	return outcome{elapsed: el, err: err, capped: capped}
}

// notWorse fails t when herz's outcome is worse for its caller than
// stdlib's: an error where stdlib had an answer, or still waiting at the
// cap where stdlib had an error of its own.
func notWorse(t *testing.T, label string, herz, std outcome) {
	t.Helper()
	if herz.rank() > std.rank() {
		t.Errorf("%s: herz is worse than net/http: herz %s; stdlib %s", label, herz, std)
	}
}

// checkBlackhole asserts P5/P15 on a blackhole's outcomes: herz's caller
// has its answer (an error: the POST is not re-sent) within herz's bound,
// before the cap, and no later than net/http's caller (which hangs until
// the cap).
func checkBlackhole(t *testing.T, label string, outs map[string]outcome) {
	t.Helper()
	herz, std := outs["herz"], outs["stdlib"]
	bound := herzDetectBound + detectSlack
	t.Logf("%s: herz answered after %v (bound %v + %v slack, cap %v, capped=%v); stdlib after %v (capped=%v)",
		label, herz.elapsed.Round(time.Millisecond), herzDetectBound, detectSlack, detectCap(), herz.capped,
		std.elapsed.Round(time.Millisecond), std.capped)
	switch {
	case herz.capped:
		t.Errorf("%s: herz had no answer at the %v cap (bound %v): %s", label, detectCap(), herzDetectBound, herz)
	case herz.elapsed > bound:
		t.Errorf("%s: herz answered after %v, beyond its %v bound plus %v slack: %s",
			label, herz.elapsed, herzDetectBound, detectSlack, herz)
	}
	notWorse(t, label, herz, std)
	if herz.elapsed > std.elapsed {
		t.Errorf("%s: herz's caller waited %v, net/http's %v", label, herz.elapsed, std.elapsed)
	}
}

// TestSoakBlackhole measures how long a request on a warm keep-alive
// connection takes to fail once its peer is blackholed (iptables DROP in a
// namespace: no FIN, no RST, no ACK), over HTTP/1.1 and HTTP/2 (P5, P15:
// the port's new SYNs are dropped too), logs the figures (go test -v) and
// asserts herz's bound and that herz's caller waits no longer than net/http's
// (checkBlackhole). Under -short the cap is shorter than the bound, so the
// test skips.
func TestSoakBlackhole(t *testing.T) {
	if limit := detectCap(); limit <= herzDetectBound+detectSlack {
		t.Skipf("the %v cap (-short) does not exceed herz's %v bound plus %v slack: "+
			"a blackhole run could assert nothing; run without -short", limit, herzDetectBound, detectSlack)
	}
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
				label := "blackhole-" + tc.name
				checkBlackhole(t, label, measureAll(t, label, cs))
			})
		})
	}
}

// TestSoakNATExpiry puts the clients behind a NAT that forgets connections
// idle for 2s, lets their warm connections idle for 4s, and logs what the
// next request saw: a client that keeps its connections alive (TCP
// keepalive interval below the limit, HTTP/2 pings) or drops them before
// the limit succeeds at once; one that reuses a forgotten connection hangs.
// It asserts that herz's request succeeds and that herz's outcome is no
// worse than net/http's.
func TestSoakNATExpiry(t *testing.T) {
	t.Parallel()
	testenv.InNetns(t, func(t *testing.T) {
		if err := faultlab.ConntrackExpiry(2 * time.Second); err != nil {
			t.Fatal(err)
		}
		cs := nsClients(t, faultlab.HTTP1)
		time.Sleep(4 * time.Second)
		outs := measureAll(t, "nat-expiry", cs)
		herz, std := outs["herz"], outs["stdlib"]
		if herz.err != nil {
			t.Errorf("nat-expiry: herz's request on a connection the NAT forgot failed: %s", herz)
		}
		notWorse(t, "nat-expiry", herz, std)
	})
}
