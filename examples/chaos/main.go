package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	"github.com/herz-go/herz/adaptive"
	"github.com/herz-go/herz/dialer"
	"github.com/herz-go/herz/faultlab"
	"github.com/herz-go/herz/transport"
)

// options are the demo's knobs.
type options struct {
	short   bool   // a tenth of the HTTP requests, no database or Redis rows
	report  string // the HTML report's path; "": none
	figures string // a directory to write each row's figure to; "": none
	format  string // the figures' format in that directory: "svg" (default) or "png"
	got     *reported
}

// reported is what a run drew, for the tests.
type reported struct {
	rows []row
	figs []*faultlab.Figure
}

func main() {
	var o options
	flag.BoolVar(&o.short, "short", os.Getenv("HERZ_DEMO_SHORT") == "1", "short run: a tenth of the HTTP requests, no database rows")
	flag.StringVar(&o.report, "report", filepath.Join(os.TempDir(), "herz-demo.html"),
		"write the HTML report (the table and one figure per row over time) to this file; -report= (empty) or -report=off: none")
	flag.StringVar(&o.figures, "figures", "", "also write each row's figure into this directory")
	flag.StringVar(&o.format, "figure-format", "svg", "the format of the files -figures writes: svg or png")
	flag.Parse()
	if o.report == "off" {
		o.report = ""
	}
	start := time.Now()
	if err := run(os.Stdout, o); err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(1)
	}
	fmt.Printf("(demo took %v)\n", time.Since(start).Round(100*time.Millisecond))
}

func run(w io.Writer, o options) error {
	var text bytes.Buffer // the report repeats the text
	w = io.MultiWriter(w, &text)
	fmt.Fprintln(w, "herz chaos demo: misbehaving servers on 127.0.0.1, the standard library and herz side by side")
	fmt.Fprintln(w)
	if err := showProfile(w); err != nil {
		return err
	}
	if err := showProbes(w); err != nil {
		return err
	}
	if err := showLearner(w); err != nil {
		return err
	}
	rows, err := showTable(w, o)
	if err != nil {
		return err
	}
	return report(w, o, text.String(), rows)
}

// report writes the HTML report and the figures o asks for, if any, and
// prints the report's path.
func report(w io.Writer, o options, text string, rows []row) error {
	if o.report == "" && o.figures == "" {
		return nil
	}
	start := time.Now()
	figs, err := writeReport(o.report, o.figures, o.format, text, rows)
	if err != nil {
		return err
	}
	if o.got != nil {
		o.got.rows, o.got.figs = rows, figs
	}
	if o.report != "" {
		fmt.Fprintf(w, "\nreport with a figure per row (errors/s, p99, connections over time): %s (rendered in %v)\n",
			o.report, time.Since(start).Round(time.Millisecond))
	}
	return nil
}

// showTable runs every row, printing a progress line per row, then the
// table and the verdict.
func showTable(w io.Writer, o options) ([]row, error) {
	section(w, "4. under faults: what callers see, the plain library vs herz with its zero Config")
	var rows []row
	hr, err := httpRows(w, o)
	if err != nil {
		return nil, err
	}
	rows = append(rows, hr...)
	sr, err := streamRows(w, o)
	if err != nil {
		return nil, err
	}
	rows = append(rows, sr...)
	rows = append(rows, sqlRows(w, o)...)
	rows = append(rows, redisRow(w, o))
	rows = append(rows, grpcRows(w, o)...)
	rows = append(rows, blackholeRow())
	fmt.Fprintln(w)
	printTable(w, rows)
	fmt.Fprintln(w, `
   stdlib: http.DefaultTransport, the bare driver (pgx, go-sql-driver/mysql), a plain puddle pool,
   grpc-go's round_robin. herz: transport.Config{} (the 503 row opts status retries in), sqlconn's pgxconn and mysqlconn, pool.Config{},
   grpcconn.NewClient with grpcconn.Config{}. errors: what callers got
   back; dups: requests the server ran twice (POSTs); conns: connects made; retries and evictions:
   herz's own counters, by reason. A POST whose bytes may have reached the server is never re-sent
   by herz: after an RST the caller gets the error, and the server's duplicate counter stays at 0.`)
	return rows, nil
}

