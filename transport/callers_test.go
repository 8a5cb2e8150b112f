package transport_test

// What callers observe is net/http's: each test runs net/http's Transport
// beside herz's against the same server and asserts herz's outcome (result,
// error type and text, executions, body closed) is the same or better.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/herz-go/herz/breaker"
	"github.com/herz-go/herz/dialer"
	"github.com/herz-go/herz/internal/testenv"
	"github.com/herz-go/herz/transport"
)

// stdTransport is http.DefaultTransport's clone without a proxy, closed in
// t.Cleanup.
func stdTransport(t *testing.T) *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

// herzTransport is transport.New(cfg) without a proxy, closed in t.Cleanup.
func herzTransport(t *testing.T, cfg transport.Config) *transport.Transport {
	t.Helper()
	cfg.Proxy = transport.NoProxy
	tr, err := transport.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

// pipeUpload returns a request body fed by a goroutine blocked in an
// io.Pipe write until the body is read or closed, and a function that
// reports whether that happened (waiting up to 2s). The writer is released
// in t.Cleanup whatever happens, so a leak fails the assertion, not goleak.
func pipeUpload(t *testing.T) (io.ReadCloser, func() bool) {
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		pw.Write([]byte("upload"))
	}()
	t.Cleanup(func() {
		pw.Close()
		<-done
	})
	return pr, func() bool {
		select {
		case <-done:
			return true
		case <-time.After(2 * time.Second):
			return false
		}
	}
}

