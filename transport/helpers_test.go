package transport_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/herz-go/herz/internal/testenv"
	"github.com/herz-go/herz/transport"
)

// newHerz returns a herz Transport set up for srv's protocol (TLS trust, h2c),
// never proxied, closed in t.Cleanup.
func newHerz(t testing.TB, srv *testenv.HTTPServer, protocol testenv.Protocol, cfg transport.Config) *transport.Transport {
	t.Helper()
	cfg.Proxy = transport.NoProxy
	switch protocol {
	case testenv.HTTPS:
		cfg.TLSClientConfig = srv.ClientTLSConfig()
	case testenv.H2C:
		cfg.H2C = true
	}
	tr, err := transport.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

var reqSeq atomic.Int64

// newID returns a request ID unique within the test binary.
func newID(prefix string) string { return fmt.Sprintf("%s-%d", prefix, reqSeq.Add(1)) }

// send makes one request with a unique request ID (a bytes.Reader body for
// POST, so GetBody is set), reads the body, and returns the status and the ID.
func send(ctx context.Context, rt http.RoundTripper, method, url string) (int, string, error) {
	id := newID(method)
	var body io.Reader
	if method == http.MethodPost {
		body = bytes.NewReader([]byte("payload of " + id))
	}
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return 0, id, err
	}
	req.Header.Set(testenv.RequestIDHeader, id)
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return 0, id, err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return resp.StatusCode, id, err
	}
	return resp.StatusCode, id, nil
}

// stdlibFor returns a standard-library transport for srv's protocol, the way
// a user would configure it, closed in t.Cleanup.
func stdlibFor(t testing.TB, srv *testenv.HTTPServer, protocol testenv.Protocol) *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	switch protocol {
	case testenv.HTTPS:
		tr.TLSClientConfig = srv.ClientTLSConfig()
	case testenv.H2C:
		p := new(http.Protocols)
		p.SetUnencryptedHTTP2(true)
		tr.Protocols = p
	}
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

var protocols = []testenv.Protocol{testenv.HTTP1, testenv.HTTPS, testenv.H2C}
