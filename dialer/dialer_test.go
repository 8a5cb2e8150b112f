package dialer_test

import (
	"context"
	"errors"
	"io"
	"math"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herz-go/herz/breaker"
	"github.com/herz-go/herz/dialer"
	"github.com/herz-go/herz/internal/sockopt"
	"github.com/herz-go/herz/keepalive"
)

// TestProbeWhileReaderBlocked checks every probe outcome while another
// goroutine is blocked in Read on the same conn, as net/http's readLoop is:
// the probe must neither block nor steal bytes.
func TestProbeWhileReaderBlocked(t *testing.T) {
	if !sockopt.Supported {
		t.Skip("probes are Linux-only")
	}
	cases := []struct {
		name   string
		fault  func(s *net.TCPConn)
		want   dialer.ProbeState
		reader bool // the reader gets the data before the probe can see it
	}{
		{"alive", func(s *net.TCPConn) {}, dialer.ProbeAlive, true},
		{"peer closed", func(s *net.TCPConn) { s.Close() }, dialer.ProbePeerClosed, false},
		{"reset", func(s *net.TCPConn) { s.SetLinger(0); s.Close() }, dialer.ProbeReset, false},
		{"data pending", func(s *net.TCPConn) { s.Write([]byte("unasked")) }, dialer.ProbeDataPending, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t)
			d := newDialer(t, dialer.Config{DisableEvictor: true})
			c := dial(t, d, srv.addr())
			s := srv.accept(t)

			// A reader blocked in Read, like net/http's readLoop. For the data
			// case it starts only after the probe so the bytes stay queued.
			var wg sync.WaitGroup
			got := make(chan string, 1)
			startReader := func() {
				wg.Add(1)
				go func() {
					defer wg.Done()
					buf := make([]byte, 64)
					n, _ := c.Read(buf)
					got <- string(buf[:n])
				}()
			}
			if tc.want != dialer.ProbeDataPending {
				startReader()
				time.Sleep(10 * time.Millisecond) // let it block in Read
			}
			tc.fault(s)
			var r dialer.ProbeResult
			// A reader blocked in Read consumes a pending RST error (the kernel
			// reports it once); the probe then sees the closed socket's EOF.
			// Both say dead, which is what the probe is for.
			match := func(r dialer.ProbeResult) bool {
				return r.State == tc.want || (tc.want == dialer.ProbeReset && r.State == dialer.ProbePeerClosed)
			}
			if tc.want == dialer.ProbeAlive {
				r = c.Probe()
			} else {
				eventually(t, 2*time.Second, "probe to see "+tc.want.String(), func() bool {
					r = c.Probe()
					return match(r)
				})
			}
			if !match(r) {
				t.Fatalf("probe = %v, want %v", r, tc.want)
			}
			if tc.want == dialer.ProbeDataPending {
				startReader()
				if msg := <-got; msg != "unasked" {
					t.Fatalf("reader got %q after the probe, want all of %q", msg, "unasked")
				}
			}
			c.Close()
			wg.Wait()
		})
	}
}

func TestSelfConnectRejected(t *testing.T) {
	if !sockopt.Supported {
		t.Skip("verification is Linux-only")
	}
	// Find a free port, then dial it from that same port: with nothing
	// listening, TCP simultaneous open connects the socket to itself.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().(*net.TCPAddr)
	ln.Close()
	d := newDialer(t, dialer.Config{LocalAddr: addr, DialRetries: -1, DisableBreaker: true, DisableEvictor: true})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", addr.String())
	if err == nil {
		c.Close()
		t.Fatal("self-connect was accepted")
	}
	var ve *dialer.VerifyError
	if !errors.As(err, &ve) || ve.Check != "self_connect" {
		t.Fatalf("err = %v, want a self_connect VerifyError", err)
	}
	var de *dialer.DialError
	if !errors.As(err, &de) || de.Kind != "self_connect" || !de.Temporary() {
		t.Fatalf("err = %#v, want a temporary DialError of kind self_connect", err)
	}
	if got := d.Stats().VerifyFailures; got != 1 {
		t.Fatalf("VerifyFailures = %d, want 1", got)
	}
}