// TestEarlyErrorsCloseTheRequestBody: a request that fails before it is
// sent — refused connect (herz's own HTTP/1.1 pool), invalid header,
// unsupported scheme, invalid method, no host, nil Header, open breaker,
// closed transport — closes its body, so an io.Pipe upload's writer is
// released, as net/http does; validation errors are net/http's, to the
// byte, and herz dials nothing for them.
func TestEarlyErrorsCloseTheRequestBody(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
	}))
	t.Cleanup(srv.Close)
	refused := "http://" + testenv.ClosedAddr(t) + "/"
	std := stdTransport(t)
	herz := herzTransport(t, transport.Config{})

	cases := []struct {
		name  string
		build func(body io.ReadCloser) *http.Request
	}{
		{"refused connect", func(b io.ReadCloser) *http.Request {
			r, _ := http.NewRequest(http.MethodPost, refused, b)
			return r
		}},
		{"header value with CR/LF", func(b io.ReadCloser) *http.Request {
			r, _ := http.NewRequest(http.MethodPost, srv.URL, b)
			r.Header.Set("X-User", "a\r\nInjected: yes")
			return r
		}},
		{"header field name", func(b io.ReadCloser) *http.Request {
			r, _ := http.NewRequest(http.MethodPost, srv.URL, b)
			r.Header["Bad Name"] = []string{"x"}
			return r
		}},
		{"trailer", func(b io.ReadCloser) *http.Request {
			r, _ := http.NewRequest(http.MethodPost, srv.URL, b)
			r.Trailer = http.Header{"X-T": {"a\nb"}}
			return r
		}},
		{"unsupported scheme", func(b io.ReadCloser) *http.Request {
			r, _ := http.NewRequest(http.MethodPost, "ftp://127.0.0.1/", b)
			return r
		}},
		{"invalid method", func(b io.ReadCloser) *http.Request {
			r, _ := http.NewRequest(http.MethodPost, srv.URL, b)
			r.Method = "BAD METHOD"
			return r
		}},
		{"no host", func(b io.ReadCloser) *http.Request {
			r, _ := http.NewRequest(http.MethodPost, "http:///path", b)
			return r
		}},
		{"nil Header", func(b io.ReadCloser) *http.Request {
			r, _ := http.NewRequest(http.MethodPost, srv.URL, b)
			r.Header = nil
			return r
		}},
	}
	for _, tc := range cases {
		var stdErr error
		for _, rt := range []struct {
			name string
			rt   http.RoundTripper
		}{{"net/http", std}, {"herz", herz}} {
			body, released := pipeUpload(t)
			dials := herz.Stats().Dials
			resp, err := rt.rt.RoundTrip(tc.build(body))
			if err == nil {
				resp.Body.Close()
				t.Errorf("%s: %s: no error", tc.name, rt.name)
				continue
			}
			if !released() {
				t.Errorf("%s: %s: the body was not closed: the upload's writer is still blocked (error %v)", tc.name, rt.name, err)
			}
			if rt.name == "net/http" {
				stdErr = err
				continue
			}
			if tc.name == "refused connect" {
				var herzOp, stdOp *net.OpError
				if !errors.As(err, &herzOp) || !errors.As(stdErr, &stdOp) || err.Error() != stdErr.Error() {
					t.Errorf("%s: herz %T %q, net/http %T %q", tc.name, err, err, stdErr, stdErr)
				}
				continue
			}
			if err.Error() != stdErr.Error() || reflect.TypeOf(err) != reflect.TypeOf(stdErr) {
				t.Errorf("%s: herz %T %q, net/http %T %q; want net/http's", tc.name, err, err, stdErr, stdErr)
			}
			if d := herz.Stats().Dials - dials; d != 0 {
				t.Errorf("%s: herz dialed %d times for a request net/http refuses before dialing", tc.name, d)
			}
		}
	}

	t.Run("breaker open", func(t *testing.T) {
		srv503 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusServiceUnavailable)
		}))
		t.Cleanup(srv503.Close)
		tr := herzTransport(t, transport.Config{BreakerStatuses: []int{503}, Retry: transport.RetryConfig{MaxRetries: transport.NoRetries}})
		var err error
		for i := 0; i < 20 && !errors.Is(err, breaker.ErrOpen); i++ {
			_, err = get(tr, http.MethodGet, srv503.URL, 5*time.Second)
		}
		if !errors.Is(err, breaker.ErrOpen) {
			t.Fatalf("the breaker did not open: %v", err)
		}
		body, released := pipeUpload(t)
		r, _ := http.NewRequest(http.MethodPost, srv503.URL, body)
		if _, err := tr.RoundTrip(r); !errors.Is(err, breaker.ErrOpen) {
			t.Fatalf("POST: %v, want breaker.ErrOpen", err)
		}
		if !released() {
			t.Error("breaker open: the body was not closed")
		}
	})
	t.Run("closed transport", func(t *testing.T) {
		tr := herzTransport(t, transport.Config{})
		tr.Close()
		body, released := pipeUpload(t)
		r, _ := http.NewRequest(http.MethodPost, srv.URL, body)
		if _, err := tr.RoundTrip(r); !errors.Is(err, transport.ErrClosed) {
			t.Fatalf("POST: %v, want transport.ErrClosed", err)
		}
		if !released() {
			t.Error("closed transport: the body was not closed")
		}
	})
}

// failingBody is an upload whose source fails after a few bytes, on the
// client.
type failingBody struct{ n int }

var errSource = errors.New("upload source failed")

func (b *failingBody) Read(p []byte) (int, error) {
	if b.n >= 3 {
		return 0, errSource
	}
	b.n++
	p[0] = 'x'
	return 1, nil
}

func (b *failingBody) Close() error { return nil }

