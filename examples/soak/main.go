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
