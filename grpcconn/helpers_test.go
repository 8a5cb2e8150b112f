package grpcconn_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/herz-go/herz/grpcconn"
)

// rawCodec sends []byte messages as they are and everything else (the
// health service) as protobuf, so tests need no generated code.
type rawCodec struct{}

func (rawCodec) Name() string { return "proto" }

func (rawCodec) Marshal(v any) ([]byte, error) {
	switch m := v.(type) {
	case *[]byte:
		return *m, nil
	case proto.Message:
		return proto.Marshal(m)
	}
	return nil, fmt.Errorf("rawCodec: cannot marshal %T", v)
}

func (rawCodec) Unmarshal(data []byte, v any) error {
	switch m := v.(type) {
	case *[]byte:
		*m = append((*m)[:0], data...)
		return nil
	case proto.Message:
		return proto.Unmarshal(data, m)
	}
	return fmt.Errorf("rawCodec: cannot unmarshal into %T", v)
}

const (
	unaryMethod  = "/herz.test.Echo/Unary"
	streamMethod = "/herz.test.Echo/Stream"
)

// echoServer is a real grpc-go server on 127.0.0.1 with the health service
// and an Echo service registered by hand: Unary echoes its request after
// Delay (failing with UNAVAILABLE with probability FailRatio), Stream sends
// its request back every 200ms for the duration the request names.
type echoServer struct {
	name string
	addr string
	opts []grpc.ServerOption

	delay     atomic.Int64  // ns
	failRatio atomic.Uint64 // math.Float64bits
	failSeq   atomic.Uint64

	mu     sync.Mutex
	srv    *grpc.Server
	lis    net.Listener
	execs  map[string]int // executions per request payload (unique ids)
	byPeer map[string]int // unary calls by "client" metadata
	cut    map[string]int // unary calls by "client" whose handler was cut (context ended)

	goaways, tooManyPings atomic.Int64
}

func newEchoServer(t testing.TB, name string, opts ...grpc.ServerOption) *echoServer {
	s := &echoServer{name: name, opts: opts, execs: map[string]int{}, byPeer: map[string]int{}, cut: map[string]int{}}
	s.start(t, "127.0.0.1:0")
	t.Cleanup(s.stop)
	return s
}

func (s *echoServer) start(t testing.TB, addr string) {
	t.Helper()
	var lis net.Listener
	var err error
	for range 50 { // the port may linger for a moment after a stop
		if lis, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	srv := grpc.NewServer(append([]grpc.ServerOption{grpc.ForceServerCodec(rawCodec{})}, s.opts...)...)
	healthpb.RegisterHealthServer(srv, health.NewServer())
	srv.RegisterService(&grpc.ServiceDesc{
		ServiceName: "herz.test.Echo",
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{
			{MethodName: "Unary", Handler: s.unary},
			{MethodName: "Committed", Handler: s.committed},
		},
		Streams: []grpc.StreamDesc{
			{StreamName: "Stream", Handler: s.stream, ServerStreams: true},
			{StreamName: "Quiet", Handler: s.quiet, ServerStreams: true},
		},
	}, s)
	s.mu.Lock()
	s.srv, s.lis, s.addr = srv, lis, lis.Addr().String()
	s.mu.Unlock()
	go srv.Serve(&goawayListener{Listener: lis, s: s})
}

func (s *echoServer) stop() {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv != nil {
		srv.Stop()
	}
}

func (s *echoServer) restart(t testing.TB) { s.start(t, s.addr) }

func (s *echoServer) setFailRatio(r float64) { s.failRatio.Store(uint64(r * 1000)) }

func (s *echoServer) setDelay(d time.Duration) { s.delay.Store(int64(d)) }

func (s *echoServer) unary(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
	var req []byte
	if err := dec(&req); err != nil {
		return nil, err
	}
	client := ""
	if md, ok := metadata.FromIncomingContext(ctx); ok && len(md["client"]) > 0 {
		client = md["client"][0]
	}
	if r := s.failRatio.Load(); r >= 1000 || r > 0 && s.failSeq.Add(1)*r%1000 < r {
		// Deterministic: r/1000 of the calls, spread evenly.
		s.mu.Lock()
		s.byPeer[client]++
		s.mu.Unlock()
		return nil, status.Error(codes.Unavailable, "echo: failing on purpose")
	}
	s.mu.Lock()
	s.execs[string(req)]++
	s.byPeer[client]++
	s.mu.Unlock()
	if d := time.Duration(s.delay.Load()); d > 0 {
		select {
		case <-time.After(d):
		case <-ctx.Done():
			s.mu.Lock()
			s.cut[client]++
			s.mu.Unlock()
			return nil, ctx.Err()
		}
	}
	return &req, nil
}

// committed sends response headers, then fails with UNAVAILABLE: the
// server had committed to the call.
func (s *echoServer) committed(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
	var req []byte
	if err := dec(&req); err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.execs[string(req)]++
	s.mu.Unlock()
	if err := grpc.SendHeader(ctx, metadata.Pairs("committed", "yes")); err != nil {
		return nil, err
	}
	return nil, status.Error(codes.Unavailable, "echo: unavailable after the headers")
}

// stream sends the request back every 200ms for the duration it names.
func (s *echoServer) stream(_ any, ss grpc.ServerStream) error {
	req, d, err := recvDuration(ss)
	if err != nil {
		return err
	}
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		select {
		case <-time.After(200 * time.Millisecond):
		case <-ss.Context().Done():
			return ss.Context().Err()
		}
		if err := ss.SendMsg(&req); err != nil {
			return err
		}
	}
	return nil
}

