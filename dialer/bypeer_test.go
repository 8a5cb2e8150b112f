package dialer_test

import (
	"math/rand/v2"
	"net"
	"testing"

	"github.com/herz-go/herz/dialer"
)

// TestPeerIndexFollowsDialsAndCloses dials conns to several peers and closes
// them in random order: the per-peer index the mass-close check reads must
// hold exactly the open conns at every step, and forget a peer with none.
func TestPeerIndexFollowsDialsAndCloses(t *testing.T) {
	d := newDialer(t, dialer.Config{})
	var conns []net.Conn
	for range 3 {
		s := newServer(t)
		for range 5 {
			conns = append(conns, dial(t, d, s.addr()))
		}
	}
	if !d.PeerIndexOK() {
		t.Fatal("per-peer index does not match the tracked conns after dialing")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	rng.Shuffle(len(conns), func(i, j int) { conns[i], conns[j] = conns[j], conns[i] })
	for i, c := range conns {
		c.Close()
		if !d.PeerIndexOK() {
			t.Fatalf("per-peer index does not match the tracked conns after %d closes", i+1)
		}
	}
	if n := d.Tracked(); n != 0 {
		t.Fatalf("%d conns still tracked after closing all", n)
	}
}
