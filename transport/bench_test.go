package transport_test

import (
	"io"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/herz-go/herz/internal/testenv"
	"github.com/herz-go/herz/transport"
)

// BenchmarkKeepAliveGET is P1/P2: keep-alive GETs of a 1 KiB body on
// loopback, herz and http.Transport in the same run, interleaved in chunks
// so both see the same machine load. ns/op and allocs/op are herz's; the
// metrics report herz/stdlib-throughput (P1: ≥ 0.97) and extra-allocs/req
// (P2: ≤ 2), and the stdlib's own ns/req and allocs/req.
func BenchmarkKeepAliveGET(b *testing.B) {
	for _, p := range []testenv.Protocol{testenv.HTTP1, testenv.HTTPS} {
		name := "http1"
		if p == testenv.HTTPS {
			name = "h2"
		}
		b.Run(name, func(b *testing.B) {
			srv := testenv.NewHTTPServer(b, testenv.HTTPOptions{Protocol: p, BodySize: 1024})
			herz := newHerz(b, srv, p, transport.Config{})
			std := stdlibFor(b, srv, p)
			if p == testenv.HTTPS {
				std.ForceAttemptHTTP2 = true
			}
			req, err := http.NewRequest(http.MethodGet, srv.URL(), nil)
			if err != nil {
				b.Fatal(err)
			}
			get := func(rt http.RoundTripper) {
				resp, err := rt.RoundTrip(req)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("status %d", resp.StatusCode)
				}
			}
			for range 50 { // warm both pools and the learner
				get(herz)
				get(std)
			}
			if p == testenv.HTTPS {
				resp, _ := std.RoundTrip(req)
				if resp.ProtoMajor != 2 {
					b.Fatalf("stdlib negotiated %s, want HTTP/2", resp.Proto)
				}
				resp.Body.Close()
			}

			const chunk = 200
			var ms runtime.MemStats
			measure := func(rt http.RoundTripper, n int) (time.Duration, uint64) {
				runtime.ReadMemStats(&ms)
				m0 := ms.Mallocs
				start := time.Now()
				for range n {
					get(rt)
				}
				d := time.Since(start)
				runtime.ReadMemStats(&ms)
				return d, ms.Mallocs - m0
			}
			var herzT, stdT time.Duration
			var herzA, stdA uint64
			b.ReportAllocs()
			b.ResetTimer()
			for done := 0; done < b.N; done += chunk {
				n := min(chunk, b.N-done)
				// Alternate which side goes first, so neither always pays
				// for the other's garbage.
				for i := range 2 {
					if (i+done/chunk)%2 == 0 {
						b.StopTimer()
						d, a := measure(std, n)
						stdT += d
						stdA += a
						b.StartTimer()
					} else {
						d, a := measure(herz, n)
						herzT += d
						herzA += a
					}
				}
			}
			b.StopTimer()
			n := float64(b.N)
			b.ReportMetric(float64(stdT)/float64(herzT), "herz/stdlib-throughput")
			b.ReportMetric((float64(herzA)-float64(stdA))/n, "extra-allocs/req")
			b.ReportMetric(float64(stdT.Nanoseconds())/n, "stdlib-ns/req")
			b.ReportMetric(float64(stdA)/n, "stdlib-allocs/req")
		})
	}
}
