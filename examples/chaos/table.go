package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/herz-go/herz/faultlab"
)

// tally is what one client (the standard library or herz) saw in one row.
type tally struct {
	mu       sync.Mutex
	requests int
	errors   int
	sample   string          // the first caller-visible error
	lat      []time.Duration // one per request, failed ones included
	dups     int             // executions the server saw twice; -1: not applicable
	retries  map[string]uint64
	evicts   map[string]uint64
	newConns uint64
	herzSide bool // retries and evictions are herz's counters (the stdlib has none)

	// conns, if set before the first request, counts the connections the
	// client opened so far: the figure's connection series.
	conns func() int
	// before and during, if set before load, name the fault that happened
	// just before the load or holds all along: the figure's shaded window.
	before, during string
	tl             *faultlab.Timeline // the run over time, from the first request
}

// timeline returns t's timeline, started at the first call.
func (t *tally) timeline() *faultlab.Timeline {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.tl == nil {
		// 20 s of 20 ms buckets, about 11 KB a second: every row ends well
		// before (operations after the last bucket are counted in it).
		t.tl, _ = faultlab.NewTimeline(faultlab.TimelineConfig{Bucket: 20 * time.Millisecond, Buckets: 1000, Conns: t.conns})
	}
	return t.tl
}

// watch samples t's connection count once per bucket until stop is called
// (stop waits for the sampler to end).
func (t *tally) watch() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	tl := t.timeline()
	wg.Go(func() { tl.Watch(ctx) })
	return func() { cancel(); wg.Wait() }
}

// faultOn and faultOff mark a fault window on t's timeline.
func (t *tally) faultOn(label string) { t.timeline().FaultOn(label) }
func (t *tally) faultOff()            { t.timeline().FaultOff() }

// record adds one request's outcome; safe for concurrent use.
func (t *tally) record(d time.Duration, err error) {
	t.timeline().Record(d, err)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.requests++
	t.lat = append(t.lat, d)
	if err != nil {
		t.errors++
		if t.sample == "" {
			t.sample = err.Error()
		}
	}
}

// timed runs f and records its duration and error.
func (t *tally) timed(f func() error) error {
	start := time.Now()
	err := f()
	t.record(time.Since(start), err)
	return err
}

// load runs op each times on each of workers goroutines, recording every
// call, and returns when all are done.
func (t *tally) load(workers, each int, op func() error) {
	defer t.timeline().Finish()
	tl := t.timeline() // time zero: the start of the load
	if t.before != "" {
		tl.FaultOnAt(tl.Start(), t.before)
		tl.FaultOffAt(tl.Start())
	}
	if t.during != "" {
		tl.FaultOnAt(tl.Start(), t.during)
	}
	defer t.watch()()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				t.timed(op)
			}
		}()
	}
	wg.Wait()
}

func (t *tally) quantile(q float64) time.Duration {
	if len(t.lat) == 0 {
		return 0
	}
	s := slices.Clone(t.lat)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.5) - 1
	return s[max(0, min(i, len(s)-1))]
}

// row is one line pair of the final table: a fault, the stdlib and herz.
type row struct {
	name    string
	skipped string // why the row did not run ("" when it ran)
	std     *tally
	hz      *tally
}

// verdict compares the two sides of r: caller-visible errors and duplicate
// executions decide; herz is never allowed to be worse on either.
func (r row) verdict() string {
	switch {
	case r.hz.errors > r.std.errors || r.hz.dups > r.std.dups:
		return "herz WORSE"
	case r.hz.errors < r.std.errors || r.hz.dups < r.std.dups:
		return "herz better"
	default:
		return "same"
	}
}

func fmtDur(d time.Duration) string {
	switch {
	case d == 0:
		return "-"
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case d < 10*time.Second:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	default:
		return d.Round(time.Second).String()
	}
}

