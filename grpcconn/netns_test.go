package grpcconn_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/herz-go/herz/grpcconn"
	"github.com/herz-go/herz/internal/testenv"
)

// TestBlackholeAnswerWithinBound is P15 for gRPC: in a network namespace
// the server's port is blackholed (no ACK, FIN or RST; new SYNs dropped)
// while both clients hold a ready connection. herz's RPC must have its
// answer within the 10s bound (TCP_USER_TIMEOUT finds the dead connection),
// and so must a second RPC that needs a reconnect (the connect timeout);
// plain grpc-go's RPC, in the same test, is still waiting at the 15s cap.
func TestBlackholeAnswerWithinBound(t *testing.T) {
	t.Parallel()
	testenv.InNetns(t, func(t *testing.T) {
		srv := newEchoServer(t, "blackhole")
		herz := herzClient(t, srv.addr, grpcconn.Config{})
		plain := plainClient(t, srv.addr, "")
		warm, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for name, cc := range map[string]grpc.ClientConnInterface{"herz": herz, "plain": plain} {
			if err := callUnary(warm, cc, name, name+"-warm"); err != nil {
				t.Fatalf("%s warm-up: %v", name, err)
			}
		}
		testenv.BlackholePort(t, testenv.Port(t, srv.addr))

		const bound, limit = 10 * time.Second, 15 * time.Second
		var wg sync.WaitGroup
		var herzTook [2]time.Duration
		var herzErr [2]error
		var plainTook time.Duration
		var plainErr error
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := range 2 {
				ctx, cancel := context.WithTimeout(context.Background(), limit)
				start := time.Now()
				herzErr[i] = callUnary(ctx, herz, "herz", "herz-"+string(rune('a'+i)))
				herzTook[i] = time.Since(start)
				cancel()
			}
		}()
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), limit)
			defer cancel()
			start := time.Now()
			plainErr = callUnary(ctx, plain, "plain", "plain-a")
			plainTook = time.Since(start)
		}()
		wg.Wait()
		t.Logf("herz: first RPC answered after %v (%v), next one (reconnect) after %v (%v); plain grpc-go: %v (%v)",
			herzTook[0].Round(time.Millisecond), herzErr[0], herzTook[1].Round(time.Millisecond), herzErr[1], plainTook.Round(time.Millisecond), plainErr)
		for i := range 2 {
			if herzErr[i] == nil || herzTook[i] > bound {
				t.Errorf("herz RPC %d: %v after %v, want an error within %v", i+1, herzErr[i], herzTook[i], bound)
			}
		}
		if status.Code(plainErr) != codes.DeadlineExceeded || plainTook < limit-time.Second {
			t.Errorf("plain grpc-go: %v after %v, want it still waiting at the %v cap: the scenario does not test anything", plainErr, plainTook, limit)
		}
	})
}
