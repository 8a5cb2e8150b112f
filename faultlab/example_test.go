package faultlab_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/herz-go/herz/faultlab"
)

// Faults are plain values: keep them in tables, compare them, print them.
func ExampleFault() {
	for _, f := range []faultlab.Fault{
		faultlab.NoFault(),
		faultlab.Refuse(),
		faultlab.ResetAll(),
		faultlab.ResetAfterBytes(512),
		faultlab.ResetRandom(0.01),
		faultlab.Blackhole(),
		faultlab.AcceptAndDrop(),
		faultlab.Latency(50 * time.Millisecond),
		faultlab.Bandwidth(64 << 10),
		faultlab.CloseAfterBytes(1024),
		faultlab.IdleClose(time.Second),
	} {
		fmt.Println(f)
	}
	// Output:
	// none
	// refuse
	// reset-all
	// reset-after-bytes(512)
	// reset-random(0.01)
	// blackhole
	// accept-and-drop
	// latency(50ms)
	// bandwidth(65536B/s)
	// close-after-bytes(1024)
	// idle-close(1s)
}

// A proxy in front of any TCP server (here an echo server; in your tests a
// database or an API), switched between faults while connections use it.
func ExampleNewProxy() {
	echo, err := faultlab.NewEchoServer()
	if err != nil {
		panic(err)
	}
	defer echo.Close()
	p, err := faultlab.NewProxy(echo.Addr())
	if err != nil {
		panic(err)
	}
	defer p.Close()

	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		panic(err)
	}
	defer c.Close()
	buf := make([]byte, 5)
	_, _ = c.Write([]byte("hello"))
	_, _ = io.ReadFull(c, buf)
	fmt.Printf("through %v: %s\n", p.Fault(), buf)

	_ = p.SetFault(faultlab.Refuse())
	_, err = net.Dial("tcp", p.Addr())
	fmt.Printf("dial under %v: refused=%v\n", p.Fault(), errors.Is(err, syscall.ECONNREFUSED))

	_ = p.SetFault(faultlab.ResetAll())
	_, err = c.Read(buf)
	fmt.Printf("established conn under %v: reset=%v\n", p.Fault(), errors.Is(err, syscall.ECONNRESET))
	// Output:
	// through none: hello
	// dial under refuse: refused=true
	// established conn under reset-all: reset=true
}

// Soak runs a scenario once and returns the figures, to assert on in a test
// or to print from a program. Here: a plain client against a healthy
// server, and then against one that closes idle connections at the pace of
// the requests.
func ExampleSoak() {
	client := func(tgt faultlab.Target) (faultlab.Client, error) {
		return faultlab.HTTPClient(&http.Client{Transport: &http.Transport{}}), nil
	}
	r, err := faultlab.Soak(context.Background(), faultlab.Scenario{
		Name: "healthy", Mix: faultlab.POSTs, Duration: 100 * time.Millisecond,
	}, client)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s: errors=%d dups=%d ran=%v\n", r.Scenario, r.Errors, r.Duplicates, r.Ops > 0)

	sc := faultlab.IdleCloseRace(faultlab.POSTs, 20*time.Millisecond)
	sc.Duration = 200 * time.Millisecond
	r, err = faultlab.Soak(context.Background(), sc, client)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s: dups=%d ran=%v\n", r.Scenario, r.Duplicates, r.Ops > 0)
	// Output:
	// healthy: errors=0 dups=0 ran=true
	// idle-close-post: dups=0 ran=true
}

// A timeline counts operations in fixed buckets, failures by class, and
// keeps a latency histogram per bucket; a figure draws it.
func ExampleTimeline() {
	start := time.Now()
	tl, err := faultlab.NewTimeline(faultlab.TimelineConfig{Start: start, Bucket: 100 * time.Millisecond, Buckets: 10})
	if err != nil {
		panic(err)
	}
	for i := range 10 { // 10 successes of 1..10 ms in the first bucket
		tl.RecordAt(start.Add(50*time.Millisecond), time.Duration(i+1)*time.Millisecond, nil)
	}
	tl.FaultOnAt(start.Add(100*time.Millisecond), "server down")
	tl.RecordAt(start.Add(150*time.Millisecond), time.Millisecond, syscall.ECONNREFUSED)
	tl.RecordAt(start.Add(160*time.Millisecond), 2*time.Second, context.DeadlineExceeded)
	tl.FaultOffAt(start.Add(200 * time.Millisecond))
	for _, b := range tl.Buckets(1) {
		fmt.Printf("%v: ok=%d refused=%d timeout=%d p99<=%v\n", b.Start, b.OK,
			b.Errors[faultlab.ErrRefused], b.Errors[faultlab.ErrTimeout], b.Quantile(0.99))
	}
	f := faultlab.NewFigure("my client", faultlab.Series{Label: "mine", Timeline: tl})
	fmt.Printf("drawn: %d errors in %d operations, fault %q from %v to %v\n",
		f.Errors(0), f.Ops(0), f.Windows[0].Label, f.Windows[0].From, f.Windows[0].To)
	// Output:
	// 0s: ok=10 refused=0 timeout=0 p99<=10.24ms
	// 100ms: ok=0 refused=1 timeout=1 p99<=2.097152s
	// drawn: 2 errors in 12 operations, fault "server down" from 100ms to 200ms
}