// fmtCounts formats a reason→count map as "a=1 b=2", "0" when empty and
// "-" when the client has no such counter.
func fmtCounts(m map[string]uint64, has bool) string {
	if !has {
		return "-"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if m[k] > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
		}
	}
	if len(parts) == 0 {
		return "0"
	}
	return strings.Join(parts, " ")
}

// columns of the table; the numeric ones are right-aligned.
var (
	header  = []string{"scenario", "client", "requests", "errors", "dups", "p50", "p99", "conns", "retries (why)", "evictions (why)", "verdict"}
	numeric = []bool{false, false, true, true, true, true, true, true, false, false, false}
)

// printTable prints the rows that ran, the first error of each, the skipped
// rows with their reason, and the one-line verdict.
func printTable(w io.Writer, rows []row) {
	cells := [][]string{header}
	var better, same, worse, stdErrs, hzErrs, stdDups, hzDups int
	var skipped []row
	for _, r := range rows {
		if r.skipped != "" {
			skipped = append(skipped, r)
			continue
		}
		v := r.verdict()
		switch v {
		case "herz better":
			better++
		case "same":
			same++
		default:
			worse++
		}
		stdErrs += r.std.errors
		hzErrs += r.hz.errors
		stdDups += max(r.std.dups, 0)
		hzDups += max(r.hz.dups, 0)
		for i, side := range []*tally{r.std, r.hz} {
			name, client, verdict := r.name, "stdlib", ""
			if i == 1 {
				name, client, verdict = "", "herz", v
			}
			dups := "-"
			if side.dups >= 0 {
				dups = fmt.Sprint(side.dups)
			}
			cells = append(cells, []string{name, client, fmt.Sprint(side.requests), fmt.Sprint(side.errors), dups,
				fmtDur(side.quantile(0.5)), fmtDur(side.quantile(0.99)), fmt.Sprint(side.newConns),
				fmtCounts(side.retries, side.herzSide), fmtCounts(side.evicts, side.herzSide), verdict})
		}
	}
	widths := make([]int, len(header))
	for _, line := range cells {
		for i, c := range line {
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	for _, line := range cells {
		var b strings.Builder
		b.WriteString("  ")
		for i, c := range line {
			pad := strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c))
			b.WriteString(" ")
			if numeric[i] {
				b.WriteString(pad + c)
			} else {
				b.WriteString(c + pad)
			}
			b.WriteString(" ")
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}

	fmt.Fprintln(w, "\n   first caller-visible error per row:")
	for _, r := range rows {
		if r.skipped != "" || r.std.errors+r.hz.errors == 0 {
			continue
		}
		fmt.Fprintf(w, "   - %s\n       stdlib: %s\n       herz:   %s\n", r.name, clip(r.std.sample), clip(r.hz.sample))
	}
	if len(skipped) > 0 {
		fmt.Fprintln(w, "\n   skipped:")
		for _, r := range skipped {
			fmt.Fprintf(w, "   - %s: %s\n", r.name, r.skipped)
		}
	}
	ran := better + same + worse
	fmt.Fprintf(w, "\nverdict: in %d scenarios callers saw %d errors with the standard library and %d with herz; "+
		"duplicate executions %d vs %d; herz better in %d, the same in %d, worse in %d.\n",
		ran, stdErrs, hzErrs, stdDups, hzDups, better, same, worse)
}

// clip shortens an error message for the table.
func clip(s string) string {
	switch {
	case s == "":
		return "none"
	case len(s) > 110:
		return s[:107] + "..."
	}
	return s
}

// starting prints the start of a row's live progress line; done ends it.
func starting(w io.Writer, name string) {
	fmt.Fprintf(w, "   … %-40s ", name)
}

// done ends the progress line of a row that ran.
func done(w io.Writer, r row, what string) {
	fmt.Fprintf(w, "stdlib %d/%d %s, herz %d/%d %s\n", r.std.errors, r.std.requests, what, r.hz.errors, r.hz.requests, what)
}
