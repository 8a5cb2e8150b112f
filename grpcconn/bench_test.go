package grpcconn_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/herz-go/herz/grpcconn"
)

// BenchmarkUnary compares unary RPCs (16-byte echo, sequential, loopback)
// through herz's interceptors and herz_outlier balancer with plain grpc-go
// round_robin, against the same three backends in the same run, interleaved
// in chunks so both see the same machine load. ns/op and allocs/op are
// herz's; the metrics report herz/plain-throughput (target ≥ 0.95),
// extra-allocs/rpc, and plain's own ns/rpc and allocs/rpc.
func BenchmarkUnary(b *testing.B) {
	srvs := make([]*echoServer, 3)
	for i := range srvs {
		srvs[i] = newEchoServer(b, "bench")
	}
	rh, ropt := resolverFor(srvs)
	herz := herzClient(b, rh.Scheme()+":///backends", grpcconn.Config{}, ropt)
	rp, popt := resolverFor(srvs)
	plain := plainClient(b, rp.Scheme()+":///backends", "round_robin", popt)
	req, reply := []byte("0123456789abcdef"), []byte(nil)
	codec := grpc.ForceCodec(rawCodec{})
	call := func(cc grpc.ClientConnInterface) {
		if err := cc.Invoke(context.Background(), unaryMethod, &req, &reply, codec); err != nil {
			b.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, cc := range []grpc.ClientConnInterface{herz, plain} {
		for range 60 { // connect to all three backends
			if err := callUnary(ctx, cc, "warm", "warm"); err != nil {
				b.Fatal(err)
			}
		}
	}

	const chunk = 200
	var ms runtime.MemStats
	measure := func(cc grpc.ClientConnInterface, n int) (time.Duration, uint64) {
		runtime.ReadMemStats(&ms)
		m0 := ms.Mallocs
		start := time.Now()
		for range n {
			call(cc)
		}
		d := time.Since(start)
		runtime.ReadMemStats(&ms)
		return d, ms.Mallocs - m0
	}
	var herzT, plainT time.Duration
	var herzA, plainA uint64
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; done += chunk {
		n := min(chunk, b.N-done)
		for i := range 2 {
			if (done/chunk+i)%2 == 0 {
				d, a := measure(herz, n)
				herzT, herzA = herzT+d, herzA+a
			} else {
				b.StopTimer()
				d, a := measure(plain, n)
				plainT, plainA = plainT+d, plainA+a
				b.StartTimer()
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(plainT)/float64(herzT), "herz/plain-throughput")
	b.ReportMetric((float64(herzA)-float64(plainA))/float64(b.N), "extra-allocs/rpc")
	b.ReportMetric(float64(plainT.Nanoseconds())/float64(b.N), "plain-ns/rpc")
	b.ReportMetric(float64(plainA)/float64(b.N), "plain-allocs/rpc")
}
