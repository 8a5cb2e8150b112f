package grpcconn_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/herz-go/herz/breaker"
	"github.com/herz-go/herz/grpcconn"
)

func TestClientHealthAndEcho(t *testing.T) {
	srv := newEchoServer(t, "a")
	c := herzClient(t, srv.addr, grpcconn.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := healthpb.NewHealthClient(c).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || resp.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health: %v, %v", resp, err)
	}
	for i := range 20 {
		if err := callUnary(ctx, c, "herz", "id-"+string(rune('a'+i))); err != nil {
			t.Fatal(err)
		}
	}
	if n := srv.takeCalls("herz"); n != 20 {
		t.Errorf("server saw %d calls, want 20", n)
	}
}

func TestConfigValidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  grpcconn.Config
		want string
	}{
		{"zero", grpcconn.Config{}, ""},
		{"keepalive timeout", grpcconn.Config{Keepalive: grpcconn.KeepaliveConfig{Timeout: -1}}, "Config.Keepalive.Timeout must not be negative, got -1ns"},
		{"connect timeout", grpcconn.Config{ConnectTimeout: -time.Second}, "Config.ConnectTimeout must not be negative"},
		{"backoff multiplier", grpcconn.Config{Backoff: grpcconn.BackoffConfig{Multiplier: 0.5}}, "Config.Backoff.Multiplier must be >= 1, got 0.5"},
		{"backoff max below base", grpcconn.Config{Backoff: grpcconn.BackoffConfig{BaseDelay: time.Second, MaxDelay: time.Millisecond}}, "Config.Backoff.MaxDelay"},
		{"attempt timeout", grpcconn.Config{AttemptTimeout: -1}, "Config.AttemptTimeout must not be negative"},
		{"retry jitter", grpcconn.Config{Retry: grpcconn.RetryConfig{Jitter: 2}}, "Config.Retry.Jitter must be in [0,1], got 2"},
		{"budget ratio", grpcconn.Config{Budget: grpcconn.BudgetConfig{Ratio: 1.5}}, "Config.Budget.Ratio"},
		{"failure ratio", grpcconn.Config{Outlier: grpcconn.OutlierConfig{FailureRatio: 1.5}}, "Config.Outlier.FailureRatio must be in [0,1]"},
		{"latency factor", grpcconn.Config{Outlier: grpcconn.OutlierConfig{LatencyFactor: 0.5}}, "Config.Outlier.LatencyFactor must be >= 1"},
		{"ejection jitter", grpcconn.Config{Outlier: grpcconn.OutlierConfig{Jitter: 1}}, "Config.Outlier.Jitter must be in [0,1)"},
		{"max ejection", grpcconn.Config{Outlier: grpcconn.OutlierConfig{BaseEjection: time.Minute, MaxEjection: time.Second}}, "Config.Outlier.MaxEjection"},
		{"share", grpcconn.Config{Outlier: grpcconn.OutlierConfig{MaxEjectedShare: -0.1}}, "Config.Outlier.MaxEjectedShare must not be negative"},
		{"panic", grpcconn.Config{Outlier: grpcconn.OutlierConfig{PanicThreshold: 2}}, "Config.Outlier.PanicThreshold must be in [0,1]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tc.want != "" && (err == nil || !contains(err.Error(), "herz/grpcconn: "+tc.want) && !contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if tc.want != "" {
				if _, err := grpcconn.NewClient("127.0.0.1:1", tc.cfg); err == nil {
					t.Fatal("NewClient accepted an invalid Config")
				}
			}
		})
	}
}

func contains(s, sub string) bool {
	return len(sub) == 0 || len(s) >= len(sub) && (s[:len(sub)] == sub || contains(s[1:], sub))
}

// TestBreakerOpenFailsFastNamingTarget: after transport-level failures
// (attempts sent, no answer: attempt timeouts), the target's breaker opens
// and calls fail at once with UNAVAILABLE naming the target.
func TestBreakerOpenFailsFastNamingTarget(t *testing.T) {
	srv := newEchoServer(t, "slow")
	srv.setDelay(time.Second)
	c := herzClient(t, srv.addr, grpcconn.Config{
		AttemptTimeout:  20 * time.Millisecond,
		Retry:           grpcconn.RetryConfig{MaxRetries: grpcconn.NoRetries},
		DisableBalancer: true,
		Breaker:         breaker.Config{ConsecutiveFailures: 3, OpenBase: 10 * time.Second},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range 3 {
		err := callUnary(ctx, c, "herz", "slow-"+string(rune('a'+i)))
		if status.Code(err) != codes.DeadlineExceeded {
			t.Fatalf("attempt %d: %v, want DeadlineExceeded from the attempt timeout", i, err)
		}
	}
	start := time.Now()
	err := callUnary(ctx, c, "herz", "after")
	took := time.Since(start)
	if status.Code(err) != codes.Unavailable || !errors.Is(err, breaker.ErrOpen) || !contains(err.Error(), srv.addr) {
		t.Fatalf("after 3 failures: %v (%v), want UNAVAILABLE wrapping breaker.ErrOpen naming %s", err, status.Code(err), srv.addr)
	}
	t.Logf("open breaker answered in %v: %v", took, err)
}

// TestAttemptTimeoutRetriesOnlyIdempotent: a backend holds every call for
// 300ms; with a 50ms attempt timeout, a method declared idempotent is
// retried (the server sees 3 attempts), any other is not (1 attempt), and
// both end with DEADLINE_EXCEEDED naming the attempt timeout. Plain grpc-go
// has no attempt timeout: its call waits for the 300ms answer.
func TestAttemptTimeoutRetriesOnlyIdempotent(t *testing.T) {
	t.Parallel()
	srv := newEchoServer(t, "slow")
	srv.setDelay(300 * time.Millisecond)
	c := herzClient(t, srv.addr, grpcconn.Config{
		AttemptTimeout: 50 * time.Millisecond,
		DisableBreaker: true,
		Retry:          grpcconn.RetryConfig{Idempotent: func(m string) bool { return m == unaryMethod }},
	})
	plain := plainClient(t, srv.addr, "")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := callUnary(ctx, c, "warm", "warm"); status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("warm-up: %v", err)
	}
	srv.takeCalls("herz")
	start := time.Now()
	err := callUnary(ctx, c, "herz", "idem")
	took := time.Since(start)
	if status.Code(err) != codes.DeadlineExceeded || !contains(err.Error(), "attempt timeout of 50ms") {
		t.Fatalf("idempotent: %v", err)
	}
	if n := srv.takeCalls("herz"); n != 3 {
		t.Errorf("idempotent method: server saw %d attempts, want 3 (2 retries)", n)
	}
	pstart := time.Now()
	perr := callUnary(ctx, plain, "plain", "plain")
	t.Logf("herz gave up after %v (%v); plain grpc-go answered after %v (%v)", took.Round(time.Millisecond), err, time.Since(pstart).Round(time.Millisecond), perr)

	c2 := herzClient(t, srv.addr, grpcconn.Config{AttemptTimeout: 50 * time.Millisecond, DisableBreaker: true})
	if err := callUnary(ctx, c2, "warm", "warm2"); status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("warm-up: %v", err)
	}
	srv.takeCalls("herz2")
	if err := callUnary(ctx, c2, "herz2", "once"); status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("not idempotent: %v", err)
	}
	if n := srv.takeCalls("herz2"); n != 1 {
		t.Errorf("non-idempotent method: server saw %d attempts, want 1", n)
	}
}

