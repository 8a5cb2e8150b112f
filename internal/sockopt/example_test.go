//go:build linux

package sockopt_test

import (
	"fmt"
	"net"
	"time"

	"github.com/herz-go/herz/internal/sockopt"
)

// A Prober tells a quiet live connection from one whose peer sent data,
// closed it (FIN) or reset it, without reading anything.
func ExampleProber() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	server, err := ln.Accept()
	if err != nil {
		fmt.Println(err)
		return
	}
	raw, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := sockopt.Verify(raw); err != nil {
		fmt.Println("verify:", err)
		return
	}
	p := sockopt.NewProber(raw)
	fmt.Println("quiet:", p.Probe())

	server.Write([]byte("?"))
	waitFor(p, sockopt.DataPending)
	fmt.Println("after a byte:", p.Probe())

	c.Read(make([]byte, 1)) // consume it
	server.Close()
	waitFor(p, sockopt.PeerClosed)
	fmt.Println("after FIN:", p.Probe())
	// Output:
	// quiet: alive
	// after a byte: data_pending
	// after FIN: peer_closed
}

// waitFor lets a segment cross loopback: at most 1s.
func waitFor(p *sockopt.Prober, want sockopt.State) {
	for range 500 {
		if p.Probe().State == want {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
}
