package transport_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/herz-go/herz/transport"
)

// TestPoolHostKeysStayBoundedWithoutIdleTimeout: with IdleConnTimeout
// negative no sweep removes a host's empty idle list; a client that talks
// to many hosts once each (each conn closed by its server on the second
// request) must not keep a key per host for ever. net/http, beside it with
// the same servers, gets the same answers (its pool deletes empty keys).
func TestPoolHostKeysStayBoundedWithoutIdleTimeout(t *testing.T) {
	const hosts = 80
	herz := transport.Must(transport.Config{Proxy: transport.NoProxy, IdleConnTimeout: -1})
	t.Cleanup(func() { herz.Close() })
	std := &http.Transport{}
	t.Cleanup(std.CloseIdleConnections)
	for range hosts {
		var n atomic.Int64
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if n.Add(1)%2 == 0 {
				w.Header().Set("Connection", "close")
			}
			io.WriteString(w, "ok")
		}))
		for _, rt := range []http.RoundTripper{herz, herz, std, std} {
			if err := getCtx(rt, context.Background(), srv.URL); err != nil {
				t.Fatal(err)
			}
		}
		srv.Close()
	}
	if k := transport.PoolHostKeys(herz); k > 64 {
		t.Errorf("%d host keys left for %d hosts with no idle conn, want at most 64", k, hosts)
	}
}