// TestOneRetryLayer: a service config with a grpc-go retryPolicy (5
// attempts on UNAVAILABLE) and a server that answers UNAVAILABLE to every
// call: through herz the server sees 3 attempts per call (herz's 2 retries,
// grpc-go's retry off), not 3 × 5; plain grpc-go with the same service
// config makes its 5.
func TestOneRetryLayer(t *testing.T) {
	t.Parallel()
	srv := newEchoServer(t, "unavailable")
	srv.setFailRatio(1)
	const sc = `{"loadBalancingConfig":[{"herz_outlier":{}}],"methodConfig":[{"name":[{"service":"herz.test.Echo"}],` +
		`"retryPolicy":{"maxAttempts":5,"initialBackoff":"0.01s","maxBackoff":"0.05s","backoffMultiplier":2,"retryableStatusCodes":["UNAVAILABLE"]}}]}`
	herz := herzClient(t, srv.addr, grpcconn.Config{DisableBreaker: true}, grpc.WithDefaultServiceConfig(sc))
	plain := plainClient(t, srv.addr, "", grpc.WithDefaultServiceConfig(sc))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := callUnary(ctx, herz, "herz", "x"); status.Code(err) != codes.Unavailable {
		t.Fatalf("herz: %v", err)
	}
	if err := callUnary(ctx, plain, "plain", "y"); status.Code(err) != codes.Unavailable {
		t.Fatalf("plain: %v", err)
	}
	h, p := srv.takeCalls("herz"), srv.takeCalls("plain")
	t.Logf("attempts the server saw for one call: herz %d, plain grpc-go with the retryPolicy %d", h, p)
	if h != 3 {
		t.Errorf("herz: %d attempts, want 3 (one retry layer)", h)
	}
	if h > p {
		t.Errorf("herz made more attempts (%d) than plain grpc-go (%d)", h, p)
	}
}

// TestUnavailableAfterHeadersNotRetried: a server that sent its response
// headers and then UNAVAILABLE had committed to the call: herz does not
// retry it (the server executes it once), as plain grpc-go's retryPolicy;
// an UNAVAILABLE without headers (Trailers-Only) is retried.
func TestUnavailableAfterHeadersNotRetried(t *testing.T) {
	t.Parallel()
	srv := newEchoServer(t, "committed")
	const sc = `{"methodConfig":[{"name":[{"service":"herz.test.Echo"}],` +
		`"retryPolicy":{"maxAttempts":3,"initialBackoff":"0.01s","maxBackoff":"0.05s","backoffMultiplier":2,"retryableStatusCodes":["UNAVAILABLE"]}}]}`
	herz := herzClient(t, srv.addr, grpcconn.Config{DisableBreaker: true})
	plain := plainClient(t, srv.addr, "", grpc.WithDefaultServiceConfig(sc))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for name, cc := range map[string]grpc.ClientConnInterface{"herz": herz, "plain": plain} {
		req, reply := []byte(name+"-committed"), []byte(nil)
		err := cc.Invoke(ctx, "/herz.test.Echo/Committed", &req, &reply, grpc.ForceCodec(rawCodec{}))
		if status.Code(err) != codes.Unavailable {
			t.Fatalf("%s: %v, want UNAVAILABLE", name, err)
		}
	}
	if d := srv.duplicates(); d != 0 {
		t.Errorf("%d committed calls executed more than once", d)
	}
	if st := herz.Options().Stats(); len(st.Retries) != 0 {
		t.Errorf("herz retried a committed call: %v", st)
	}
	srv.setFailRatio(1)
	if err := callUnary(ctx, herz, "herz", "trailers-only"); status.Code(err) != codes.Unavailable {
		t.Fatalf("trailers-only: %v", err)
	}
	if st := herz.Options().Stats(); st.Retries["server_unavailable"] != 2 {
		t.Errorf("a Trailers-Only UNAVAILABLE should be retried twice: %v", st)
	}
}
