package dialer_test

import (
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herz-go/herz/dialer"
)

// benchObservePeers runs Observe from all Ps over peers in turn. With more
// peers than the health table holds (4096), old peers are dropped as new
// ones arrive.
func benchObservePeers(b *testing.B, peers int) {
	d := newDialer(b, dialer.Config{DisableEvictor: true})
	names := make([]string, peers)
	for i := range names {
		names[i] = "10." + strconv.Itoa(i/65536) + "." + strconv.Itoa(i/256%256) + "." + strconv.Itoa(i%256) + ":443"
	}
	var next atomic.Uint64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			d.Observe(names[next.Add(1)%uint64(peers)], time.Millisecond, nil)
		}
	})
}

// BenchmarkObserveManyPeers: 1000 peers, all held.
func BenchmarkObserveManyPeers(b *testing.B) { benchObservePeers(b, 1000) }

// BenchmarkObserveChurn: 16384 peers in turn, four times what the table
// holds: most calls add a peer and drop one.
func BenchmarkObserveChurn(b *testing.B) { benchObservePeers(b, 16384) }