// TestCallerMistakesNeverOpenTheBreaker: an invalid header (user input in
// a header value) and an upload whose source fails on the client are the
// caller's, not the host's: herz returns net/http's error, sends nothing
// more than net/http (no retries), counts nothing for the host's breaker,
// and the next healthy request to that host succeeds.
func TestCallerMistakesNeverOpenTheBreaker(t *testing.T) {
	t.Parallel()
	var hits sync.Map // path -> *atomic.Int64: each transport its own path
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := hits.LoadOrStore(r.URL.Path, new(atomic.Int64))
		n.(*atomic.Int64).Add(1)
		io.Copy(io.Discard, r.Body)
	}))
	t.Cleanup(srv.Close)
	std := stdTransport(t)
	herz := herzTransport(t, transport.Config{})

	mistakes := []struct {
		name  string
		build func(url string) *http.Request
	}{
		{"invalid header", func(url string) *http.Request {
			r, _ := http.NewRequest(http.MethodGet, url, nil)
			r.Header.Set("X-Search", "user input\r\n")
			return r
		}},
		{"upload source fails", func(url string) *http.Request {
			// GetBody is set: herz could replay it, and must not.
			r, _ := http.NewRequest(http.MethodPut, url, &failingBody{})
			r.GetBody = func() (io.ReadCloser, error) { return &failingBody{}, nil }
			return r
		}},
	}
	for mi, m := range mistakes {
		var stdErr error
		var stdHits int64
		for ti, rt := range []http.RoundTripper{std, herz} {
			path := fmt.Sprintf("/%d/%d", mi, ti)
			var err error
			for range 10 { // twice the breaker's consecutive failures
				var resp *http.Response
				if resp, err = rt.RoundTrip(m.build(srv.URL + path)); err == nil {
					resp.Body.Close()
				}
			}
			time.Sleep(50 * time.Millisecond) // let the server count the last one (not asserted on time)
			n := hitsOf(&hits, path)
			if rt == http.RoundTripper(std) {
				stdErr, stdHits = err, n
				continue
			}
			if err == nil || err.Error() != stdErr.Error() {
				t.Errorf("%s: herz %v, net/http %v; want net/http's error", m.name, err, stdErr)
			}
			if m.name == "upload source fails" && !errors.Is(err, errSource) {
				t.Errorf("%s: herz %v, want the body's own error", m.name, err)
			}
			if n > stdHits {
				t.Errorf("%s: the server saw %d requests from herz, %d from net/http", m.name, n, stdHits)
			}
		}
		if code, err := get(herz, http.MethodGet, srv.URL, 5*time.Second); err != nil || code != 200 {
			t.Errorf("after 10 × %s: healthy GET %d, %v; want 200 (the caller's mistakes opened the host's breaker)", m.name, code, err)
		}
	}
	st := herz.Stats()
	if len(st.Retries) != 0 || st.BreakerRejects != 0 || st.Breakers[srv.Listener.Addr().String()] != breaker.StateClosed {
		t.Errorf("herz retried or counted the caller's mistakes: %v", st)
	}
}

// nxdomainResolver answers every query with NXDOMAIN from a DNS server on
// 127.0.0.1 (no traffic leaves the machine) and counts the queries.
func nxdomainResolver(t *testing.T) (*net.Resolver, *atomic.Int64) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var queries atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 512)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if n < 12 {
				continue
			}
			queries.Add(1)
			resp := append([]byte(nil), buf[:n]...)
			resp[2] = 0x81 | (buf[2] & 0x78) // QR, the query's opcode, RD
			resp[3] = 0x83                   // RA, RCODE 3: NXDOMAIN
			binary.BigEndian.PutUint16(resp[6:], 0)
			binary.BigEndian.PutUint16(resp[8:], 0)
			binary.BigEndian.PutUint16(resp[10:], 0)
			// Drop an EDNS OPT record (additional section) from the echo.
			if q := questionEnd(resp); q > 0 {
				resp = resp[:q]
			}
			pc.WriteTo(resp, from)
		}
	}()
	t.Cleanup(func() {
		pc.Close()
		wg.Wait()
	})
	addr := pc.LocalAddr().String()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", addr)
	}}, &queries
}

// questionEnd returns the end of the first question of a DNS message, or 0.
func questionEnd(m []byte) int {
	i := 12
	for i < len(m) && m[i] != 0 {
		i += int(m[i]) + 1
	}
	if i+5 > len(m) {
		return 0
	}
	return i + 5
}

