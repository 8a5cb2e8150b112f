package dialer_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/herz-go/herz/dialer"
	"github.com/herz-go/herz/internal/sockopt"
	"github.com/herz-go/herz/internal/testenv"
)

const (
	uploadSize = 64 << 20
	readerStop = 12 * time.Second // the live peer's pause before reading
)

// TestSlowReaderIsNotDead: a live peer that stops reading for 12 s in the
// middle of a 64 MiB upload (its receive window closes, its kernel answers
// every zero-window probe) is not cut, with the default Config (dead-path
// bound 8 s): a raw TCP upload through the Dialer and a net/http POST through
// a net/http Transport dialing with it complete, as net.Dialer's and
// net/http's do beside them, same servers; so does a long poll whose answer
// comes after the same pause. (A fixed TCP_USER_TIMEOUT of 8 s
// cut both herz uploads at ~8.5 s.) Takes ~13 s: the figure is the pause.
func TestSlowReaderIsNotDead(t *testing.T) {
	if !sockopt.Supported {
		t.Skip("Linux-only")
	}
	t.Parallel()
	d := newDialer(t, dialer.Config{})

	// Raw: the server reads nothing for readerStop, then everything, then answers.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var srvWG sync.WaitGroup
	t.Cleanup(func() { ln.Close(); srvWG.Wait() })
	srvWG.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			srvWG.Go(func() {
				defer c.Close()
				time.Sleep(readerStop)
				n, _ := io.Copy(io.Discard, c)
				io.WriteString(c, itoa(n))
			})
		}
	})
	// Long poll: the server reads the request at once and answers after
	// readerStop (everything acknowledged, nothing outstanding meanwhile).
	lp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lp.Close(); ln.Close(); srvWG.Wait() }) // before ln's cleanup: both loops end
	srvWG.Go(func() {
		for {
			c, err := lp.Accept()
			if err != nil {
				return
			}
			srvWG.Go(func() {
				defer c.Close()
				buf := make([]byte, 4)
				io.ReadFull(c, buf)
				time.Sleep(readerStop)
				c.Write(buf)
			})
		}
	})
	longPoll := func(dialFn func(ctx context.Context, network, addr string) (net.Conn, error)) (string, error) {
		c, err := dialFn(context.Background(), "tcp", lp.Addr().String())
		if err != nil {
			return "", err
		}
		defer c.Close()
		if _, err := io.WriteString(c, "poll"); err != nil {
			return "", err
		}
		buf := make([]byte, 4)
		if _, err := io.ReadFull(c, buf); err != nil {
			return "", err
		}
		return itoa(uploadSize), nil // same answer as the others when the reply came
	}
	httpSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(readerStop)
		n, _ := io.Copy(io.Discard, r.Body)
		io.WriteString(w, itoa(n))
	}))
	t.Cleanup(httpSrv.Close)

	payload := bytes.Repeat([]byte("x"), uploadSize)
	raw := func(dialFn func(ctx context.Context, network, addr string) (net.Conn, error)) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		c, err := dialFn(ctx, "tcp", ln.Addr().String())
		if err != nil {
			return "", err
		}
		defer c.Close()
		if _, err := io.Copy(c, bytes.NewReader(payload)); err != nil {
			return "", err
		}
		c.(interface{ CloseWrite() error }).CloseWrite()
		b, err := io.ReadAll(c)
		return string(b), err
	}
	post := func(dialFn func(ctx context.Context, network, addr string) (net.Conn, error)) (string, error) {
		tr := &http.Transport{DialContext: dialFn}
		defer tr.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, httpSrv.URL, bytes.NewReader(payload))
		resp, err := tr.RoundTrip(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	var nd net.Dialer
	type result struct {
		name string
		got  string
		err  error
		took time.Duration
	}
	runs := []struct {
		name string
		f    func() (string, error)
	}{
		{"herz raw", func() (string, error) { return raw(d.DialContext) }},
		{"net.Dialer raw", func() (string, error) { return raw(nd.DialContext) }},
		{"herz net/http POST", func() (string, error) { return post(d.DialContext) }},
		{"net/http POST", func() (string, error) { return post(nd.DialContext) }},
		{"herz raw long poll", func() (string, error) { return longPoll(d.DialContext) }},
		{"net.Dialer raw long poll", func() (string, error) { return longPoll(nd.DialContext) }},
	}
	results := make([]result, len(runs))
	var wg sync.WaitGroup
	for i, r := range runs {
		wg.Go(func() {
			start := time.Now()
			got, err := r.f()
			results[i] = result{r.name, got, err, time.Since(start)}
		})
	}
	wg.Wait()
	want := itoa(uploadSize)
	for _, r := range results {
		t.Logf("%s: %q, %v after %v", r.name, r.got, r.err, r.took.Round(time.Millisecond))
		if r.err != nil || r.got != want {
			t.Errorf("%s: got %q, %v; want the server's %q (the peer was alive, only slow)", r.name, r.got, r.err, want)
		}
	}
	if s := d.Stats(); s.DeadPaths != 0 {
		t.Errorf("DeadPaths = %d, want 0", s.DeadPaths)
	}
}

