package transport_test

import (
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herz-go/herz/dialer"
	"github.com/herz-go/herz/transport"
)

// connTracker records a server's conns by state, so a test can close the
// idle ones itself (a server's idle timeout, at a moment the test picks).
type connTracker struct {
	mu    sync.Mutex
	state map[net.Conn]http.ConnState
	seen  int
}

func (ct *connTracker) hook(c net.Conn, s http.ConnState) {
	ct.mu.Lock()
	defer ct.mu.Unlock()
	if ct.state == nil {
		ct.state = make(map[net.Conn]http.ConnState)
	}
	switch s {
	case http.StateNew:
		ct.seen++
		ct.state[c] = s
	case http.StateClosed, http.StateHijacked:
		delete(ct.state, c)
	default:
		ct.state[c] = s
	}
}

// closeWhere closes the server's conns in state s and returns how many.
func (ct *connTracker) closeWhere(s http.ConnState) int {
	ct.mu.Lock()
	defer ct.mu.Unlock()
	n := 0
	for c, st := range ct.state {
		if st == s {
			c.Close()
			delete(ct.state, c)
			n++
		}
	}
	return n
}

func (ct *connTracker) conns() int {
	ct.mu.Lock()
	defer ct.mu.Unlock()
	return ct.seen
}

// unixHTTPServer serves HTTP on a unix socket and returns its path.
func unixHTTPServer(t *testing.T, ct *connTracker) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "api.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			io.WriteString(w, "ok")
		}),
		ConnState: ct.hook,
	}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close(); <-done })
	return path
}

// TestBaseUnixDialConnsAreAdopted: with Config.Base's DialContext dialing
// a unix socket (a Docker-style API), herz adopts the conns the user's
// dialer returns, so a conn the server closed while idle is refused before
// reuse, even for a POST that cannot be re-sent (no GetBody): herz's pool
// probes it at the hand-out and dials anew. net/http, with the same
// DialContext and server in the same test, reuses such a conn whenever its
// read loop has not yet seen the close, and the POST fails.
func TestBaseUnixDialConnsAreAdopted(t *testing.T) {
	t.Parallel()
	const rounds = 30
	run := func(t *testing.T, herz bool) (errs int, tr *transport.Transport, ct *connTracker) {
		ct = &connTracker{}
		path := unixHTTPServer(t, ct)
		var nd net.Dialer
		base := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return nd.DialContext(ctx, "unix", path)
		}}
		var rt http.RoundTripper = base
		if herz {
			var err error
			tr, err = transport.New(transport.Config{Base: base, Dialer: dialer.Config{ReuseProbeIdle: time.Nanosecond}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { tr.Close() })
			rt = tr
		}
		t.Cleanup(base.CloseIdleConnections)
		for i := range rounds {
			// A body without GetBody: neither net/http nor herz may re-send it.
			body := io.NopCloser(strings.NewReader("payload"))
			req, _ := http.NewRequest(http.MethodPost, "http://docker/v1/containers", body)
			resp, err := rt.RoundTrip(req)
			if err == nil {
				_, err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			if err != nil {
				errs++
				t.Logf("round %d: %v", i, err)
				continue
			}
			// The server closes the idle conn; the next request follows at once.
			awaitCond(t, func() bool { return ct.closeWhere(http.StateIdle) == 1 })
		}
		return errs, tr, ct
	}
	stdErrs, _, stdCt := run(t, false)
	herzErrs, tr, herzCt := run(t, true)
	st := tr.Dialer().Stats()
	t.Logf("net/http: %d/%d POSTs failed on %d conns; herz: %d failed on %d conns (%d adopted, evictions %v, peer closes %d)",
		stdErrs, rounds, stdCt.conns(), herzErrs, herzCt.conns(), st.Adopted, st.Evictions, st.PeerCloses)
	if herzErrs != 0 || herzErrs > stdErrs {
		t.Fatalf("herz: %d POSTs failed (net/http %d), want 0", herzErrs, stdErrs)
	}
	if int(st.Adopted) != herzCt.conns() || st.Dials != 0 {
		t.Fatalf("herz adopted %d conns (dialed %d) of the %d the user's DialContext made, want all of them", st.Adopted, st.Dials, herzCt.conns())
	}
}