// TestNXDOMAINIsNetHTTPsErrorAndNeverRetried: a name that does not exist
// gives, through http.Client, a *url.Error whose Err is the *net.OpError
// holding the *net.DNSError, exactly as with net/http; herz asks the
// resolver no more than net/http, does not retry, and its breaker stays
// closed.
func TestNXDOMAINIsNetHTTPsErrorAndNeverRetried(t *testing.T) {
	t.Parallel()
	res, queries := nxdomainResolver(t)
	std := stdTransport(t)
	std.DialContext = (&net.Dialer{Resolver: res, Timeout: 5 * time.Second}).DialContext
	herz := herzTransport(t, transport.Config{Dialer: dialer.Config{Resolver: res}})
	const target = "http://no-such-host.invalid:8080/"

	var errs [2]error
	var asked [2]int64
	for i, rt := range []http.RoundTripper{std, herz} {
		before := queries.Load()
		for range 6 {
			_, errs[i] = (&http.Client{Transport: rt}).Get(target)
		}
		asked[i] = queries.Load() - before
		var ue *url.Error
		if !errors.As(errs[i], &ue) {
			t.Fatalf("transport %d: %T %v, want *url.Error", i, errs[i], errs[i])
		}
		op, ok := ue.Err.(*net.OpError)
		if !ok {
			t.Errorf("transport %d: urlErr.Err is %T, want *net.OpError: %v", i, ue.Err, ue.Err)
			continue
		}
		var dnsErr *net.DNSError
		if !errors.As(op, &dnsErr) || !dnsErr.IsNotFound {
			t.Errorf("transport %d: %v, want a *net.DNSError with IsNotFound", i, op)
		}
	}
	if errs[1].Error() != errs[0].Error() {
		t.Errorf("herz %q, net/http %q; want net/http's", errs[1], errs[0])
	}
	if asked[1] > asked[0] {
		t.Errorf("herz asked the resolver %d times, net/http %d: herz retried an NXDOMAIN", asked[1], asked[0])
	}
	st := herz.Stats()
	if len(st.Retries) != 0 || st.BreakerRejects != 0 {
		t.Errorf("herz retried or rejected: %v", st)
	}
	for k, s := range st.Breakers {
		if s != breaker.StateClosed {
			t.Errorf("breaker %s is %v after NXDOMAINs, want closed", k, s)
		}
	}
}

// TestRefusedConnectIsNetHTTPsError: a refused connect reaches the caller
// as net/http's *net.OpError inside *url.Error (type assertion and
// errors.As), with net/http's text.
func TestRefusedConnectIsNetHTTPsError(t *testing.T) {
	t.Parallel()
	for _, scheme := range []string{"http", "https"} {
		refusedConnectIsNetHTTPsError(t, scheme+"://"+testenv.ClosedAddr(t)+"/")
	}
}

func refusedConnectIsNetHTTPsError(t *testing.T, target string) {
	var errs [2]error
	for i, rt := range []http.RoundTripper{stdTransport(t), herzTransport(t, transport.Config{})} {
		_, errs[i] = (&http.Client{Transport: rt}).Get(target)
		var ue *url.Error
		if !errors.As(errs[i], &ue) {
			t.Fatalf("transport %d: %T %v, want *url.Error", i, errs[i], errs[i])
		}
		if op, ok := ue.Err.(*net.OpError); !ok || op.Op != "dial" {
			t.Errorf("transport %d: urlErr.Err is %T %v, want a dial *net.OpError", i, ue.Err, ue.Err)
		}
	}
	if errs[1].Error() != errs[0].Error() {
		t.Errorf("herz %q, net/http %q; want net/http's", errs[1], errs[0])
	}
}

// slowServer answers /headers after 2s (or when the client goes away),
// and /body with its headers at once and the body after 2s; it counts the
// requests per path.
func slowServer(t *testing.T, h2 bool) (*httptest.Server, *sync.Map) {
	var hits sync.Map // path -> *atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := hits.LoadOrStore(r.URL.Path, new(atomic.Int64))
		n.(*atomic.Int64).Add(1)
		if r.URL.Path == "/body" {
			w.Header().Set("Content-Length", "10")
			w.WriteHeader(200)
			io.WriteString(w, "12345")
			w.(http.Flusher).Flush()
		}
		select {
		case <-r.Context().Done():
		case <-time.After(2 * time.Second):
			io.WriteString(w, "12345")
		}
	}))
	if h2 {
		srv.EnableHTTP2 = true
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return srv, &hits
}

func hitsOf(m *sync.Map, path string) int64 {
	if n, ok := m.Load(path); ok {
		return n.(*atomic.Int64).Load()
	}
	return 0
}

