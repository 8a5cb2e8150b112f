package dialer_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/herz-go/herz/breaker"
	"github.com/herz-go/herz/dialer"
	"github.com/herz-go/herz/internal/testenv"
)

// TestDialErrorsShapedLikeNetDialer: for failures herz did not decide, the
// Dialer returns what net.Dialer returns for the same address, same test:
// a *net.OpError with the same text, wrapping the same cause (a
// *net.DNSError for name resolution); through net/http, urlErr.Err is that
// *net.OpError. herz's own decisions (an open breaker) stay herz errors.
func TestDialErrorsShapedLikeNetDialer(t *testing.T) {
	refused := testenv.ClosedAddr(t)
	failingResolver := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
		return nil, errors.New("no resolver here")
	}}
	cases := []struct {
		name string
		addr string
		res  *net.Resolver
		is   error
	}{
		{"refused", refused, nil, syscall.ECONNREFUSED},
		{"dns", "no-such-host.invalid:80", failingResolver, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := newDialer(t, dialer.Config{Resolver: tc.res, DialRetries: -1, DisableEvictor: true})
			nd := net.Dialer{Resolver: tc.res}
			ctx := context.Background()
			_, herzErr := d.DialContext(ctx, "tcp", tc.addr)
			_, stdErr := nd.DialContext(ctx, "tcp", tc.addr)
			if herzErr == nil || stdErr == nil {
				t.Fatalf("herz %v, net.Dialer %v: want both to fail", herzErr, stdErr)
			}
			if _, ok := herzErr.(*net.OpError); !ok {
				t.Fatalf("herz err is %T (%v), want *net.OpError like net.Dialer's %T", herzErr, herzErr, stdErr)
			}
			if herzErr.Error() != stdErr.Error() {
				t.Fatalf("herz err %q, net.Dialer's %q: want the same text", herzErr, stdErr)
			}
			if tc.is != nil && !errors.Is(herzErr, tc.is) {
				t.Fatalf("herz err %v does not wrap %v", herzErr, tc.is)
			}
			if tc.name == "dns" {
				if _, ok := herzErr.(*net.OpError).Err.(*net.DNSError); !ok {
					t.Fatalf("herz OpError.Err is %T, want *net.DNSError", herzErr.(*net.OpError).Err)
				}
			}
			if !dialer.FailedConnect(herzErr) {
				t.Fatalf("FailedConnect(%v) = false", herzErr)
			}

			// Through net/http: urlErr.Err.(*net.OpError) works for both.
			for name, dialFn := range map[string]func(context.Context, string, string) (net.Conn, error){"herz": d.DialContext, "net.Dialer": nd.DialContext} {
				tr := &http.Transport{DialContext: dialFn}
				_, err := (&http.Client{Transport: tr}).Get("http://" + tc.addr + "/")
				var ue *url.Error
				if !errors.As(err, &ue) {
					t.Fatalf("%s via net/http: err %v, want *url.Error", name, err)
				}
				if _, ok := ue.Err.(*net.OpError); !ok {
					t.Fatalf("%s via net/http: urlErr.Err is %T, want *net.OpError", name, ue.Err)
				}
			}
		})
	}
}

// TestConnectTimeoutIsTheTotal: Config.Timeout (and the ctx deadline) bound
// the whole DialContext, retries and backoff included. Against a closed
// port with a thousand retries allowed, herz answers within the timeout
// with net.Dialer's refusal, where it used to retry for minutes.
// (End-to-end bounds, ≥3x headroom on this loaded machine.)
func TestConnectTimeoutIsTheTotal(t *testing.T) {
	addr := testenv.ClosedAddr(t)
	const timeout = 200 * time.Millisecond
	cfg := dialer.Config{Timeout: timeout, DialRetries: 1000, DialBackoff: 20 * time.Millisecond, DialBackoffMax: 20 * time.Millisecond, DisableBreaker: true, DisableEvictor: true}
	var nd net.Dialer
	_, stdErr := nd.Dial("tcp", addr)
	for _, viaCtx := range []bool{false, true} {
		c := cfg
		ctx := context.Background()
		if viaCtx {
			c.Timeout = time.Hour
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, timeout)
			defer cancel()
		}
		d := newDialer(t, c)
		start := time.Now()
		_, err := d.DialContext(ctx, "tcp", addr)
		took := time.Since(start)
		// net.Dialer's refusal, or, when the deadline fell during the last
		// attempt, net.Dialer's "i/o timeout" for it.
		var oe *net.OpError
		if !errors.As(err, &oe) || oe.Op != "dial" || (err.Error() != stdErr.Error() && !oe.Timeout()) {
			t.Errorf("ctx=%v: err %v, want net.Dialer's %v (or its timeout)", viaCtx, err, stdErr)
		}
		if took > 3*timeout {
			t.Errorf("ctx=%v: DialContext took %v, want ≤ the %v timeout (3x headroom)", viaCtx, took, timeout)
		}
		if s := d.Stats(); s.Dials < 2 {
			t.Errorf("ctx=%v: %d dials, want refusals retried within the timeout", viaCtx, s.Dials)
		}
	}
}