func TestDialRetriesUntilServerComesUp(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	// The server comes back while the dialer backs off.
	var wg sync.WaitGroup
	wg.Add(1)
	ready := make(chan net.Listener, 1)
	go func() {
		defer wg.Done()
		time.Sleep(30 * time.Millisecond)
		l, err := net.Listen("tcp", addr)
		if err != nil {
			ready <- nil
			return
		}
		ready <- l
	}()
	d := newDialer(t, dialer.Config{DialRetries: 20, DialBackoff: 10 * time.Millisecond, DialBackoffMax: 20 * time.Millisecond, DisableEvictor: true})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", addr)
	wg.Wait()
	l := <-ready
	if l == nil {
		t.Skip("the port was taken by another process meanwhile")
	}
	defer l.Close()
	if err != nil {
		t.Fatalf("dial with retries: %v", err)
	}
	c.Close()
	if s := d.Stats(); s.DialRetries == 0 || s.DialErrors == 0 {
		t.Fatalf("stats = %v, want retries after refused dials", s)
	}
}

func TestStaleWriteRefusedWithNothingWritten(t *testing.T) {
	if !sockopt.Supported {
		t.Skip("Linux-only")
	}
	srv := newServer(t)
	d := newDialer(t, dialer.Config{DisableEvictor: true})
	c := dial(t, d, srv.addr())
	s := srv.accept(t)
	var wg sync.WaitGroup
	wg.Add(1)
	go echo(s, 0, &wg)
	lease, _ := c.Lend()
	exchange(t, c, "ping")
	if !c.Return(lease) {
		t.Fatal("Return refused the current lease")
	}
	s.SetLinger(0)
	s.Close()
	wg.Wait()
	time.Sleep(5 * time.Millisecond) // idle gap past ReuseProbeIdle, RST lands
	if _, ok := c.LendRefusingStale(); !ok {
		t.Fatal("LendRefusingStale failed on an open conn")
	}
	n, err := c.Write([]byte("second request"))
	if n != 0 || !errors.Is(err, dialer.ErrStale) {
		t.Fatalf("Write = %d, %v; want 0 bytes and ErrStale", n, err)
	}
	var se *dialer.StaleError
	if !errors.As(err, &se) || (se.Reason != dialer.ReasonProbeRST && se.Reason != dialer.ReasonProbeEOF) {
		t.Fatalf("err = %v, want a probe_rst/probe_eof StaleError", err)
	}
	if d.Tracked() != 0 {
		t.Fatalf("refused conn still tracked")
	}
}

