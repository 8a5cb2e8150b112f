package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/herz-go/herz/adaptive"
	"github.com/herz-go/herz/dialer"
	"github.com/herz-go/herz/transport"
)

type options struct {
	http, https bool
	path        string
	n           int
	wait        time.Duration
	probeAfter  time.Duration
}

func main() {
	var o options
	flag.BoolVar(&o.http, "http", false, "also send requests to http://host:port/path through herz's Transport")
	flag.BoolVar(&o.https, "https", false, "like -http, over TLS")
	flag.StringVar(&o.path, "path", "/", "request path for -http/-https")
	flag.IntVar(&o.n, "n", 3, "requests to send with -http/-https")
	flag.DurationVar(&o.wait, "wait", 0, "with -http: wait up to this long for the server to close the idle connection")
	flag.DurationVar(&o.probeAfter, "probe-after", 200*time.Millisecond, "idle time before the second probe")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: inspect [flags] host:port")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(os.Stdout, flag.Arg(0), o); err != nil {
		fmt.Fprintln(os.Stderr, "inspect:", err)
		os.Exit(1)
	}
}

func run(w io.Writer, addr string, o options) error {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("%q is not host:port: %w", addr, err)
	}
	fmt.Fprintf(w, "herz inspect %s\n\n", addr)

	src, err := adaptive.NewSource(adaptive.SourceConfig{})
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "kernel-derived profile (package adaptive, from /proc/sys):")
	indent(w, src.Profile().String())
	if perr := src.Err(); perr != nil {
		fmt.Fprintf(w, "   (unreadable settings, documented fallbacks used: %v)\n", perr)
	}

	// One Transport, so the raw dial and the requests share one Dialer and
	// one idle-timeout learner. Proxies are not used: this is about addr.
	tr, err := transport.New(transport.Config{Proxy: transport.NoProxy, Dialer: dialer.Config{Profile: src}})
	if err != nil {
		return err
	}
	defer tr.Close()
	d := tr.Dialer()

	fmt.Fprintln(w, "\ndial (verified: SO_ERROR, getpeername, no self-connect; keepalive set; a TCP_INFO watchdog judges dead paths):")
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	start := time.Now()
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		var de *dialer.DialError
		var ve *dialer.VerifyError
		switch {
		case errors.As(err, &ve):
			fmt.Fprintf(w, "   FAILED verification (%s) after %v: %v\n", ve.Check, time.Since(start).Round(time.Microsecond), err)
		case errors.As(err, &de):
			fmt.Fprintf(w, "   FAILED (%s, %d attempts) after %v: %v\n", de.Kind, de.Attempts, time.Since(start).Round(time.Microsecond), err)
		case dialer.RefusedConnect(err):
			fmt.Fprintf(w, "   FAILED (refused: nothing listens) after %v: %v\n", time.Since(start).Round(time.Microsecond), err)
		case dialer.FailedConnect(err):
			fmt.Fprintf(w, "   FAILED (connect) after %v: %v\n", time.Since(start).Round(time.Microsecond), err)
		default:
			fmt.Fprintf(w, "   FAILED: %v\n", err)
		}
		fmt.Fprintf(w, "   dialer: %v\n", d.Stats())
		return err
	}
	c := nc.(*dialer.Conn)
	defer c.Close()
	fmt.Fprintf(w, "   ok in %v: %s -> %s (%d connect attempts)\n", time.Since(start).Round(time.Microsecond),
		c.LocalAddr(), c.RemoteAddr(), d.Stats().Dials)
	p := d.Profile()
	fmt.Fprintf(w, "   keepalive idle=%v interval=%v count=%d, dead-path bound %v\n",
		p.Keepalive.Idle, p.Keepalive.Interval, p.Keepalive.Count, p.UserTimeout)

	fmt.Fprintln(w, "\nTCP_INFO (kernel):")
	if ti, err := c.TCPInfo(); err != nil {
		fmt.Fprintf(w, "   unavailable: %v\n", err)
	} else {
		fmt.Fprintf(w, "   state %s, rtt %v ± %v, unacked %d, lost %d, retransmits %d (total %d), last data received %v ago\n",
			tcpState(ti.State), ti.RTT, ti.RTTVar, ti.Unacked, ti.Lost, ti.Retransmits, ti.TotalRetrans, ti.LastDataRecv)
	}

	fmt.Fprintln(w, "\nliveness probe (one MSG_PEEK, nothing consumed):")
	fmt.Fprintf(w, "   %-20s%s\n", "at once:", c.Probe())
	time.Sleep(o.probeAfter)
	r := c.Probe()
	fmt.Fprintf(w, "   %-20s%s%s\n", "after "+o.probeAfter.String()+" idle:", r, probeHint(r))
	c.Close()

	if o.http || o.https {
		if err := inspectHTTP(ctx, w, tr, addr, o); err != nil {
			return err
		}
	} else {
		fmt.Fprintln(w, "\n(no idle timeout learned from a raw dial: run with -http or -https to let herz's Transport learn it)")
	}
	return nil
}

