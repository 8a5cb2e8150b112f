package benchmarks_test

import (
	"crypto/tls"
	"net/http"

	"github.com/herz-go/herz/transport"
)

// newHerzClient builds herz's drop-in transport with its zero Config, plus
// the test server's TLS trust: transport.New(transport.Config{}).
func newHerzClient(tlsCfg *tls.Config) (*http.Client, func()) {
	tr := transport.Must(transport.Config{TLSClientConfig: tlsCfg})
	return &http.Client{Transport: tr}, func() { _ = tr.Close() }
}
