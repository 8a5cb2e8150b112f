package benchmarks_test

import (
	"crypto/tls"
	"net/http"

	"github.com/herz-go/herz/transport"
)

// newHerzClient builds herz's drop-in transport with its zero Config, plus
// the test server's TLS trust: transport.New(transport.Config{}).
func newHerzClient(tlsCfg *tls.Config) (*httpClient, string) {
	tr, err := transport.New(transport.Config{TLSClientConfig: tlsCfg})
	if err != nil {
		return nil, "transport.New: " + err.Error()
	}
	c := &http.Client{Transport: tr}
	return &httpClient{do: c.Do, closeIdle: tr.CloseIdleConnections, close: func() { _ = tr.Close() }}, ""
}
