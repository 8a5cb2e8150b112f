package benchmarks_test

import "crypto/tls"

// herzSkip is the reason the herz clients are skipped; empty once transport/
// has landed and newHerzClient builds transport.New(transport.Config{}).
const herzSkip = "transport not landed yet"

// newHerzClient builds herz's drop-in transport with its zero Config (plus
// the test server's TLS trust). transport/ has not landed yet; when it does:
//
//	tr, err := transport.New(transport.Config{TLSClientConfig: tlsCfg})
//	if err != nil { return nil, err.Error() }
//	c := &http.Client{Transport: tr}
//	return &httpClient{do: c.Do, closeIdle: tr.CloseIdleConnections, close: func() { tr.Close() }}, ""
func newHerzClient(tlsCfg *tls.Config) (*httpClient, string) {
	_ = tlsCfg
	return nil, herzSkip
}