// TestStaleCheckNeverRefusesMidRequest: the check runs at the first write
// after a hand-out only; a pause in the middle of a request, however long,
// never makes a later write fail.
func TestStaleCheckNeverRefusesMidRequest(t *testing.T) {
	srv := newServer(t)
	learner := newLearnerWith(t, "", 0)
	d := newDialer(t, dialer.Config{DisableEvictor: true, Learner: learner, MaxLifetime: 20 * time.Millisecond})
	c := dial(t, d, srv.addr())
	s := srv.accept(t)
	learner.ObserveHint(srv.addr(), 20*time.Millisecond) // deadline 15ms
	lease, _ := c.Lend()
	c.Return(lease)
	if _, ok := c.LendRefusingStale(); !ok {
		t.Fatal("LendRefusingStale failed")
	}
	if _, err := c.Write([]byte("POST / HTTP/1.1\r\n")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(40 * time.Millisecond) // past the deadline and the lifetime
	if _, err := c.Write([]byte("body")); err != nil {
		t.Fatalf("write mid-request refused: %v", err)
	}
	buf := make([]byte, 21)
	s.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(s, buf); err != nil {
		t.Fatal(err)
	}
}

func TestConfigValidation(t *testing.T) {
	cases := []struct {
		cfg   dialer.Config
		field string
	}{
		{dialer.Config{Timeout: -1}, "Timeout"},
		{dialer.Config{DialBackoff: -1}, "DialBackoff"},
		{dialer.Config{DialBackoffMax: -1}, "DialBackoffMax"},
		{dialer.Config{DialBackoff: time.Second, DialBackoffMax: time.Millisecond}, "DialBackoffMax"},
		{dialer.Config{LifetimeJitter: 1}, "LifetimeJitter"},
		{dialer.Config{LifetimeJitter: -0.1}, "LifetimeJitter"},
		{dialer.Config{LifetimeJitter: math.NaN()}, "LifetimeJitter"},
		{dialer.Config{EvictThreshold: 2}, "EvictThreshold"},
		{dialer.Config{EvictThreshold: math.NaN()}, "EvictThreshold"},
		{dialer.Config{EvictThreshold: math.Inf(1)}, "EvictThreshold"},
		{dialer.Config{Keepalive: keepalive.Params{Idle: -time.Second}}, "Keepalive"},
		{dialer.Config{Breaker: breaker.Config{FailureRatio: 3}}, "Breaker"},
	}
	for _, tc := range cases {
		t.Run(tc.field, func(t *testing.T) {
			d, err := dialer.New(tc.cfg)
			if err == nil {
				d.Close()
				t.Fatal("invalid config accepted")
			}
			if !strings.Contains(err.Error(), tc.field) || !strings.HasPrefix(err.Error(), "herz/dialer: ") {
				t.Fatalf("err = %q, want it to name %s", err, tc.field)
			}
		})
	}
	for _, cfg := range []dialer.Config{{}, {DialBackoff: 2 * time.Second}, {MaxLifetime: -1}} {
		d, err := dialer.New(cfg)
		if err != nil {
			t.Fatalf("valid Config %+v: %v", cfg, err)
		}
		d.Close()
	}
}

func TestClosedDialerRefusesDials(t *testing.T) {
	d, _ := dialer.New(dialer.Config{})
	d.Close()
	if _, err := d.DialContext(context.Background(), "tcp", "127.0.0.1:1"); !errors.Is(err, dialer.ErrClosed) {
		t.Fatalf("err = %v, want ErrClosed", err)
	}
}

// TestLentForLifeConnsAreNeverTouched: a multiplexed conn (HTTP/2, gRPC)
// belongs to its owner until closed: never refused, never evicted, not even
// when a probe finds it dead (the owner reads it and sees that itself).
func TestLentForLifeConnsAreNeverTouched(t *testing.T) {
	if !sockopt.Supported {
		t.Skip("probes are Linux-only")
	}
	srv := newServer(t)
	learner := newLearnerWith(t, srv.addr(), 20*time.Millisecond) // deadline 15ms
	d := newDialer(t, dialer.Config{Learner: learner, DisableEvictor: true, MaxLifetime: 10 * time.Millisecond})
	c := dial(t, d, srv.addr())
	c.LendForLife()
	s := srv.accept(t)
	var wg sync.WaitGroup
	wg.Add(1)
	go echo(s, 0, &wg)
	exchange(t, c, "frame")
	time.Sleep(50 * time.Millisecond) // far past the learned deadline and the lifetime
	if n := d.SweepOnce(); n != 0 {
		t.Fatalf("evictor closed a live multiplexed conn")
	}
	if !c.Expired() {
		t.Fatal("Expired() = false past MaxLifetime: the owner could not drain it")
	}
	exchange(t, c, "next stream") // never refused as stale
	s.SetLinger(0)
	s.Close()
	wg.Wait()
	eventually(t, 2*time.Second, "the RST to land", func() bool { return c.Probe().Dead() })
	if n := d.EvictStale(); n != 0 || d.Tracked() != 1 {
		t.Fatalf("EvictStale = %d, tracked %d: herz closed a conn its owner holds", n, d.Tracked())
	}
}

func TestPeerHealthEWMA(t *testing.T) {
	d := newDialer(t, dialer.Config{DisableEvictor: true})
	for i := 0; i < 20; i++ {
		d.Observe("10.0.0.1:80", 10*time.Millisecond, nil)
	}
	for i := 0; i < 5; i++ {
		d.Observe("10.0.0.1:80", 10*time.Millisecond, errors.New("boom"))
	}
	h, ok := d.PeerHealth("10.0.0.1:80")
	if !ok || h.Samples != 25 || h.SuccessRatio > 0.4 || h.SuccessRatio < 0.25 || h.Latency != 10*time.Millisecond {
		t.Fatalf("health = %+v, want 25 samples, ratio ≈ 0.8^5 ≈ 0.33, latency 10ms", h)
	}
	if _, ok := d.PeerHealth("unknown:1"); ok {
		t.Fatal("health reported for a peer never observed")
	}
}

func BenchmarkObserve(b *testing.B) {
	d := newDialer(b, dialer.Config{DisableEvictor: true})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			d.Observe("127.0.0.1:8080", time.Millisecond, nil)
		}
	})
}
