package faultlab_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/herz-go/herz/faultlab"
)

// myClient stands for the client your service uses.
func myClient(tgt faultlab.Target) (faultlab.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tgt.TLSConfig
	return faultlab.HTTPClient(&http.Client{Transport: tr}), nil
}

// benchmarkSoak is, renamed BenchmarkSoak, the whole benchmark file a
// service keeps in its repository; `go test -run '^$' -bench Soak
// -benchtime 1x` then prints one line of metrics per scenario, and
// benchstat compares two versions of the client (see examples/soak for
// herz's transport and the standard library's side by side).
func benchmarkSoak(b *testing.B) {
	for _, sc := range []faultlab.Scenario{
		faultlab.IdleCloseRace(faultlab.POSTs, 30*time.Millisecond),
		faultlab.ResetStorm(10),
		faultlab.OutageAndReturn(),
		faultlab.Storm503("1"),
		faultlab.GoAwayRestarts(3),
	} {
		b.Run(sc.Name, func(b *testing.B) { faultlab.Run(b, sc, myClient) })
	}
}

// Example_benchmark shows a user's benchmark file around [faultlab.Run].
func Example_benchmark() {
	_ = benchmarkSoak
}
