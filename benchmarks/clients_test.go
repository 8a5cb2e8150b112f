package benchmarks_test

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"sync"

	retryablehttp "github.com/hashicorp/go-retryablehttp"

	"github.com/herz-go/herz/faultlab"
)

// clientKind builds a fresh, isolated HTTP client of one kind: the client
// and a function releasing everything it owns.
type clientKind struct {
	name  string
	build func(tlsCfg *tls.Config) (*http.Client, func())
}

// newClient is ck as a faultlab client constructor, so every soak runs on
// the same faultlab.Run a user's benchmark does.
func (ck clientKind) newClient(tgt faultlab.Target) (faultlab.Client, error) {
	c, release := ck.build(tgt.TLSConfig)
	hc := faultlab.HTTPClient(c)
	return faultlab.ClientFunc(hc.Do, func() error { release(); return nil }), nil
}

// httpClients are the clients every HTTP scenario compares, in this order.
var httpClients = []clientKind{
	{"stdlib", newStdlibClient},
	{"retryablehttp", newRetryableClient},
	{"herz", newHerzClient}, // herz_client_test.go
}

// stdTransport is an isolated http.DefaultTransport: same settings
// (DefaultTransport's dialer), its own pool. tlsCfg (may be nil) trusts the
// test server's certificate. release closes its idle conns and every conn
// it dialed (it holds them all until then): an HTTP/2 conn whose stream was canceled into a blackhole is
// never idle, and its read loop would outlive the test (goleak).
func stdTransport(tlsCfg *tls.Config) (tr *http.Transport, release func()) {
	tr = http.DefaultTransport.(*http.Transport).Clone()
	if tlsCfg != nil {
		tr.TLSClientConfig = tlsCfg
	}
	var mu sync.Mutex
	var conns []net.Conn
	dial := tr.DialContext // DefaultTransport's dialer
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err == nil {
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
		return c, err
	}
	return tr, func() {
		tr.CloseIdleConnections()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
		conns = nil
	}
}

// newStdlibClient is what most services run today: http.DefaultTransport.
func newStdlibClient(tlsCfg *tls.Config) (*http.Client, func()) {
	tr, release := stdTransport(tlsCfg)
	return &http.Client{Transport: tr}, release
}

// newRetryableClient is go-retryablehttp's default client (4 retries, 1s..30s
// backoff, retries on connection errors and 5xx/429 for every method), with
// logging off and DefaultTransport's settings.
func newRetryableClient(tlsCfg *tls.Config) (*http.Client, func()) {
	tr, release := stdTransport(tlsCfg)
	rc := retryablehttp.NewClient()
	rc.Logger = nil
	rc.HTTPClient.Transport = tr
	return rc.StandardClient(), release
}