// pair returns net/http's and herz's transports for srv (TLS trust when it
// is a TLS server), herz configured by cfg.
func pair(t *testing.T, srv *httptest.Server, cfg transport.Config) (*http.Transport, *transport.Transport) {
	std := stdTransport(t)
	if srv.TLS != nil {
		std.TLSClientConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
		cfg.TLSClientConfig = std.TLSClientConfig.Clone()
	}
	return std, herzTransport(t, cfg)
}

// TestResponseHeaderTimeoutBoundsTheWholeCall: ResponseHeaderTimeout=200ms
// gives one execution and net/http's error after ~200ms, not three
// attempts, over HTTP/1.1 and HTTP/2.
func TestResponseHeaderTimeoutBoundsTheWholeCall(t *testing.T) {
	t.Parallel()
	for _, h2 := range []bool{false, true} {
		t.Run(map[bool]string{false: "http1", true: "h2"}[h2], func(t *testing.T) {
			t.Parallel()
			responseHeaderTimeoutBoundsTheWholeCall(t, h2)
		})
	}
}

func responseHeaderTimeoutBoundsTheWholeCall(t *testing.T, h2 bool) {
	srv, hits := slowServer(t, h2)
	std, herz := pair(t, srv, transport.Config{ResponseHeaderTimeout: 200 * time.Millisecond})
	std.ResponseHeaderTimeout = 200 * time.Millisecond
	var errs [2]error
	var execs [2]int64
	var took [2]time.Duration
	for i, rt := range []http.RoundTripper{std, herz} {
		before := hitsOf(hits, "/headers")
		start := time.Now()
		_, errs[i] = (&http.Client{Transport: rt}).Get(srv.URL + "/headers")
		took[i] = time.Since(start)
		// Wait for the server to count the execution (it runs in the
		// server's goroutine): bounded.
		for j := 0; j < 100 && hitsOf(hits, "/headers") == before; j++ {
			time.Sleep(5 * time.Millisecond)
		}
		execs[i] = hitsOf(hits, "/headers") - before
	}
	if errs[0] == nil || errs[1] == nil || errs[1].Error() != errs[0].Error() {
		t.Errorf("herz %v, net/http %v; want net/http's error", errs[1], errs[0])
	}
	if execs[1] != 1 || execs[1] > execs[0] {
		t.Errorf("herz: %d executions, net/http %d; want 1", execs[1], execs[0])
	}
	// End-to-end bound with 3x headroom over the configured 200ms.
	if took[1] > 600*time.Millisecond {
		t.Errorf("herz took %v (net/http %v) for a 200ms ResponseHeaderTimeout", took[1], took[0])
	}
}

// TestClientTimeoutErrorsAreNetHTTPs: http.Client.Timeout, while awaiting
// headers and while reading the body, gives net/http's error texts (not
// "request canceled"), and one execution, over HTTP/1.1 and HTTP/2.
func TestClientTimeoutErrorsAreNetHTTPs(t *testing.T) {
	t.Parallel()
	for _, h2 := range []bool{false, true} {
		t.Run(map[bool]string{false: "http1", true: "h2"}[h2], func(t *testing.T) {
			t.Parallel()
			clientTimeoutErrorsAreNetHTTPs(t, h2)
		})
	}
}