// get sends one GET to url and drains its response; it reports success.
func get(ctx context.Context, client *http.Client, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	return true
}

// inspectHTTP sends o.n requests through tr, optionally waits for the
// server's idle close, and prints what herz learned.
func inspectHTTP(ctx context.Context, w io.Writer, tr *transport.Transport, addr string, o options) error {
	scheme := "http"
	if o.https {
		scheme = "https"
	}
	url := scheme + "://" + addr + o.path
	fmt.Fprintf(w, "\nrequests through herz's Transport (GET %s):\n", url)
	client := &http.Client{Transport: tr}
	for i := range o.n {
		start := time.Now()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			fmt.Fprintf(w, "   %d: error after %v: %v\n", i+1, time.Since(start).Round(time.Microsecond), err)
			continue
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		ka := resp.Header.Get("Keep-Alive")
		if ka != "" {
			ka = ", Keep-Alive: " + ka
		}
		fmt.Fprintf(w, "   %d: %s %s in %v%s\n", i+1, resp.Proto, resp.Status, time.Since(start).Round(time.Microsecond), ka)
	}
	d := tr.Dialer()
	if o.wait > 0 {
		// A learned idle deadline acts once two closes agree: wait for the
		// server's idle close, send one more request, and wait again.
		for round := range 2 {
			if round > 0 {
				if !get(ctx, client, url) {
					break
				}
			}
			before := d.Stats().PeerCloses
			start := time.Now()
			for time.Since(start) < o.wait && d.Stats().PeerCloses == before && d.Stats().Idle > 0 {
				time.Sleep(10 * time.Millisecond)
			}
			if d.Stats().PeerCloses == before {
				fmt.Fprintf(w, "   no idle close by the server within %v\n", o.wait)
				break
			}
			fmt.Fprintf(w, "   the server closed the idle connection after about %v\n", time.Since(start).Round(10*time.Millisecond))
		}
	}
	fmt.Fprintln(w, "\nwhat herz learned:")
	peer := addr
	if est, ok := d.Learner().Estimate(peer); ok {
		dl, _ := d.Learner().IdleDeadline(peer)
		fmt.Fprintf(w, "   server idle timeout %v: idle connections are retired after %v\n", est.Round(time.Millisecond), dl.Round(time.Millisecond))
	} else {
		fmt.Fprintln(w, "   no idle timeout yet (no idle close seen, no Keep-Alive: timeout=N; try -wait)")
	}
	if h, ok := d.PeerHealth(peer); ok {
		fmt.Fprintf(w, "   peer health: success %.2f, latency %v, rtt %v over %d samples\n",
			h.SuccessRatio, h.Latency.Round(time.Microsecond), h.RTT, h.Samples)
	}
	fmt.Fprintf(w, "   transport: %v\n", tr.Stats())
	return nil
}

func probeHint(r dialer.ProbeResult) string {
	switch r.State {
	case dialer.ProbeDataPending:
		return " (the server spoke first: a greeting, or bytes nobody asked for)"
	case dialer.ProbePeerClosed:
		return " (the server closed a connection that sent nothing)"
	case dialer.ProbeReset:
		return " (the connection was reset)"
	}
	return ""
}

func tcpState(s uint8) string {
	names := []string{1: "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT", "CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING"}
	if int(s) < len(names) && names[s] != "" {
		return names[s]
	}
	return fmt.Sprintf("state %d", s)
}

func indent(w io.Writer, s string) {
	for _, line := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		fmt.Fprintf(w, "   %s\n", line)
	}
}
