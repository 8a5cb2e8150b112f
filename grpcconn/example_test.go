package grpcconn_test

import (
	"context"
	"fmt"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/herz-go/herz/grpcconn"
)

// A gRPC client with herz's defaults: the herz dialer, keepalive servers
// accept, a per-target breaker, safe retries and outlier ejection.
func ExampleNewClient() {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go srv.Serve(lis)
	defer srv.Stop()

	c, err := grpcconn.NewClient(lis.Addr().String(), grpcconn.Config{},
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		panic(err)
	}
	defer c.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := healthpb.NewHealthClient(c).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		panic(err)
	}
	fmt.Println(resp.Status)
	// Output: SERVING
}

// The dial options alone, for code that calls grpc.NewClient itself.
func ExampleDialOptions() {
	opts := append(grpcconn.DialOptions(grpcconn.Config{
		AttemptTimeout: 2 * time.Second,
		Outlier:        grpcconn.OutlierConfig{BaseEjection: 30 * time.Second},
	}), grpc.WithTransportCredentials(insecure.NewCredentials()))
	conn, err := grpc.NewClient("dns:///backend.internal:443", opts...)
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	fmt.Println(conn.Target())
	// Output: dns:///backend.internal:443
}

// An invalid Config is reported with the field's name.
func ExampleConfig_Validate() {
	err := grpcconn.Config{Outlier: grpcconn.OutlierConfig{FailureRatio: 1.5}}.Validate()
	fmt.Println(err)
	// Output: herz/grpcconn: Config.Outlier.FailureRatio must be in [0,1] (negative: off), got 1.5
}
