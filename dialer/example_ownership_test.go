package dialer_test

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/herz-go/herz/dialer"
)

// A pool that dials through herz tells it who owns each connection: Lend
// when a caller gets it, Return when it comes back idle, CheckIdle before
// handing an idle one out again, CloseFor when herz's answer is no.
func ExampleConn_Lend() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ln.Close()
	d, err := dialer.New(dialer.Config{DisableEvictor: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer d.Close()

	nc, err := d.DialContext(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		fmt.Println(err)
		return
	}
	c := nc.(*dialer.Conn)
	server, err := ln.Accept()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("dialed:", c.Ownership()) // herz never touches it until a pool takes it

	lease, _ := c.Lend() // handed to a caller
	fmt.Println("lent:", c.Ownership())
	c.Return(lease) // back in the pool
	fmt.Println("returned:", c.Ownership())
	fmt.Println("reusable:", c.CheckIdle() == dialer.ReasonNone)

	server.Close() // the server idle-closes it
	for i := 0; i < 500 && c.CheckIdle() == dialer.ReasonNone; i++ {
		time.Sleep(2 * time.Millisecond) // the FIN crosses loopback
	}
	if r := c.CheckIdle(); r != dialer.ReasonNone {
		fmt.Println("not reusable:", r)
		c.CloseFor(r) // counted in Stats().Evictions and the herz.evictions metric
	}
	fmt.Println("evictions:", d.Stats().Evictions)
	// Output:
	// dialed: dialed
	// lent: lent
	// returned: idle
	// reusable: true
	// not reusable: probe_eof
	// evictions: map[probe_eof:1]
}