func clientTimeoutErrorsAreNetHTTPs(t *testing.T, h2 bool) {
	srv, hits := slowServer(t, h2)
	std, herz := pair(t, srv, transport.Config{})
	for _, path := range []string{"/headers", "/body"} {
		var errs [2]error
		for i, rt := range []http.RoundTripper{std, herz} {
			client := &http.Client{Transport: rt, Timeout: 300 * time.Millisecond}
			resp, err := client.Get(srv.URL + path)
			if err == nil {
				_, err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			errs[i] = err
		}
		if errs[0] == nil || errs[1] == nil || errs[1].Error() != errs[0].Error() {
			t.Errorf("%s: herz %v, net/http %v; want net/http's error", path, errs[1], errs[0])
		}
		var ne net.Error
		if !errors.As(errs[1], &ne) || !ne.Timeout() {
			t.Errorf("%s: herz %v is not a net.Error timeout", path, errs[1])
		}
	}
	if n := hitsOf(hits, "/headers"); n > 2 {
		t.Errorf("/headers executed %d times for 2 calls", n)
	}
}

// TestDefaultsRetryOnlyWhatIsInvisible: by default a DELETE that ran but
// lost its response gives the caller net/http's error (not the 404 of a
// re-send), and GET 503, HEAD 502 and 429 with Retry-After are returned at
// once, sent once, as with net/http; RetryConfig.IdempotentMethods opts
// into re-sending the DELETE.
func TestDefaultsRetryOnlyWhatIsInvisible(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	deleted := map[string]int{} // item -> executions
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		switch {
		case r.Method == http.MethodDelete:
			mu.Lock()
			deleted[r.URL.Path]++
			first := deleted[r.URL.Path] == 1
			mu.Unlock()
			if !first {
				http.NotFound(w, r)
				return
			}
			// Executed; the response is lost with the connection.
			c, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				c.Close()
			}
		case r.URL.Path == "/503":
			w.WriteHeader(http.StatusServiceUnavailable)
		case r.URL.Path == "/502":
			w.WriteHeader(http.StatusBadGateway)
		case r.URL.Path == "/429":
			w.Header().Set("Retry-After", "2")
			w.WriteHeader(http.StatusTooManyRequests)
		}
	}))
	t.Cleanup(srv.Close)
	std := stdTransport(t)
	herz := herzTransport(t, transport.Config{})
	optIn := herzTransport(t, transport.Config{Retry: transport.RetryConfig{IdempotentMethods: true}})

	del := func(rt http.RoundTripper, item string) (int, error) {
		req, _ := http.NewRequest(http.MethodDelete, srv.URL+"/items/"+item, nil)
		resp, err := rt.RoundTrip(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		if resp.Request != req {
			t.Errorf("DELETE %s: resp.Request is not the caller's request", item)
		}
		return resp.StatusCode, nil
	}
	_, stdErr := del(std, "a")
	_, herzErr := del(herz, "b")
	if stdErr == nil || herzErr == nil || herzErr.Error() != stdErr.Error() {
		t.Errorf("DELETE losing its response: herz %v, net/http %v; want net/http's error", herzErr, stdErr)
	}
	mu.Lock()
	if deleted["/items/b"] != 1 {
		t.Errorf("herz's DELETE executed %d times, want 1", deleted["/items/b"])
	}
	mu.Unlock()
	if code, err := del(optIn, "c"); err != nil || code != http.StatusNotFound {
		t.Errorf("DELETE under IdempotentMethods: %d, %v; want the re-send's 404", code, err)
	}

	for _, c := range []struct{ method, path string }{{http.MethodGet, "/503"}, {http.MethodHead, "/502"}, {http.MethodGet, "/429"}} {
		var codes [2]int
		var sent [2]int64
		var took [2]time.Duration
		for i, rt := range []http.RoundTripper{std, herz} {
			before := hits.Load()
			start := time.Now()
			codes[i], _ = get(rt, c.method, srv.URL+c.path, 10*time.Second)
			took[i] = time.Since(start)
			sent[i] = hits.Load() - before
		}
		if codes[1] != codes[0] || sent[1] != sent[0] {
			t.Errorf("%s %s: herz %d after %d sends, net/http %d after %d", c.method, c.path, codes[1], sent[1], codes[0], sent[0])
		}
		// End-to-end bound: ~0 for both; Retry-After asked for 2s.
		if took[1] > time.Second {
			t.Errorf("%s %s: herz took %v (net/http %v)", c.method, c.path, took[1], took[0])
		}
	}
	if st := herz.Stats(); len(st.Retries) != 0 {
		t.Errorf("herz retried by default: %v", st.Retries)
	}
}

