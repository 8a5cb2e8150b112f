// Command soak soaks two HTTP clients side by side under real faults with
// the public package faultlab: the standard library's default transport and
// herz's drop-in transport, each built fresh for each scenario, and prints
// what their callers saw. It is the program form of the benchmark file a
// user keeps in their own repository (soak_test.go next to this file):
//
//	go run ./examples/soak            # 1s per scenario and client
//	go run ./examples/soak -d 10s
//	go test -run '^$' -bench Soak -benchtime 1x ./examples/soak
//
// Output of one run (`go run ./examples/soak`, shared 2-core VM; your
// figures will differ, and vary from run to run):
//
//	scenario           client  ops   errors/op  dups  p50     p99      new-conns  left-goroutines  left-fds
//	idle-close-post    stdlib  132   0          0     0.11ms  1.88ms   10         0                0
//	idle-close-post    herz    134   0          0     0.09ms  0.99ms   11         0                0
//	rst-storm          stdlib  1525  0.06098    0     0.15ms  1.79ms   417        0                0
//	rst-storm          herz    1119  0.04915    0     0.15ms  49.66ms  519        0                0
//	outage-and-return  stdlib  723   0.343      0     0.07ms  1.45ms   104        0                0
//	outage-and-return  herz    468   0          0     0.14ms  3.98ms   104        0                0
//	503-storm          stdlib  695   0.5036     0     0.12ms  1.53ms   124        0                0
//	503-storm          herz    312   0.4423     0     0.06ms  2.10ms   26         0                0
//	goaway             stdlib  1046  0          0     0.16ms  5.58ms   14         0                0
//	goaway             herz    1376  0          0     0.16ms  3.21ms   11         0                0
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"text/tabwriter"
	"time"

	"github.com/herz-go/herz/faultlab"
	"github.com/herz-go/herz/transport"
)

// stdlibClient is what most services run: http.DefaultTransport's settings.
func stdlibClient(tgt faultlab.Target) (faultlab.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tgt.TLSConfig
	return faultlab.HTTPClient(&http.Client{Transport: tr}), nil
}

// herzClient is the same client with herz's transport: one line differs.
func herzClient(tgt faultlab.Target) (faultlab.Client, error) {
	tr, err := transport.New(transport.Config{TLSClientConfig: tgt.TLSConfig})
	if err != nil {
		return nil, err
	}
	return faultlab.HTTPClient(&http.Client{Transport: tr}), nil
}

// scenarios are the faults every client is soaked under.
func scenarios(d time.Duration) []faultlab.Scenario {
	scs := []faultlab.Scenario{
		faultlab.IdleCloseRace(faultlab.POSTs, 30*time.Millisecond),
		faultlab.ResetStorm(10),
		faultlab.OutageAndReturn(),
		faultlab.Storm503("1"),
		faultlab.GoAwayRestarts(3),
	}
	for i := range scs {
		scs[i].Duration = d
	}
	return scs
}

func main() {
	d := flag.Duration("d", time.Second, "duration of each scenario per client")
	flag.Parse()
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "scenario\tclient\tops\terrors/op\tdups\tp50\tp99\tnew-conns\tleft-goroutines\tleft-fds")
	for _, sc := range scenarios(*d) {
		for _, c := range []struct {
			name string
			new  faultlab.NewClient
		}{{"stdlib", stdlibClient}, {"herz", herzClient}} {
			r, err := faultlab.Soak(context.Background(), sc, c.new)
			if err != nil {
				log.Fatal(err)
			}
			fmt.Fprintf(w, "%s\t%s\t%d\t%.4g\t%d\t%.2fms\t%.2fms\t%d\t%d\t%d\n", sc.Name, c.name, r.Ops, r.ErrorRatio(),
				r.Duplicates, ms(r.Percentile(0.5)), ms(r.Percentile(0.99)), r.NewConns, r.LeftGoroutines, r.LeftFDs)
		}
	}
	_ = w.Flush()
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
