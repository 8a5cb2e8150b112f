package faultlab_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/herz-go/herz/faultlab"
)

// TestFigureOfASoakDrawsTheRecordedRun soaks the outage scenario with
// net/http and herz, records both timelines, draws them on the same axes
// and checks that what the figure draws is what the results counted: every
// operation and every error of each client, the connections it opened, and
// the outage window shaded where the scenario marked it. The figure file
// asked for with WithFigure exists and is an SVG with three panels.
func TestFigureOfASoakDrawsTheRecordedRun(t *testing.T) {
	t.Parallel()
	sc := faultlab.OutageAndReturn()
	sc.Duration = 900 * time.Millisecond
	dir := t.TempDir()
	var series []faultlab.Series
	var results []*faultlab.Result
	for _, ck := range clientKinds {
		path := filepath.Join(dir, ck.name+".svg")
		r, err := faultlab.Soak(t.Context(), sc, ck.new, faultlab.WithFigure(path))
		if err != nil {
			t.Fatal(err)
		}
		if r.Timeline == nil {
			t.Fatalf("%s: WithFigure recorded no timeline", ck.name)
		}
		svg, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%s: the figure was not written: %v", ck.name, err)
		}
		for _, want := range []string{"<svg", "errors/s", "p99 latency (ms)", "connections opened", "outage-and-return"} {
			if !bytes.Contains(svg, []byte(want)) {
				t.Errorf("%s: figure lacks %q", ck.name, want)
			}
		}
		series = append(series, faultlab.Series{Label: ck.name, Timeline: r.Timeline})
		results = append(results, r)
	}
	f := faultlab.NewFigure(sc.Name, series...)
	if len(f.Lines) != len(clientKinds) {
		t.Fatalf("figure has %d lines, want %d", len(f.Lines), len(clientKinds))
	}
	for i, r := range results {
		l := f.Lines[i]
		if got := f.Ops(i); got != r.Ops {
			t.Errorf("%s: figure draws %d operations, the result counted %d", l.Label, got, r.Ops)
		}
		if got := f.Errors(i); got != r.Errors {
			t.Errorf("%s: figure draws %d errors, the result counted %d", l.Label, got, r.Errors)
		}
		if got := l.Bins[len(l.Bins)-1].Conns; got != r.NewConns {
			t.Errorf("%s: figure draws %d connections opened, the result counted %d", l.Label, got, r.NewConns)
		}
		// The outage: errors, if any, fall inside or right after the
		// shaded window, never in the first quarter of the run.
		for _, b := range l.Bins {
			if b.ErrorCount() > 0 && b.Start+b.Width < sc.Duration/4 {
				t.Errorf("%s: %d errors drawn at %v, before the outage", l.Label, b.ErrorCount(), b.Start)
			}
		}
	}
	if results[1].Errors > results[0].Errors {
		t.Errorf("herz saw %d errors, net/http %d", results[1].Errors, results[0].Errors)
	}
	if len(f.Windows) != len(clientKinds) {
		t.Fatalf("figure shades %d windows, want one per client: %+v", len(f.Windows), f.Windows)
	}
	for _, w := range f.Windows {
		third := sc.Duration / 3
		if w.Label != "server down" || w.From < third-50*time.Millisecond || w.From > third+200*time.Millisecond ||
			w.To <= w.From || w.To > 2*third+time.Second { // loose bounds: ≥3x headroom on a loaded machine
			t.Errorf("window %+v, want \"server down\" from about %v to about %v", w, third, 2*third)
		}
	}
	for _, format := range []string{"svg", "png"} {
		var buf bytes.Buffer
		if err := f.Render(&buf, format); err != nil {
			t.Fatalf("render %s: %v", format, err)
		}
		if buf.Len() < 1000 {
			t.Errorf("%s figure is only %d bytes", format, buf.Len())
		}
	}
	if err := f.Render(io.Discard, "gif"); err == nil || !strings.HasPrefix(err.Error(), "herz/faultlab: ") {
		t.Errorf("render gif: %v, want a herz/faultlab error", err)
	}
}