// quiet sends its headers, stays silent for the duration the request
// names, then sends the request back once.
func (s *echoServer) quiet(_ any, ss grpc.ServerStream) error {
	req, d, err := recvDuration(ss)
	if err != nil {
		return err
	}
	if err := ss.SendHeader(nil); err != nil {
		return err
	}
	select {
	case <-time.After(d):
	case <-ss.Context().Done():
		return ss.Context().Err()
	}
	return ss.SendMsg(&req)
}

// recvDuration reads a stream's request, a duration such as "3s".
func recvDuration(ss grpc.ServerStream) ([]byte, time.Duration, error) {
	var req []byte
	if err := ss.RecvMsg(&req); err != nil {
		return nil, 0, err
	}
	d, err := time.ParseDuration(string(req))
	if err != nil {
		return nil, 0, status.Error(codes.InvalidArgument, err.Error())
	}
	return req, d, nil
}

// duplicates returns how many requests were executed more than once.
func (s *echoServer) duplicates() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.execs {
		if c > 1 {
			n++
		}
	}
	return n
}

// calls returns the unary calls seen from client, and resets the count.
func (s *echoServer) takeCalls(client string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.byPeer[client]
	s.byPeer[client] = 0
	return n
}

// cutCalls returns the unary calls from client whose handler was cut.
func (s *echoServer) cutCalls(client string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cut[client]
}

// goawayListener counts the GOAWAY frames the server writes (parsing the
// HTTP/2 frame headers of its output).
type goawayListener struct {
	net.Listener
	s *echoServer
}

func (l *goawayListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &frameConn{Conn: c, s: l.s}, nil
}

type frameConn struct {
	net.Conn
	s    *echoServer
	mu   sync.Mutex
	buf  []byte // bytes of the frame header or GOAWAY payload being read
	skip int    // payload bytes left to skip
	ga   int    // GOAWAY payload bytes left to collect
}

func (c *frameConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	c.parse(b)
	c.mu.Unlock()
	return c.Conn.Write(b)
}

func (c *frameConn) parse(b []byte) {
	for len(b) > 0 {
		switch {
		case c.skip > 0:
			n := min(c.skip, len(b))
			c.skip -= n
			b = b[n:]
		case c.ga > 0:
			n := min(c.ga, len(b))
			c.buf = append(c.buf, b[:n]...)
			c.ga -= n
			b = b[n:]
			if c.ga == 0 {
				c.s.goaways.Add(1)
				if len(c.buf) >= 8 && binary.BigEndian.Uint32(c.buf[4:8]) == 0xb && string(c.buf[8:]) == "too_many_pings" {
					c.s.tooManyPings.Add(1)
				}
				c.buf = c.buf[:0]
			}
		default:
			n := min(9-len(c.buf), len(b))
			c.buf = append(c.buf, b[:n]...)
			b = b[n:]
			if len(c.buf) == 9 {
				length := int(c.buf[0])<<16 | int(c.buf[1])<<8 | int(c.buf[2])
				typ := c.buf[3]
				c.buf = c.buf[:0]
				if typ == 0x7 && length > 0 {
					c.ga = length
				} else {
					c.skip = length
				}
			}
		}
	}
}

// callUnary sends id through cc and returns the error.
func callUnary(ctx context.Context, cc grpc.ClientConnInterface, client, id string) error {
	return callUnaryOpts(ctx, cc, client, id)
}

// callUnaryOpts is callUnary with call options.
func callUnaryOpts(ctx context.Context, cc grpc.ClientConnInterface, client, id string, opts ...grpc.CallOption) error {
	ctx = metadata.AppendToOutgoingContext(ctx, "client", client)
	req, reply := []byte(id), []byte(nil)
	return cc.Invoke(ctx, unaryMethod, &req, &reply, append([]grpc.CallOption{grpc.ForceCodec(rawCodec{})}, opts...)...)
}

// plainClient is grpc-go with its defaults (plus balancer, when not "").
func plainClient(t testing.TB, target, lb string, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	opts = append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, opts...)
	if lb != "" {
		opts = append(opts, grpc.WithDefaultServiceConfig(`{"loadBalancingConfig":[{"`+lb+`":{}}]}`))
	}
	cc, err := grpc.NewClient(target, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// herzClient is a grpcconn.Client for target with cfg.
func herzClient(t testing.TB, target string, cfg grpcconn.Config, opts ...grpc.DialOption) *grpcconn.Client {
	t.Helper()
	c, err := grpcconn.NewClient(target, cfg, append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