// awaitCond polls cond every 2ms for at most 5s: a bounded wait for an
// asynchronous event on the server, never a timing assertion.
func awaitCond(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 5s")
		}
	}
}

// TestDialedButParkedConnIsIdle: a request that net/http's pool serves
// (here: with an AttemptTimeout) dials, but a conn another request frees
// meanwhile serves it; net/http parks the new conn in its idle pool unused.
// herz counts that conn idle (not lent for good) and, when the server
// closes it, sees the close of an idle conn and drops it from its count.
// net/http runs the same sequence beside it: the same results, the same
// number of connections.
func TestDialedButParkedConnIsIdle(t *testing.T) {
	for _, tlsOn := range []bool{false, true} {
		name := "http"
		if tlsOn {
			name = "https" // parked only once net/http's TLS handshake is done
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testDialedButParked(t, tlsOn)
		})
	}
}

func testDialedButParked(t *testing.T, tlsOn bool) {
	run := func(t *testing.T, herz bool) (tr *transport.Transport, ct *connTracker, rt http.RoundTripper) {
		ct = &connTracker{}
		release := make(chan struct{})
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/slow" {
				<-release
			}
			io.WriteString(w, "ok")
		}))
		srv.Config.ConnState = ct.hook
		srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the closed parked conn's handshake
		if tlsOn {
			srv.StartTLS()
		} else {
			srv.Start()
		}
		t.Cleanup(srv.Close)
		var nd net.Dialer
		dials := make(chan struct{}, 4)
		gate := make(chan struct{})
		n := 0
		var mu sync.Mutex
		base := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			mu.Lock()
			n++
			second := n == 2
			mu.Unlock()
			dials <- struct{}{}
			if second {
				select { // the second connect is slow
				case <-gate:
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}
			return nd.DialContext(ctx, network, addr)
		}}
		if tlsOn {
			base.TLSClientConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig
		}
		t.Cleanup(base.CloseIdleConnections)
		rt = base
		if herz {
			var err error
			tr, err = transport.New(transport.Config{Base: base, AttemptTimeout: time.Minute, Dialer: dialer.Config{DisableEvictor: true}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { tr.Close() })
			rt = tr
		}
		get := func(path string) error {
			req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
			resp, err := rt.RoundTrip(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			_, err = io.ReadAll(resp.Body)
			return err
		}
		slowDone := make(chan error, 1)
		go func() { slowDone <- get("/slow") }()
		<-dials // the slow request has its conn
		awaitCond(t, func() bool { ct.mu.Lock(); defer ct.mu.Unlock(); return ct.seen == 1 })
		fastDone := make(chan error, 1)
		go func() { fastDone <- get("/fast") }()
		<-dials        // the second request dials (slowly)
		close(release) // the first conn frees up and serves the second request
		if err := <-slowDone; err != nil {
			t.Fatal(err)
		}
		if err := <-fastDone; err != nil {
			t.Fatal(err)
		}
		close(gate) // the second connect completes: net/http parks the conn unused
		awaitCond(t, func() bool { return ct.conns() == 2 })
		if herz {
			awaitCond(t, func() bool { return tr.Dialer().Stats().Idle == 2 })
		}
		// The server closes the conn that never served a request.
		awaitCond(t, func() bool { return ct.closeWhere(http.StateNew) == 1 })
		if herz {
			awaitCond(t, func() bool { st := tr.Dialer().Stats(); return st.Open == 1 && st.Idle == 1 })
		}
		if err := get("/after"); err != nil {
			t.Fatalf("request after the parked conn closed: %v", err)
		}
		return tr, ct, rt
	}
	_, stdCt, _ := run(t, false)
	tr, herzCt, _ := run(t, true)
	st := tr.Dialer().Stats()
	t.Logf("net/http: %d conns; herz: %d conns, stats %v", stdCt.conns(), herzCt.conns(), st)
	if herzCt.conns() > stdCt.conns() {
		t.Fatalf("herz made %d conns, net/http %d", herzCt.conns(), stdCt.conns())
	}
	if st.PeerCloses < 1 {
		t.Fatalf("herz saw no peer close of an idle conn: %v", st)
	}
}
