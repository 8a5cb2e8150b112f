// Command grpc shows grpcconn with plain grpc-go servers: three local
// backends, one of which fails half of its calls with UNAVAILABLE. The same
// calls go through grpc-go's round_robin and through herz's dial options
// (outlier ejection, safe retries); it prints what each backend served and
// what the callers saw.
//
//	go run ./examples/grpc
package main

import (
	"context"
	"fmt"
	"log"
	"net"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
	"google.golang.org/grpc/status"

	"github.com/herz-go/herz/grpcconn"
)

const method = "/demo.Backend/Call"

// backend is a grpc-go server answering every method with a health
// response; a sick one fails every other call with UNAVAILABLE.
type backend struct {
	addr   string
	sick   bool
	served [2]atomic.Int64 // by client: [0] herz, [1] plain
	seq    atomic.Int64
	srv    *grpc.Server
}

func start(sick bool) *backend {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	b := &backend{addr: lis.Addr().String(), sick: sick}
	b.srv = grpc.NewServer(grpc.UnknownServiceHandler(func(_ any, ss grpc.ServerStream) error {
		var req healthpb.HealthCheckRequest
		if err := ss.RecvMsg(&req); err != nil {
			return err
		}
		b.served[len(req.Service)%2].Add(1) // "plain" (5) or "herz" (4)
		if b.sick && b.seq.Add(1)%2 == 0 {
			return status.Error(codes.Unavailable, "sick backend")
		}
		return ss.SendMsg(&healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING})
	}))
	go b.srv.Serve(lis)
	return b
}

// run sends n calls through cc and returns how many failed.
func run(cc *grpc.ClientConn, client string, n int) int {
	failed := 0
	for range n {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		var resp healthpb.HealthCheckResponse
		if err := cc.Invoke(ctx, method, &healthpb.HealthCheckRequest{Service: client}, &resp); err != nil {
			failed++
		}
		cancel()
		time.Sleep(2 * time.Millisecond)
	}
	return failed
}

func resolverOf(bs []*backend) *manual.Resolver {
	r := manual.NewBuilderWithScheme("demo" + fmt.Sprint(time.Now().UnixNano()))
	var eps []resolver.Endpoint
	for _, b := range bs {
		eps = append(eps, resolver.Endpoint{Addresses: []resolver.Address{{Addr: b.addr}}})
	}
	r.InitialState(resolver.State{Endpoints: eps})
	return r
}

func main() {
	bs := []*backend{start(false), start(true), start(false)}
	defer func() {
		for _, b := range bs {
			b.srv.Stop()
		}
	}()
	creds := grpc.WithTransportCredentials(insecure.NewCredentials())

	rp := resolverOf(bs)
	plain, err := grpc.NewClient(rp.Scheme()+":///demo", creds, grpc.WithResolvers(rp),
		grpc.WithDefaultServiceConfig(`{"loadBalancingConfig":[{"round_robin":{}}]}`))
	if err != nil {
		log.Fatal(err)
	}
	defer plain.Close()

	rh := resolverOf(bs)
	herz, err := grpcconn.NewClient(rh.Scheme()+":///demo", grpcconn.Config{}, creds, grpc.WithResolvers(rh))
	if err != nil {
		log.Fatal(err)
	}
	defer herz.Close()

	const n = 1000
	pf := run(plain, "plain", n)
	hf := run(herz.ClientConn, "herz", n)

	fmt.Printf("%-22s %8s %8s %8s %14s\n", "client", "a", "b(sick)", "c", "caller errors")
	fmt.Printf("%-22s %8d %8d %8d %14d\n", "grpc-go round_robin", bs[0].served[1].Load(), bs[1].served[1].Load(), bs[2].served[1].Load(), pf)
	fmt.Printf("%-22s %8d %8d %8d %14d\n", "herz grpcconn", bs[0].served[0].Load(), bs[1].served[0].Load(), bs[2].served[0].Load(), hf)
	fmt.Println("herz:", herz.Options().Stats())
}
