package dialer_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/herz-go/herz/dialer"
)

// The peer table stays within its bound under a stream of new peers, drops
// the least recently seen ones and keeps a peer that is seen all along.
func TestPeerHealthIsBoundedAndKeepsTheRecentlySeen(t *testing.T) {
	d := newDialer(t, dialer.Config{DisableEvictor: true})
	const hot = "127.0.0.1:1"
	cold := func(i int) string { return fmt.Sprintf("127.0.0.2:%d", 1000+i) }
	n := dialer.MaxPeers + dialer.MaxPeers/2
	for i := range n {
		d.Observe(cold(i), time.Millisecond, nil)
		if i%64 == 0 {
			for range 16 { // a touch: every 16th sample refreshes the LRU order
				d.Observe(hot, time.Millisecond, nil)
			}
		}
		if p := d.Peers(); p > dialer.MaxPeers {
			t.Fatalf("after %d peers the table holds %d > %d", i+2, p, dialer.MaxPeers)
		}
	}
	if d.Peers() != dialer.MaxPeers {
		t.Fatalf("table holds %d peers, want it full at %d", d.Peers(), dialer.MaxPeers)
	}
	if h, ok := d.PeerHealth(hot); !ok || h.Samples == 0 {
		t.Fatalf("the peer seen all along was dropped: %+v %v", h, ok)
	}
	if _, ok := d.PeerHealth(cold(0)); ok {
		t.Fatal("the least recently seen peer is still held")
	}
	if _, ok := d.PeerHealth(cold(n - 1)); !ok {
		t.Fatal("the most recent peer was dropped")
	}
}
