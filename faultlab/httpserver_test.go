package faultlab_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/herz-go/herz/faultlab"
	"github.com/herz-go/herz/internal/testenv"
)

// do sends a request with an optional request ID and returns the response
// (body drained and closed) and the body length. Safe from any goroutine.
func do(c *http.Client, method, url, id string, body io.Reader) (*http.Response, int, error) {
	req, err := http.NewRequestWithContext(context.Background(), method, url, body)
	if err != nil {
		return nil, 0, err
	}
	if id != "" {
		req.Header.Set(faultlab.RequestIDHeader, id)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	return resp, int(n), err
}

func TestHTTPServerSpeaksEachProtocolAndCountsByRequestID(t *testing.T) {
	for _, tc := range []struct {
		proto     faultlab.Protocol
		wantMajor int
		scheme    string
	}{
		{faultlab.HTTP1, 1, "http://"},
		{faultlab.HTTPS, 2, "https://"},
		{faultlab.H2C, 2, "http://"},
	} {
		t.Run(tc.proto.String(), func(t *testing.T) {
			s := testenv.NewHTTPServer(t, faultlab.HTTPOptions{Protocol: tc.proto}).HTTPServer
			c := s.Client()
			// The server counts the conns the client made: usually 1, but
			// net/http's h2c may dial a second one for the second request
			// on a loaded machine (seen in CI), which the server may not
			// have accepted yet if the request went to the first.
			tr := c.Transport.(*http.Transport)
			var dials atomic.Int64
			dial := tr.DialContext
			tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
				dials.Add(1)
				return dial(ctx, network, addr)
			}
			if !strings.HasPrefix(s.URL(), tc.scheme+"127.0.0.1:") || !strings.HasSuffix(s.URL(), s.Addr()) {
				t.Errorf("URL() = %q, Addr() = %q", s.URL(), s.Addr())
			}
			resp, n, err := do(c, http.MethodPost, s.URL()+"/x", "req-1", strings.NewReader("payload"))
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusOK || n != 1024 || resp.ProtoMajor != tc.wantMajor {
				t.Errorf("got %d, %d bytes, HTTP/%d; want 200, 1024 bytes, HTTP/%d", resp.StatusCode, n, resp.ProtoMajor, tc.wantMajor)
			}
			if got := resp.Header.Get(faultlab.RequestIDHeader); got != "req-1" {
				t.Errorf("echoed request ID %q, want req-1", got)
			}
			if _, _, err := do(c, http.MethodGet, s.URL(), "", nil); err != nil {
				t.Fatal(err)
			}
			if s.Executions("req-1") != 1 || s.Duplicates() != 0 || s.Requests() != 2 || s.Conns() < 1 || s.Conns() > int(dials.Load()) {
				t.Errorf("executions=%d duplicates=%d requests=%d conns=%d, want 1 0 2 and 1 to the client's %d dials",
					s.Executions("req-1"), s.Duplicates(), s.Requests(), s.Conns(), dials.Load())
			}
			if _, _, err := do(c, http.MethodPost, s.URL(), "req-1", strings.NewReader("again")); err != nil {
				t.Fatal(err)
			}
			if s.Executions("req-1") != 2 || s.Duplicates() != 1 {
				t.Errorf("after a re-sent ID: executions=%d duplicates=%d, want 2 1", s.Executions("req-1"), s.Duplicates())
			}
		})
	}
}

func TestHTTPServerClientTLSConfigTrustsOnlyThisServer(t *testing.T) {
	a := testenv.NewHTTPServer(t, faultlab.HTTPOptions{Protocol: faultlab.HTTPS}).HTTPServer
	b := testenv.NewHTTPServer(t, faultlab.HTTPOptions{Protocol: faultlab.HTTPS}).HTTPServer
	if cfg := testenv.NewHTTPServer(t, faultlab.HTTPOptions{}).ClientTLSConfig(); cfg != nil {
		t.Errorf("plain server ClientTLSConfig() = %v, want nil", cfg)
	}
	tr := &http.Transport{TLSClientConfig: a.ClientTLSConfig()}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	if _, _, err := do(c, http.MethodGet, a.URL(), "", nil); err != nil {
		t.Fatalf("own server: %v", err)
	}
	_, _, err := do(c, http.MethodGet, b.URL(), "", nil)
	if _, ok := errors.AsType[*tls.CertificateVerificationError](err); !ok {
		t.Errorf("other server's certificate: err = %v, want a certificate verification error", err)
	}
}

