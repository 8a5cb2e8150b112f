package benchmarks_test

import (
	"crypto/tls"
	"net/http"

	retryablehttp "github.com/hashicorp/go-retryablehttp"
)

// httpClient is one HTTP client under test, reduced to what the soak needs.
type httpClient struct {
	do        func(*http.Request) (*http.Response, error)
	closeIdle func() // closes idle connections (before counting leaks)
	close     func() // releases everything the client owns
}

// clientKind builds a fresh, isolated client of one kind. build returns a
// non-empty skip reason when the kind cannot run (yet).
type clientKind struct {
	name  string
	build func(tlsCfg *tls.Config) (*httpClient, string)
}

// httpClients are the clients every HTTP scenario compares, in this order.
var httpClients = []clientKind{
	{"stdlib", newStdlibClient},
	{"retryablehttp", newRetryableClient},
	{"herz", newHerzClient}, // herz_client_test.go
}

// stdTransport is an isolated http.DefaultTransport: same settings, its own
// pool. tlsCfg (may be nil) trusts the test server's certificate.
func stdTransport(tlsCfg *tls.Config) *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if tlsCfg != nil {
		tr.TLSClientConfig = tlsCfg
	}
	return tr
}

// newStdlibClient is what most services run today: http.DefaultTransport.
func newStdlibClient(tlsCfg *tls.Config) (*httpClient, string) {
	tr := stdTransport(tlsCfg)
	c := &http.Client{Transport: tr}
	return &httpClient{do: c.Do, closeIdle: tr.CloseIdleConnections, close: tr.CloseIdleConnections}, ""
}

// newRetryableClient is go-retryablehttp's default client (4 retries, 1s..30s
// backoff, retries on connection errors and 5xx/429 for every method), with
// logging off and DefaultTransport's settings.
func newRetryableClient(tlsCfg *tls.Config) (*httpClient, string) {
	tr := stdTransport(tlsCfg)
	rc := retryablehttp.NewClient()
	rc.Logger = nil
	rc.HTTPClient.Transport = tr
	do := func(req *http.Request) (*http.Response, error) {
		rreq, err := retryablehttp.FromRequest(req)
		if err != nil {
			return nil, err
		}
		return rc.Do(rreq)
	}
	return &httpClient{do: do, closeIdle: tr.CloseIdleConnections, close: tr.CloseIdleConnections}, ""
}
