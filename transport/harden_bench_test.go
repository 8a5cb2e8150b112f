package transport_test

import (
	"io"
	"net/http"
	"testing"

	"github.com/herz-go/herz/internal/testenv"
	"github.com/herz-go/herz/transport"
)

// BenchmarkHardenedKeepAliveGET: keep-alive GETs of a 1 KiB body by one
// caller through a copy of http.DefaultTransport hardened in place (its
// requests go through herz) and through the plain copy, same server, as
// sub-benchmarks of one run (compare ns/op and allocs/op):
//
//	go test -run '^$' -bench HardenedKeepAliveGET -benchtime 20000x -count 3 ./transport/
func BenchmarkHardenedKeepAliveGET(b *testing.B) {
	for _, p := range []testenv.Protocol{testenv.HTTP1, testenv.HTTPS} {
		srv := testenv.NewHTTPServer(b, testenv.HTTPOptions{Protocol: p, BodySize: 1024})
		for _, name := range []string{"net-http", "hardened"} {
			b.Run(benchName(p)+"/"+name, func(b *testing.B) {
				tr := stdlibFor(b, srv, p)
				tr.ForceAttemptHTTP2 = true
				if name == "hardened" {
					h, err := transport.Harden(tr, transport.HardenConfig{})
					if err != nil {
						b.Fatal(err)
					}
					b.Cleanup(func() { h.Close() })
				}
				req, err := http.NewRequest(http.MethodGet, srv.URL(), nil)
				if err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				for b.Loop() {
					resp, err := tr.RoundTrip(req)
					if err != nil {
						b.Fatal(err)
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			})
		}
	}
}