// TestDialNeverSleepsPastDeadline: a backoff longer than the deadline is not
// slept: the first attempt's error, net.Dialer's, comes back at once.
func TestDialNeverSleepsPastDeadline(t *testing.T) {
	addr := testenv.ClosedAddr(t)
	d := newDialer(t, dialer.Config{DialRetries: 5, DialBackoff: time.Second, DialBackoffMax: time.Second, DisableBreaker: true, DisableEvictor: true})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := d.DialContext(ctx, "tcp", addr)
	_, stdErr := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err == nil || stdErr == nil || err.Error() != stdErr.Error() || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("err = %v, want net.Dialer's %v", err, stdErr)
	}
	if ctx.Err() != nil {
		t.Fatal("DialContext returned only after the deadline passed")
	}
	if s := d.Stats(); s.Dials != 1 {
		t.Fatalf("%d dials, want exactly 1", s.Dials)
	}
}

// TestRefusedConnectsNeverTripTheBreaker: a refused connect is the peer's
// kernel answering in microseconds; counting it would only hide a restarted
// server behind an open breaker. Twenty refusals in a row: every one is
// net.Dialer's error, none is breaker.ErrOpen.
func TestRefusedConnectsNeverTripTheBreaker(t *testing.T) {
	addr := testenv.ClosedAddr(t)
	d := newDialer(t, dialer.Config{DialRetries: -1, DisableEvictor: true})
	var nd net.Dialer
	for i := range 20 {
		_, err := d.DialContext(context.Background(), "tcp", addr)
		_, stdErr := nd.Dial("tcp", addr)
		if errors.Is(err, breaker.ErrOpen) {
			t.Fatalf("dial %d: breaker open after refusals: %v", i, err)
		}
		if err == nil || err.Error() != stdErr.Error() {
			t.Fatalf("dial %d: err %v, want net.Dialer's %v", i, err, stdErr)
		}
	}
	if s := d.Stats(); s.BreakerRejects != 0 {
		t.Fatalf("BreakerRejects = %d, want 0", s.BreakerRejects)
	}
}

// TestRestartedServerFoundWithin50ms is the breaker rule at the HTTP level:
// net/http Transports, one dialing through the Dialer (with its breaker, as
// transport.Harden does) and one plain, GET a server that is down (refused)
// for 300 ms and then listens again on the same port; each client's first
// success comes within 50 ms of the server being back (end-to-end bound, the
// clients poll every 2 ms). A breaker tripped by the refusals would keep
// herz's client refused for its open interval.
func TestRestartedServerFoundWithin50ms(t *testing.T) {
	addr := testenv.ClosedAddr(t)
	d := newDialer(t, dialer.Config{})
	herzTr := &http.Transport{DialContext: d.DialContext}
	stdTr := &http.Transport{}
	t.Cleanup(herzTr.CloseIdleConnections)
	t.Cleanup(stdTr.CloseIdleConnections)
	var back time.Time
	var backMu sync.Mutex
	firstOK := make([]time.Time, 2)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i, tr := range []*http.Transport{herzTr, stdTr} {
		wg.Go(func() {
			for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/", nil)
				resp, err := tr.RoundTrip(req)
				if err != nil {
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				backMu.Lock()
				ok := !back.IsZero()
				backMu.Unlock()
				if ok {
					firstOK[i] = time.Now()
					return
				}
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		close(stop)
		wg.Wait()
		t.Skipf("port taken meanwhile: %v", err)
	}
	backMu.Lock()
	back = time.Now()
	backMu.Unlock()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})}
	go srv.Serve(ln)
	defer srv.Close()
	wg.Wait()
	for i, name := range []string{"herz", "net/http"} {
		if firstOK[i].IsZero() {
			t.Errorf("%s: no success within 5s of the restart", name)
			continue
		}
		took := firstOK[i].Sub(back)
		t.Logf("%s: first success %v after the server was back", name, took.Round(time.Microsecond))
		if took > 50*time.Millisecond {
			t.Errorf("%s: first success %v after the server was back, want ≤ 50ms", name, took)
		}
	}
	if s := d.Stats(); s.BreakerRejects != 0 {
		t.Errorf("BreakerRejects = %d, want 0 (refusals are no evidence)", s.BreakerRejects)
	}
}