// TestRetryableHTTPDefaultBackoffUnderHerz is go-retryablehttp's
// TestClient_DefaultBackoff with herz underneath: the client decides the
// retries, so herz returns each 429/503 with Retry-After at once (one
// request each, as net/http), not after waiting the Retry-After itself.
func TestRetryableHTTPDefaultBackoffUnderHerz(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		code   int
		header string
	}{
		{http.StatusTooManyRequests, "2"},
		{http.StatusTooManyRequests, "Fri, 31 Dec 1999 23:59:59 GMT"},
		{http.StatusServiceUnavailable, "2"},
	} {
		var hits atomic.Int64
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits.Add(1)
			w.Header().Set("Retry-After", tc.header)
			http.Error(w, fmt.Sprintf("test_%d_body", tc.code), tc.code)
		}))
		for _, rt := range []http.RoundTripper{stdTransport(t), herzTransport(t, transport.Config{})} {
			before := hits.Load()
			client := retryablehttp.NewClient()
			client.Logger = nil
			client.HTTPClient.Transport = rt
			client.CheckRetry = func(_ context.Context, resp *http.Response, err error) (bool, error) {
				return false, nil
			}
			resp, err := client.Get(srv.URL)
			if err != nil {
				t.Fatalf("%d %s: %v", tc.code, tc.header, err)
			}
			resp.Body.Close()
			if n := hits.Load() - before; n != 1 || resp.StatusCode != tc.code {
				t.Errorf("%d %s through %T: %d after %d requests, want it after 1", tc.code, tc.header, rt, resp.StatusCode, n)
			}
		}
		srv.Close()
	}
}

// TestProxyIsAskedOncePerRequest: a round-robin Proxy function sends each
// request to the next proxy: herz asks it once per request, as net/http
// does, so two proxies share the requests evenly — also when responses
// carry a Keep-Alive header (which herz reads only for direct requests) and
// for requests that need no proxy (herz's own pool).
func TestProxyIsAskedOncePerRequest(t *testing.T) {
	t.Parallel()
	var via [2]atomic.Int64
	var proxies [2]*httptest.Server
	for i := range proxies {
		proxies[i] = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// A forward proxy that answers by itself.
			via[i].Add(1)
			w.Header().Set("Keep-Alive", "timeout=5")
			io.WriteString(w, "via proxy")
		}))
		t.Cleanup(proxies[i].Close)
	}
	direct := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(direct.Close)
	var calls, proxied atomic.Int64
	roundRobin := func(r *http.Request) (*url.URL, error) {
		calls.Add(1)
		if r.URL.Host == direct.Listener.Addr().String() {
			return nil, nil
		}
		return url.Parse(proxies[proxied.Add(1)%2].URL)
	}
	std := stdTransport(t)
	std.Proxy = roundRobin
	herz, err := transport.New(transport.Config{Proxy: roundRobin})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { herz.Close() })
	for _, rt := range []http.RoundTripper{std, herz} {
		calls.Store(0)
		via[0].Store(0)
		via[1].Store(0)
		for range 10 {
			if code, err := get(rt, http.MethodGet, "http://example.invalid/", 5*time.Second); err != nil || code != 200 {
				t.Fatalf("%T: proxied GET %d, %v", rt, code, err)
			}
			if code, err := get(rt, http.MethodGet, direct.URL, 5*time.Second); err != nil || code != 200 {
				t.Fatalf("%T: direct GET %d, %v", rt, code, err)
			}
		}
		if calls.Load() != 20 || via[0].Load() != 5 || via[1].Load() != 5 {
			t.Errorf("%T: Proxy called %d times for 20 requests, proxies saw %d and %d; want 20, 5 and 5", rt, calls.Load(), via[0].Load(), via[1].Load())
		}
	}
}

// TestClientTimeoutBoundsStatusRetries: under the RetryUnavailable policy,
// a 503 asking Retry-After: 1 from a client with a 300ms Client.Timeout is
// returned at once, sent once, as net/http returns it: herz never waits
// past the caller's bound, nor turns the answer into a timeout.
func TestClientTimeoutBoundsStatusRetries(t *testing.T) {
	t.Parallel()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	herz := herzTransport(t, transport.Config{Retry: transport.RetryConfig{RetryStatus: transport.RetryUnavailable}})
	for _, rt := range []http.RoundTripper{stdTransport(t), herz} {
		before := hits.Load()
		resp, err := (&http.Client{Transport: rt, Timeout: 300 * time.Millisecond}).Get(srv.URL)
		if err != nil {
			t.Errorf("%T: %v, want the 503", rt, err)
			continue
		}
		resp.Body.Close()
		if n := hits.Load() - before; resp.StatusCode != 503 || n != 1 {
			t.Errorf("%T: %d after %d sends, want 503 after 1", rt, resp.StatusCode, n)
		}
	}
}