func TestHTTPServerIdleTimeoutClosesKeepAliveConnWithFIN(t *testing.T) {
	s := testenv.NewHTTPServer(t, faultlab.HTTPOptions{IdleTimeout: 50 * time.Millisecond, BodySize: -1}).HTTPServer
	c, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Close {
		t.Fatal("server asked to close; want keep-alive")
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := br.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("idle keep-alive conn: read %d bytes, err %v; want EOF (FIN from the idle timeout)", n, err)
	}
}

func TestHTTPServerResetEverySendsRSTAfterExecuting(t *testing.T) {
	s := testenv.NewHTTPServer(t, faultlab.HTTPOptions{ResetEvery: 2}).HTTPServer
	c, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	send := func(id string) error {
		_, err := io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nX-Request-Id: "+id+"\r\nContent-Length: 4\r\n\r\nbody")
		if err != nil {
			return err
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return err
	}
	if err := send("one"); err != nil {
		t.Fatalf("first request: %v", err)
	}
	err = send("two")
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("second request: err = %v, want ECONNRESET", err)
	}
	if s.Executions("two") != 1 {
		t.Errorf("reset request executions = %d, want 1 (executed, then reset)", s.Executions("two"))
	}
}

// The standard library re-sends a GET whose reused connection was reset;
// the server must count that as a duplicate execution (what P10 watches).
func TestHTTPServerDuplicatesSeesStdlibRetryOfResetGET(t *testing.T) {
	s := testenv.NewHTTPServer(t, faultlab.HTTPOptions{ResetEvery: 2}).HTTPServer
	c := s.Client()
	for _, id := range []string{"a", "b"} {
		if _, _, err := do(c, http.MethodGet, s.URL(), id, nil); err != nil {
			t.Fatalf("GET %s: %v", id, err)
		}
	}
	if s.Executions("b") != 2 || s.Duplicates() != 1 || s.Requests() != 3 {
		t.Errorf("executions(b)=%d duplicates=%d requests=%d; want 2 1 3", s.Executions("b"), s.Duplicates(), s.Requests())
	}
}

func TestHTTPServerResetEveryResetsHTTP2Connections(t *testing.T) {
	for _, proto := range []faultlab.Protocol{faultlab.HTTPS, faultlab.H2C} {
		t.Run(proto.String(), func(t *testing.T) {
			s := testenv.NewHTTPServer(t, faultlab.HTTPOptions{Protocol: proto, ResetEvery: 2}).HTTPServer
			c := s.Client()
			if _, _, err := do(c, http.MethodPost, s.URL(), "one", io.NopCloser(strings.NewReader("x"))); err != nil {
				t.Fatal(err)
			}
			// No GetBody: the client cannot replay it, so the reset is visible.
			_, _, err := do(c, http.MethodPost, s.URL(), "two", io.NopCloser(strings.NewReader("x")))
			if err == nil {
				t.Fatal("second POST succeeded; want the connection reset")
			}
			if s.Executions("two") != 1 {
				t.Errorf("executions(two) = %d, want 1", s.Executions("two"))
			}
			if _, _, err := do(c, http.MethodGet, s.URL(), "", nil); err != nil {
				t.Errorf("request after the reset: %v", err)
			}
			if s.Conns() != 2 {
				t.Errorf("conns = %d, want 2 (the reset one and a fresh one)", s.Conns())
			}
		})
	}
}