// TestUnreachableAndTimeoutsTripTheBreakerAndAreNotRetried, in a network
// namespace: a host with no route (ENETUNREACH) and a blackholed port
// (connect timeout) are evidence against the address — five failures open
// its breaker — and are not retried (one attempt each), while net.Dialer
// returns the same errors; a host whose neighbour never answers ARP fails
// with "no route to host" no later than net.Dialer's (+10%), one attempt.
func TestUnreachableAndTimeoutsTripTheBreakerAndAreNotRetried(t *testing.T) {
	t.Parallel()
	testenv.InNetns(t, func(t *testing.T) {
		var nd net.Dialer
		t.Run("unreachable", func(t *testing.T) {
			const addr = "10.255.0.1:80" // no route in a fresh namespace
			d := newDialer(t, dialer.Config{DialRetries: 3})
			for i := range 5 {
				_, err := d.DialContext(context.Background(), "tcp", addr)
				_, stdErr := nd.Dial("tcp", addr)
				if err == nil || err.Error() != stdErr.Error() || !errors.Is(err, syscall.ENETUNREACH) {
					t.Fatalf("dial %d: err %v, want net.Dialer's %v", i, err, stdErr)
				}
			}
			if s := d.Stats(); s.Dials != 5 {
				t.Errorf("%d attempts for 5 dials, want 5 (unreachable is not retried)", s.Dials)
			}
			_, err := d.DialContext(context.Background(), "tcp", addr)
			var de *dialer.DialError
			if !errors.Is(err, breaker.ErrOpen) || !errors.As(err, &de) || de.Kind != "breaker_open" {
				t.Fatalf("6th dial: %v, want a breaker_open DialError", err)
			}
		})
		t.Run("timeout", func(t *testing.T) {
			srv := newServer(t)
			testenv.BlackholePort(t, testenv.Port(t, srv.addr()))
			d := newDialer(t, dialer.Config{DialRetries: 3, Timeout: 100 * time.Millisecond})
			for i := range 5 {
				_, err := d.DialContext(context.Background(), "tcp", srv.addr())
				_, stdErr := (&net.Dialer{Timeout: 100 * time.Millisecond}).Dial("tcp", srv.addr())
				if err == nil || err.Error() != stdErr.Error() {
					t.Fatalf("dial %d: err %v, want net.Dialer's %v", i, err, stdErr)
				}
			}
			if s := d.Stats(); s.Dials != 5 {
				t.Errorf("%d attempts for 5 dials, want 5 (a timeout is not retried)", s.Dials)
			}
			if _, err := d.DialContext(context.Background(), "tcp", srv.addr()); !errors.Is(err, breaker.ErrOpen) {
				t.Fatalf("6th dial: %v, want breaker.ErrOpen", err)
			}
		})
		t.Run("no route to host", func(t *testing.T) {
			// A veth pair whose far end has no address: ARP for 10.77.0.2
			// goes unanswered, and connect fails with EHOSTUNREACH (~3 s).
			for _, args := range [][]string{
				{"link", "add", "hzv0", "type", "veth", "peer", "name", "hzv1"},
				{"addr", "add", "10.77.0.1/24", "dev", "hzv0"},
				{"link", "set", "hzv0", "up"},
				{"link", "set", "hzv1", "up"},
			} {
				if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
					t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
				}
			}
			const addr = "10.77.0.2:80"
			d := newDialer(t, dialer.Config{DialRetries: 3})
			var herzErr, stdErr error
			var herzTook, stdTook time.Duration
			var wg sync.WaitGroup
			wg.Go(func() {
				start := time.Now()
				_, herzErr = d.DialContext(context.Background(), "tcp", addr)
				herzTook = time.Since(start)
			})
			wg.Go(func() {
				start := time.Now()
				_, stdErr = nd.Dial("tcp", addr)
				stdTook = time.Since(start)
			})
			wg.Wait()
			t.Logf("no route to host: herz %v (%v), net.Dialer %v (%v)", herzTook.Round(time.Millisecond), herzErr, stdTook.Round(time.Millisecond), stdErr)
			if herzErr == nil || stdErr == nil || herzErr.Error() != stdErr.Error() {
				t.Fatalf("herz err %v, want net.Dialer's %v", herzErr, stdErr)
			}
			if herzTook > stdTook+stdTook/10 {
				t.Errorf("herz took %v, net.Dialer %v: want ≤ net.Dialer + 10%%", herzTook, stdTook)
			}
			if s := d.Stats(); s.Dials != 1 {
				t.Errorf("%d attempts, want 1", s.Dials)
			}
		})
	})
}