// resetListener resets (RST) the next pending accepted connections once
// the client's first bytes (its TLS ClientHello) arrive: a TLS handshake
// that fails on a fresh, verified connection.
type resetListener struct {
	net.Listener
	pending atomic.Int64
}

func (l *resetListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if l.pending.Add(-1) >= 0 {
		return &resetOnRead{c.(*net.TCPConn)}, nil
	}
	l.pending.Store(0)
	return c, nil
}

type resetOnRead struct{ *net.TCPConn }

func (c *resetOnRead) Read(p []byte) (int, error) {
	c.TCPConn.Read(p)
	c.SetLinger(0)
	c.Close()
	return 0, io.EOF
}

// TestFailedTLSHandshakeIsANothingWrittenRetry: a TLS handshake reset on a
// connection herz dialed means nothing of the request was written: herz
// re-sends even a POST (its body replayed through GetBody), executed once,
// where net/http gives the caller the reset.
func TestFailedTLSHandshakeIsANothingWrittenRetry(t *testing.T) {
	t.Parallel()
	var execs atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		execs.Add(1)
		io.Copy(io.Discard, r.Body)
	}))
	ln := &resetListener{Listener: srv.Listener}
	srv.Listener = ln
	srv.StartTLS()
	t.Cleanup(srv.Close)
	std := srv.Client().Transport.(*http.Transport).Clone()
	t.Cleanup(std.CloseIdleConnections)
	herz := herzTransport(t, transport.Config{TLSClientConfig: std.TLSClientConfig})
	post := func(rt http.RoundTripper) (int, error) {
		ln.pending.Store(1)
		req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader("pay once"))
		resp, err := rt.RoundTrip(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	before := execs.Load()
	if _, err := post(std); err != nil {
		t.Logf("std: %v", err)
	} else {
		t.Log("net/http: the POST succeeded (the reset came too late to fail it)")
	}
	stdExecs := execs.Load() - before
	before = execs.Load()
	if code, err := post(herz); err != nil || code != 200 {
		t.Errorf("herz: %d, %v; want 200 after re-sending on a new connection", code, err)
	}
	if n := execs.Load() - before; n != 1 || n < stdExecs {
		t.Errorf("herz: executed %d times (net/http %d), want 1", n, stdExecs)
	}
	if st := herz.Stats(); st.Retries["connect_failure"] != 1 {
		t.Errorf("herz retries %v, want connect_failure 1", st.Retries)
	}
}

// TestRetriesStayInHerzsPool: a retried plain-HTTP/1.1 request is re-sent on
// the connection its first attempt used (herz's own pool), not on a second
// connection of net/http's pool: one dial for both attempts, as net/http
// makes for two requests.
func TestRetriesStayInHerzsPool(t *testing.T) {
	t.Parallel()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1)%2 == 1 {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(srv.Close)
	std := stdTransport(t)
	var stdConns atomic.Int64
	std.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		stdConns.Add(1)
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
	herz := herzTransport(t, transport.Config{Retry: transport.RetryConfig{RetryStatus: transport.RetryUnavailable}})
	// net/http: the 503 and the caller's own second request.
	for range 2 {
		get(std, http.MethodGet, srv.URL, 5*time.Second)
	}
	if code, err := get(herz, http.MethodGet, srv.URL, 5*time.Second); err != nil || code != 200 {
		t.Fatalf("herz: %d, %v; want 200 after the retry", code, err)
	}
	if st := herz.Stats(); st.Dials > uint64(stdConns.Load()) || st.Retries["status_503"] != 1 {
		t.Errorf("herz dialed %d conns for a retried request (net/http %d for two requests): %v", st.Dials, stdConns.Load(), st)
	}
}
