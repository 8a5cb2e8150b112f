package transport_test

import (
	"io"
	"net/http"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/herz-go/herz/internal/testenv"
	"github.com/herz-go/herz/transport"
)

// Every probeEvery-th request of a benchmark follows a pause of probeGap
// (not timed) during which every connection stays idle: longer than the
// dialer's default ReuseProbeIdle (1ms), so those requests take herz's
// reuse-probe path (one MSG_PEEK before reuse). The probes/req metric shows
// it was taken.
const (
	probeEvery = 16
	probeGap   = 2 * time.Millisecond
)

// BenchmarkKeepAliveGET is P1/P2: keep-alive GETs of a 1 KiB body on
// loopback by one caller, herz and http.Transport in the same run,
// interleaved in chunks so both see the same machine load, with the reuse
// probe exercised on 1 request in probeEvery. allocs/op is herz's; ns/op
// includes the untimed pauses, herz-ns/req does not; the metrics report herz/stdlib-throughput (P1: ≥ 0.97) and
// extra-allocs/req (P2: ≤ 2), probes/req, herz's and the stdlib's ns/req,
// and the stdlib's allocs/req.
func BenchmarkKeepAliveGET(b *testing.B) {
	for _, p := range []testenv.Protocol{testenv.HTTP1, testenv.HTTPS} {
		b.Run(benchName(p), func(b *testing.B) {
			srv := testenv.NewHTTPServer(b, testenv.HTTPOptions{Protocol: p, BodySize: 1024})
			herz := newHerz(b, srv, p, transport.Config{})
			std := stdlibFor(b, srv, p)
			if p == testenv.HTTPS {
				std.ForceAttemptHTTP2 = true
			}
			compare(b, srv, herz, std, 1, p == testenv.HTTPS)
		})
	}
}

// BenchmarkConcurrentGET is P13 and P1 at 8 concurrent callers doing
// keep-alive GETs (1 KiB, loopback, HTTP/1.1), herz and net/http in the
// same run:
//
//   - default: both with their zero configuration (herz's Config{} against
//     a clone of http.DefaultTransport, which keeps 2 idle conns per host):
//     herz/stdlib-throughput (P13: ≥ 1.0) and the new connections each
//     opened per 1000 requests (P13: herz ≤ 1% of net/http's);
//   - alike: net/http configured with herz's MaxIdleConnsPerHost:
//     herz/stdlib-throughput (P1: ≥ 0.97) and extra-allocs/req (P2: ≤ 2).
//
// All callers pause together before 1 request in probeEvery, so the reuse
// probe runs on those (probes/req).
func BenchmarkConcurrentGET(b *testing.B) {
	for _, alike := range []bool{false, true} {
		b.Run(map[bool]string{false: "default", true: "alike"}[alike], func(b *testing.B) {
			srv := testenv.NewHTTPServer(b, testenv.HTTPOptions{BodySize: 1024})
			herz := newHerz(b, srv, testenv.HTTP1, transport.Config{})
			std := stdlibFor(b, srv, testenv.HTTP1)
			if alike {
				std.MaxIdleConnsPerHost = herz.Stats().Limits.MaxIdleConnsPerHost
			}
			compare(b, srv, herz, std, 8, false)
		})
	}
}

func benchName(p testenv.Protocol) string {
	if p == testenv.HTTPS {
		return "h2"
	}
	return "http1"
}

// compare runs b.N GETs through each of herz and std by callers concurrent
// callers, in interleaved chunks, and reports the ratios; h2 checks that
// std negotiated HTTP/2. (HTTP/2 conns are never probed: they are lent to
// HTTP/2 for life and checked by its PINGs, so probes/req is 0 there.)
func compare(b *testing.B, srv *testenv.HTTPServer, herz *transport.Transport, std *http.Transport, callers int, h2 bool) {
	reqs := make([]*http.Request, callers)
	for i := range reqs {
		req, err := http.NewRequest(http.MethodGet, srv.URL(), nil)
		if err != nil {
			b.Fatal(err)
		}
		reqs[i] = req
	}
	get := func(rt http.RoundTripper, req *http.Request) bool {
		resp, err := rt.RoundTrip(req)
		if err != nil {
			b.Error(err)
			return false
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Errorf("status %d", resp.StatusCode)
			return false
		}
		return true
	}
	// run sends n GETs per caller through rt, all callers pausing together
	// (untimed) every probeEvery requests, and returns the time taken and
	// the mallocs and the server's new connections meanwhile.
	var ms runtime.MemStats
	run := func(rt http.RoundTripper, n int) (d time.Duration, mallocs uint64, conns int) {
		conns0 := srv.Conns()
		runtime.ReadMemStats(&ms)
		m0 := ms.Mallocs
		for done := 0; done < n; done += probeEvery {
			time.Sleep(probeGap)
			k := min(probeEvery, n-done)
			start := time.Now()
			var wg sync.WaitGroup
			for _, req := range reqs {
				wg.Go(func() {
					for range k {
						if !get(rt, req) {
							return
						}
					}
				})
			}
			wg.Wait()
			d += time.Since(start)
		}
		runtime.ReadMemStats(&ms)
		return d, ms.Mallocs - m0, srv.Conns() - conns0
	}
	run(herz, 50) // warm both pools and the learner
	run(std, 50)
	if h2 {
		resp, err := std.RoundTrip(reqs[0])
		if err != nil || resp.ProtoMajor != 2 {
			b.Fatalf("stdlib: %v, want HTTP/2", err)
		}
		resp.Body.Close()
	}
	probes0 := probes(herz)
	const chunk = 200 // requests per caller
	var herzT, stdT time.Duration
	var herzA, stdA uint64
	var herzC, stdC int
	perCaller := max(b.N/callers, 1)
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < perCaller; done += chunk {
		n := min(chunk, perCaller-done)
		// Alternate which side goes first, so neither always pays for the
		// other's garbage.
		for i := range 2 {
			if (i+done/chunk)%2 == 0 {
				b.StopTimer()
				d, a, c := run(std, n)
				stdT, stdA, stdC = stdT+d, stdA+a, stdC+c
				b.StartTimer()
			} else {
				d, a, c := run(herz, n)
				herzT, herzA, herzC = herzT+d, herzA+a, herzC+c
			}
		}
	}
	b.StopTimer()
	total := float64(perCaller * callers)
	b.ReportMetric(float64(stdT)/float64(herzT), "herz/stdlib-throughput")
	b.ReportMetric((float64(herzA)-float64(stdA))/total, "extra-allocs/req")
	b.ReportMetric(float64(probes(herz)-probes0)/total, "probes/req")
	b.ReportMetric(float64(herzT.Nanoseconds())/total, "herz-ns/req")
	b.ReportMetric(float64(stdT.Nanoseconds())/total, "stdlib-ns/req")
	b.ReportMetric(float64(stdA)/total, "stdlib-allocs/req")
	if callers > 1 {
		b.ReportMetric(float64(herzC)*1000/total, "herz-new-conns/1k-req")
		b.ReportMetric(float64(stdC)*1000/total, "stdlib-new-conns/1k-req")
	}
}

// probes returns how many reuse probes herz's dialer has run.
func probes(tr *transport.Transport) uint64 {
	var n uint64
	for _, v := range tr.Stats().Probes {
		n += v
	}
	return n
}