// TestUserTimeoutRangeCheckedInNew: a dead-path bound the kernel cannot
// take fails New naming the field, instead of failing every dial (600h) or
// being cut silently (1000000h).
func TestUserTimeoutRangeCheckedInNew(t *testing.T) {
	for _, ut := range []time.Duration{600 * time.Hour, 1000000 * time.Hour} {
		_, err := dialer.New(dialer.Config{UserTimeout: ut})
		if err == nil || !strings.Contains(err.Error(), "Config.UserTimeout") {
			t.Errorf("UserTimeout %v: New err = %v, want one naming Config.UserTimeout", ut, err)
		}
	}
	d, err := dialer.New(dialer.Config{UserTimeout: 596 * time.Hour})
	if err != nil {
		t.Fatalf("UserTimeout 596h: %v", err)
	}
	d.Close()
}

// TestFailedConnectClassifiesDialErrors: FailedConnect recognises every
// error of a connect that produced no conn — net.Dialer's own (*net.OpError
// "dial", also wrapped by net/http's *url.Error), herz's DialError and
// ErrClosed — and nothing else; RetryableConnect keeps refusals and resets
// and drops timeouts, unreachable hosts, DNS timeouts, open breakers and a
// closed Dialer; RefusedConnect is ECONNREFUSED only.
func TestFailedConnectClassifiesDialErrors(t *testing.T) {
	dialErr := func(errno error) error {
		return &net.OpError{Op: "dial", Net: "tcp", Err: &os.SyscallError{Syscall: "connect", Err: errno}}
	}
	open := &dialer.DialError{Addr: "a:1", Kind: "breaker_open", Err: breaker.ErrOpen}
	cases := []struct {
		name                       string
		err                        error
		failed, retryable, refused bool
	}{
		{"refused", dialErr(syscall.ECONNREFUSED), true, true, true},
		{"refused via net/http", &url.Error{Op: "Get", URL: "http://a:1", Err: dialErr(syscall.ECONNREFUSED)}, true, true, true},
		{"reset", dialErr(syscall.ECONNRESET), true, true, false},
		{"timeout", dialErr(syscall.ETIMEDOUT), true, false, false},
		{"unreachable", dialErr(syscall.EHOSTUNREACH), true, false, false},
		{"dns timeout", &net.OpError{Op: "dial", Err: &net.DNSError{IsTimeout: true, IsTemporary: true}}, true, false, false},
		{"dns temporary", &net.OpError{Op: "dial", Err: &net.DNSError{IsTemporary: true}}, true, true, false},
		{"breaker open", open, true, false, false},
		{"closed", dialer.ErrClosed, true, false, false},
		{"verify", &dialer.DialError{Addr: "a:1", Kind: "verify", Err: &dialer.VerifyError{Addr: "a:1", Check: "so_error"}}, true, true, false},
		{"read", &net.OpError{Op: "read", Err: syscall.ECONNRESET}, false, false, false},
		{"nil", nil, false, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := dialer.FailedConnect(tc.err); got != tc.failed {
				t.Errorf("FailedConnect = %v, want %v", got, tc.failed)
			}
			if got := dialer.RetryableConnect(tc.err); got != tc.retryable {
				t.Errorf("RetryableConnect = %v, want %v", got, tc.retryable)
			}
			if got := dialer.RefusedConnect(tc.err); got != tc.refused {
				t.Errorf("RefusedConnect = %v, want %v", got, tc.refused)
			}
		})
	}
}