// TestBlackholedReusedConnAnsweredWithinBound: the whole-path bound for conns reused twice:
// in a network namespace the server's port is blackholed (every packet to
// it, SYNs too, dropped) after two exchanges on each conn; the third
// request's caller has its answer — "connection timed out" — within 10 s
// (default Config: bound 8 s, plus one watchdog tick), on a raw conn and on a
// net/http POST; a GET, which net/http re-sends on a new conn after the
// reused one died, has its answer within 10 s too: the connect to a peer
// whose path was just found dead is bounded at 1 s. net.Dialer's and
// net/http's, in the same run, are still waiting when their own 11 s
// deadline ends them. Takes ~11 s.
func TestBlackholedReusedConnAnsweredWithinBound(t *testing.T) {
	t.Parallel()
	testenv.InNetns(t, func(t *testing.T) {
		const (
			bound    = 10 * time.Second // the default whole-path bound
			deadline = 11 * time.Second // the plain library's callers' own
		)
		d := newDialer(t, dialer.Config{})
		srv := newServer(t)
		var echoWG sync.WaitGroup
		t.Cleanup(echoWG.Wait)
		var nd net.Dialer
		herzRaw := dial(t, d, srv.addr())
		echoWG.Add(1)
		go echo(srv.accept(t), 0, &echoWG)
		stdRaw, err := nd.Dial("tcp", srv.addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { stdRaw.Close() })
		echoWG.Add(1)
		go echo(srv.accept(t), 0, &echoWG)
		for _, c := range []net.Conn{herzRaw, stdRaw} {
			exchange(t, c, "one")
			exchange(t, c, "two")
		}

		httpSrv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			io.WriteString(w, "ok")
		}))
		httpSrv.Start()
		t.Cleanup(httpSrv.Close)
		herzTr := &http.Transport{DialContext: d.DialContext}
		stdTr := &http.Transport{DialContext: nd.DialContext}
		t.Cleanup(herzTr.CloseIdleConnections)
		t.Cleanup(stdTr.CloseIdleConnections)
		post := func(ctx context.Context, tr *http.Transport) error {
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, httpSrv.URL, strings.NewReader("body"))
			req.GetBody = nil // not replayable: net/http does not re-send it
			resp, err := tr.RoundTrip(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			_, err = io.ReadAll(resp.Body)
			return err
		}
		// Two idle conns each: one for the POST, one for the GET.
		for _, tr := range []*http.Transport{herzTr, stdTr} {
			for range 2 {
				var wg sync.WaitGroup
				for range 2 {
					wg.Go(func() {
						if err := post(context.Background(), tr); err != nil {
							t.Error(err)
						}
					})
				}
				wg.Wait()
			}
		}

		testenv.BlackholePort(t, testenv.Port(t, srv.addr()))
		testenv.BlackholePort(t, testenv.Port(t, httpSrv.Listener.Addr().String()))
		rawThird := func(c net.Conn) error {
			c.SetDeadline(time.Now().Add(deadline))
			if _, err := io.WriteString(c, "three"); err != nil {
				return err
			}
			_, err := io.ReadFull(c, make([]byte, 5))
			return err
		}
		get := func(tr *http.Transport) error {
			ctx, cancel := context.WithTimeout(context.Background(), deadline)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, httpSrv.URL, nil)
			resp, err := tr.RoundTrip(req)
			if err != nil {
				return err
			}
			resp.Body.Close()
			return nil
		}
		names := []string{"herz raw", "net.Dialer raw", "herz net/http POST", "net/http POST", "herz net/http GET (re-sent on a new conn)", "net/http GET"}
		fns := []func() error{
			func() error { return rawThird(herzRaw) },
			func() error { return rawThird(stdRaw) },
			func() error {
				ctx, cancel := context.WithTimeout(context.Background(), deadline)
				defer cancel()
				return post(ctx, herzTr)
			},
			func() error {
				ctx, cancel := context.WithTimeout(context.Background(), deadline)
				defer cancel()
				return post(ctx, stdTr)
			},
			func() error { return get(herzTr) },
			func() error { return get(stdTr) },
		}
		took := make([]time.Duration, len(fns))
		errs := make([]error, len(fns))
		var wg sync.WaitGroup
		for i, f := range fns {
			wg.Go(func() {
				start := time.Now()
				errs[i] = f()
				took[i] = time.Since(start)
			})
		}
		wg.Wait()
		for i := range fns {
			t.Logf("%s: answered after %v: %v", names[i], took[i].Round(time.Millisecond), errs[i])
		}
		for i := 0; i < len(fns); i += 2 {
			if errs[i] == nil || took[i] > bound {
				t.Errorf("%s: answered after %v with %v; want an error within %v", names[i], took[i], errs[i], bound)
			}
			if i < 4 && !errors.Is(errs[i], syscall.ETIMEDOUT) {
				t.Errorf("%s: err = %v, want ETIMEDOUT (connection timed out), as the kernel reports", names[i], errs[i])
			}
			if errs[i+1] == nil || took[i+1] < bound {
				t.Errorf("%s: answered after %v with %v; the plain library was expected to wait for its own deadline", names[i+1], took[i+1], errs[i+1])
			}
		}
		if s := d.Stats(); s.DeadPaths != 3 {
			t.Errorf("DeadPaths = %d, want 3", s.DeadPaths)
		}
	})
}

func itoa(n int64) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}
