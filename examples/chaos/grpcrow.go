package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
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

// flakyHealth is a health service that answers UNAVAILABLE to a share of
// the checks: a backend going bad behind a healthy-looking address.
type flakyHealth struct {
	healthpb.UnimplementedHealthServer
	failShare float64
}

func (h *flakyHealth) Check(context.Context, *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	if rand.Float64() < h.failShare {
		return nil, status.Error(codes.Unavailable, "backend overloaded")
	}
	return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}, nil
}

// grpcRows: three real grpc-go backends, one of which fails half of its
// calls with UNAVAILABLE. grpc-go's round_robin keeps sending it a third of
// the traffic; grpcconn's balancer ejects it and its interceptor re-sends a
// call the sick backend refused before answering.
func grpcRows(w io.Writer, o options) []row {
	const name = "gRPC: 1 of 3 backends failing 50%"
	if o.short {
		return []row{{name: name, skipped: "short mode"}}
	}
	starting(w, name)
	r, err := runGRPC()
	if err != nil {
		fmt.Fprintln(w, "could not run")
		return []row{{name: name, skipped: "could not run: " + err.Error()}}
	}
	r.name = name
	done(w, r, "errors")
	return []row{r}
}

func runGRPC() (row, error) {
	var eps []resolver.Endpoint
	for i := range 3 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return row{}, err
		}
		srv := grpc.NewServer()
		share := 0.0
		if i == 0 {
			share = 0.5
		}
		healthpb.RegisterHealthServer(srv, &flakyHealth{failShare: share})
		go srv.Serve(ln)
		defer srv.Stop()
		eps = append(eps, resolver.Endpoint{Addresses: []resolver.Address{{Addr: ln.Addr().String()}}})
	}
	newResolver := func(scheme string) (*manual.Resolver, string) {
		r := manual.NewBuilderWithScheme(scheme)
		r.InitialState(resolver.State{Endpoints: eps})
		return r, scheme + ":///backends"
	}

	var stdDials atomic.Uint64
	rs, target := newResolver("demostd")
	std, err := grpc.NewClient(target, grpc.WithResolvers(rs),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultServiceConfig(`{"loadBalancingConfig":[{"round_robin":{}}]}`),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			stdDials.Add(1)
			var d net.Dialer
			return d.DialContext(ctx, "tcp", addr)
		}))
	if err != nil {
		return row{}, err
	}
	defer std.Close()
	rh, target := newResolver("demoherz")
	hz, err := grpcconn.NewClient(target, grpcconn.Config{}, grpc.WithResolvers(rh),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return row{}, err
	}
	defer hz.Close()

	r := row{std: &tally{dups: -1, conns: func() int { return int(stdDials.Load()) }},
		hz: &tally{dups: -1, herzSide: true, conns: func() int { return int(hz.Options().Dialer().Stats().Dials) }}}
	call := func(cc grpc.ClientConnInterface) func() error {
		c := healthpb.NewHealthClient(cc)
		return func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_, err := c.Check(ctx, &healthpb.HealthCheckRequest{})
			time.Sleep(5 * time.Millisecond) // a steady ~800 calls/s per client
			return err
		}
	}
	r.std.during, r.hz.during = "1 of 3 backends failing 50%", "1 of 3 backends failing 50%"
	// Both clients at once, for 3s each: the same backends, the same load.
	done := make(chan struct{})
	go func() { r.std.load(4, 150, call(std)); close(done) }()
	r.hz.load(4, 150, call(hz))
	<-done
	st := hz.Options().Stats()
	r.std.newConns = stdDials.Load()
	r.hz.newConns = hz.Options().Dialer().Stats().Dials
	r.hz.retries = st.Retries
	r.hz.evicts = map[string]uint64{"ejections": st.Ejections}
	return r, nil
}