// TestTimelineBucketsAndQuantiles records known operations and reads them
// back: counts per bucket and class, quantiles within a bin's width,
// connections sampled once per bucket, marks turned into windows.
func TestTimelineBucketsAndQuantiles(t *testing.T) {
	start := time.Now()
	conns := 0
	tl, err := faultlab.NewTimeline(faultlab.TimelineConfig{Start: start, Bucket: 10 * time.Millisecond, Buckets: 10,
		Conns: func() int { conns++; return conns }})
	must(t, err)
	for i := range 100 {
		tl.RecordAt(start.Add(5*time.Millisecond), time.Duration(i+1)*time.Millisecond, nil)
	}
	tl.RecordAt(start.Add(15*time.Millisecond), time.Millisecond, syscall.ECONNREFUSED)
	tl.RecordAt(start.Add(15*time.Millisecond), time.Millisecond, fmt.Errorf("x: %w", io.ErrUnexpectedEOF))
	tl.RecordAt(start.Add(25*time.Millisecond), time.Second, context.DeadlineExceeded)
	tl.RecordAt(start.Add(25*time.Millisecond), time.Millisecond, errors.New("herz/faultlab: status 503"))
	tl.RecordAt(start.Add(time.Hour), time.Millisecond, errors.New("odd")) // clamps into the last bucket
	bs := tl.Buckets(1)
	if len(bs) != 10 {
		t.Fatalf("%d buckets, want 10", len(bs))
	}
	if bs[0].OK != 100 || bs[0].ErrorCount() != 0 {
		t.Errorf("bucket 0: %+v", bs[0])
	}
	if p := bs[0].Quantile(0.99); p < 99*time.Millisecond || p > 99*time.Millisecond*120/100 {
		t.Errorf("p99 of 1..100ms = %v, want 99ms..119ms", p)
	}
	if p := bs[0].Quantile(0.5); p < 50*time.Millisecond || p > 60*time.Millisecond {
		t.Errorf("p50 of 1..100ms = %v, want 50ms..60ms", p)
	}
	want := [][faultlab.NumErrorClasses]int{1: {faultlab.ErrRefused: 1, faultlab.ErrReset: 1}, 2: {faultlab.ErrTimeout: 1, faultlab.ErrStatus: 1},
		9: {faultlab.ErrOther: 1}}
	for i, w := range want {
		if bs[i].Errors != w {
			t.Errorf("bucket %d errors %v, want %v", i, bs[i].Errors, w)
		}
	}
	// conns: 1 at construction, then one sample in each of the buckets 0,
	// 1, 2 and 9.
	if conns != 5 || bs[0].Conns != 1 || bs[2].Conns != 3 || bs[8].Conns != 3 || bs[9].Conns != 4 {
		t.Errorf("conns calls %d, per bucket %v %v %v %v", conns, bs[0].Conns, bs[2].Conns, bs[8].Conns, bs[9].Conns)
	}
	if ops, errs := tl.Totals(); ops != 105 || errs != 5 {
		t.Errorf("totals %d ops %d errors, want 105 and 5", ops, errs)
	}
	if _, err := faultlab.NewTimeline(faultlab.TimelineConfig{Bucket: -1}); err == nil || !strings.Contains(err.Error(), "TimelineConfig.Bucket") {
		t.Errorf("negative bucket: %v", err)
	}
	var nilTL *faultlab.Timeline
	nilTL.Record(time.Millisecond, nil) // a nil timeline records nothing
	nilTL.FaultOn("x")
	nilTL.Finish()
}

// BenchmarkSoakRecording measures what recording a timeline costs a soak
// run: each iteration runs the same short loopback soak (net/http, 4
// workers, no pause) twice, without and with WithTimeline, in alternating
// order so that the load of the machine hits both alike, and reports the
// operations per second of each (off-ops/s, on-ops/s) and the throughput
// recording cost in percent (cost-%, negative: noise in favour of "on").
// Run it with -benchtime 10x or more; the soak's own cost dominates ns/op,
// which is suppressed.
func BenchmarkSoakRecording(b *testing.B) {
	sc := faultlab.Scenario{Name: "plain", Duration: time.Second}
	var ops [2]int
	var elapsed [2]time.Duration
	i := 0
	for b.Loop() {
		for k := range 2 {
			mode := (i + k) % 2 // 0: off, 1: on
			var opts []faultlab.Option
			if mode == 1 {
				opts = append(opts, faultlab.WithTimeline())
			}
			r, err := faultlab.Soak(context.Background(), sc, stdlibClient, opts...)
			if err != nil {
				b.Fatal(err)
			}
			if (mode == 1) != (r.Timeline != nil) {
				b.Fatalf("mode %d recorded %v", mode, r.Timeline != nil)
			}
			ops[mode] += r.Ops
			elapsed[mode] += r.Elapsed
		}
		i++
	}
	off, on := float64(ops[0])/elapsed[0].Seconds(), float64(ops[1])/elapsed[1].Seconds()
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(off, "off-ops/s")
	b.ReportMetric(on, "on-ops/s")
	b.ReportMetric(100*(off-on)/off, "cost-%")
	// The same cost, without the noise of two soaks on a shared machine:
	// the CPU that recording the soak's operations takes (GOMAXPROCS
	// goroutines recording into one bucket at once, the worst case) as a
	// share of the CPU there is.
	b.StopTimer()
	rec := recordCost(b)
	b.ReportMetric(float64(rec), "record-ns")
	b.ReportMetric(100*float64(rec)*on/(float64(runtime.GOMAXPROCS(0))*1e9), "cpu-bound-%")
}

// recordCost returns the wall time of one Record, with GOMAXPROCS
// goroutines recording into the same bucket at once.
func recordCost(b *testing.B) time.Duration {
	tl, err := faultlab.NewTimeline(faultlab.TimelineConfig{Conns: func() int { return 0 }})
	if err != nil {
		b.Fatal(err)
	}
	const each = 200_000
	n := runtime.GOMAXPROCS(0)
	start := time.Now()
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for range each {
				tl.Record(time.Millisecond, nil)
			}
		})
	}
	wg.Wait()
	return time.Since(start) * time.Duration(n) / (each * time.Duration(n))
}

// BenchmarkTimelineRecord is the cost of one recorded operation, from
// several goroutines at once; 0 allocs/op.
func BenchmarkTimelineRecord(b *testing.B) {
	tl, err := faultlab.NewTimeline(faultlab.TimelineConfig{Conns: func() int { return 0 }})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			tl.Record(time.Millisecond, nil)
		}
	})
}