// blackholeRow: a peer that goes silent (no FIN, no RST) needs packet
// filtering in a network namespace of its own, and herz's detection of it
// takes seconds (the dialer's dead-path watchdog, HTTP/2 PINGs): faultlab's
// tests show it.
func blackholeRow() row {
	const name = "blackholed peer"
	if os.Geteuid() != 0 {
		return row{name: name, skipped: "needs root (iptables in a network namespace)"}
	}
	return row{name: name, skipped: "takes longer than this demo's minute; run " +
		"`go test -run BlackholePortAsSeenByStdlibAndHerzClients ./faultlab` as root"}
}

func section(w io.Writer, title string) {
	fmt.Fprintf(w, "== %s\n", title)
}

// showProfile prints what adaptive derived from this kernel's /proc/sys.
func showProfile(w io.Writer) error {
	section(w, "1. timeouts derived from this kernel (package adaptive)")
	src, err := adaptive.NewSource(adaptive.SourceConfig{})
	if err != nil {
		return err
	}
	if perr := src.Err(); perr != nil {
		fmt.Fprintf(w, "   (some settings unreadable, documented fallbacks used: %v)\n", perr)
	}
	for _, line := range splitLines(src.Profile().String()) {
		fmt.Fprintf(w, "   %s\n", line)
	}
	fmt.Fprintln(w)
	return nil
}

// showProbes dials a local server through the herz dialer and shows the
// probe telling a live connection from one whose server sent FIN, RST or
// unasked data, while another goroutine is blocked reading the same conn.
func showProbes(w io.Writer) error {
	section(w, "2. liveness probe: one MSG_PEEK syscall, never blocking a concurrent reader")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	d, err := dialer.New(dialer.Config{DisableEvictor: true})
	if err != nil {
		return err
	}
	defer d.Close()

	cases := []struct {
		name   string
		fault  func(*net.TCPConn)
		reader bool
	}{
		{"healthy idle connection", func(*net.TCPConn) {}, true},
		{"server closed it (FIN)", func(s *net.TCPConn) { s.Close() }, false},
		{"server reset it (RST)", func(s *net.TCPConn) { s.SetLinger(0); s.Close() }, false},
		{"server wrote unasked bytes", func(s *net.TCPConn) { s.Write([]byte("?")) }, false},
	}
	for _, tc := range cases {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		nc, err := d.DialContext(ctx, "tcp", ln.Addr().String())
		cancel()
		if err != nil {
			return err
		}
		c := nc.(*dialer.Conn)
		sc, err := ln.Accept()
		if err != nil {
			return err
		}
		s := sc.(*net.TCPConn)
		readerDone := make(chan struct{})
		if tc.reader {
			go func() { // like net/http's readLoop
				defer close(readerDone)
				c.Read(make([]byte, 1))
			}()
			time.Sleep(10 * time.Millisecond)
		} else {
			close(readerDone)
		}
		tc.fault(s)
		r := c.Probe()
		for i := 0; i < 200 && r.State == dialer.ProbeAlive && !tc.reader; i++ {
			time.Sleep(2 * time.Millisecond) // the FIN/RST crosses loopback
			r = c.Probe()
		}
		fmt.Fprintf(w, "   %-28s -> probe says %s\n", tc.name, r)
		c.Close()
		s.Close()
		<-readerDone
	}
	fmt.Fprintln(w)
	return nil
}

// showLearner lets a net/http server with IdleTimeout 300ms close idle
// connections dialed through herz and prints what herz learned.
func showLearner(w io.Writer) error {
	const serverIdle = 300 * time.Millisecond
	section(w, fmt.Sprintf("3. learning a server's idle timeout (net/http server, IdleTimeout %v)", serverIdle))
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	srv.Config.IdleTimeout = serverIdle
	srv.Start()
	defer srv.Close()
	tr, err := transport.New(transport.Config{})
	if err != nil {
		return err
	}
	defer tr.Close()
	d := tr.Dialer()
	client := &http.Client{Transport: tr}
	peer := srv.Listener.Addr().String()
	for i := 0; i < 4; i++ {
		before := d.Stats().PeerCloses
		resp, err := client.Get(srv.URL)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		for j := 0; j < 300 && d.Stats().PeerCloses == before; j++ {
			time.Sleep(5 * time.Millisecond)
		}
	}
	est, ok := d.Learner().Estimate(peer)
	dl, _ := d.Learner().IdleDeadline(peer)
	if !ok {
		fmt.Fprintf(w, "   nothing learned yet (stats: %v)\n\n", d.Stats())
		return nil
	}
	fmt.Fprintf(w, "   the server closed %d idle connections; herz learned %v and retires idle connections after %v\n\n",
		d.Stats().PeerCloses, est.Round(time.Millisecond), dl.Round(time.Millisecond))
	return nil
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}