func TestHTTPServerDelayAndSleepParameter(t *testing.T) {
	s := testenv.NewHTTPServer(t, faultlab.HTTPOptions{Delay: 30 * time.Millisecond}).HTTPServer
	c := s.Client()
	for _, tc := range []struct {
		query string
		min   time.Duration
		code  int
	}{
		{"", 30 * time.Millisecond, 200},
		{"?sleep=60ms", 60 * time.Millisecond, 200},
		{"?sleep=0s", 0, 200},
		{"?sleep=banana", 0, 400},
	} {
		start := time.Now()
		resp, _, err := do(c, http.MethodGet, s.URL()+tc.query, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		// Lower bounds only: an upper bound would be a timed assertion.
		if took := time.Since(start); took < tc.min || resp.StatusCode != tc.code {
			t.Errorf("%q: %d after %v, want %d after at least %v", tc.query, resp.StatusCode, took, tc.code, tc.min)
		}
	}
}

func TestHTTPServerSetStatusStormsWithRetryAfterAndDoesNotExecute(t *testing.T) {
	s := testenv.NewHTTPServer(t, faultlab.HTTPOptions{}).HTTPServer
	c := s.Client()
	s.SetStatus(http.StatusServiceUnavailable, "2")
	resp, _, err := do(c, http.MethodPost, s.URL(), "id", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "2" {
		t.Errorf("storm: %d Retry-After %q, want 503 \"2\"", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if s.Executions("id") != 0 || s.Requests() != 1 {
		t.Errorf("storm: executions=%d requests=%d, want 0 1", s.Executions("id"), s.Requests())
	}
	s.SetStatus(0, "")
	resp, _, err = do(c, http.MethodPost, s.URL(), "id", strings.NewReader("x"))
	if err != nil || resp.StatusCode != 200 || s.Executions("id") != 1 {
		t.Errorf("after the storm: %v, %v, executions %d; want 200 and 1", resp, err, s.Executions("id"))
	}
}

func TestHTTPServerStopRefusesAndRestartServesOnTheSamePort(t *testing.T) {
	s := testenv.NewHTTPServer(t, faultlab.HTTPOptions{}).HTTPServer
	c := s.Client()
	addr := s.Addr()
	if _, _, err := do(c, http.MethodGet, s.URL(), "", nil); err != nil {
		t.Fatal(err)
	}
	s.Stop()
	s.Stop() // idempotent
	if _, err := net.DialTimeout("tcp", addr, time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial after Stop: %v, want ECONNREFUSED", err)
	}
	must(t, s.Restart())
	if s.Addr() != addr {
		t.Errorf("Addr() changed from %s to %s", addr, s.Addr())
	}
	if _, _, err := do(c, http.MethodGet, s.URL(), "", nil); err != nil {
		t.Errorf("GET after Restart: %v", err)
	}
	must(t, s.Restart()) // restart of a running server works too
	if _, _, err := do(c, http.MethodGet, s.URL(), "", nil); err != nil {
		t.Errorf("GET after a second Restart: %v", err)
	}
	if s.Requests() != 3 {
		t.Errorf("requests = %d, want 3 (counters survive restarts)", s.Requests())
	}
}

func TestHTTPServerGoAwaySendsGOAWAYAndKeepsServing(t *testing.T) {
	for _, proto := range []faultlab.Protocol{faultlab.H2C, faultlab.HTTPS} {
		t.Run(proto.String(), func(t *testing.T) {
			s := testenv.NewHTTPServer(t, faultlab.HTTPOptions{Protocol: proto}).HTTPServer
			var raw net.Conn
			if proto == faultlab.HTTPS {
				cfg := s.ClientTLSConfig()
				cfg.NextProtos = []string{"h2"}
				tc, err := tls.Dial("tcp", s.Addr(), cfg)
				if err != nil {
					t.Fatal(err)
				}
				raw = startH2(t, tc)
			} else {
				raw = dialH2C(t, s.Addr())
			}

			c := s.Client()
			inflight := make(chan error, 1)
			go func() {
				resp, _, err := do(c, http.MethodGet, s.URL()+"?sleep=300ms", "slow", nil)
				if err == nil && resp.StatusCode != 200 {
					err = errors.New(resp.Status)
				}
				inflight <- err
			}()
			for i := 0; s.Requests() == 0; i++ { // bounded: 5 s
				if i == 500 {
					t.Fatal("the slow request never arrived")
				}
				time.Sleep(10 * time.Millisecond)
			}

			must(t, s.GoAway())
			if code := waitGoAway(t, raw); code != 0 {
				t.Errorf("GOAWAY error code %d, want 0 (NO_ERROR, graceful)", code)
			}
			if err := <-inflight; err != nil {
				t.Errorf("request in flight during GoAway: %v, want it to finish", err)
			}
			if _, _, err := do(c, http.MethodGet, s.URL(), "", nil); err != nil {
				t.Errorf("request after GoAway: %v", err)
			}
		})
	}
}

func TestNewHTTPServerRejectsBadOptionsNamingTheField(t *testing.T) {
	for _, tc := range []struct {
		opts  faultlab.HTTPOptions
		field string
	}{
		{faultlab.HTTPOptions{Protocol: 7}, "HTTPOptions.Protocol"},
		{faultlab.HTTPOptions{IdleTimeout: -1}, "HTTPOptions.IdleTimeout"},
		{faultlab.HTTPOptions{ResetEvery: -1}, "HTTPOptions.ResetEvery"},
		{faultlab.HTTPOptions{Delay: -time.Second}, "HTTPOptions.Delay"},
	} {
		t.Run(tc.field, func(t *testing.T) {
			s, err := faultlab.NewHTTPServer(tc.opts)
			if err == nil {
				_ = s.Close()
			}
			if err == nil || !strings.Contains(err.Error(), tc.field) || !strings.HasPrefix(err.Error(), "herz/faultlab: ") {
				t.Errorf("err = %v, want an error naming %s", err, tc.field)
			}
		})
	}
}
