package dialer_test

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/herz-go/herz/dialer"
)

func ExampleDialer() {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() { c, _ := ln.Accept(); accepted <- c }()

	d, err := dialer.New(dialer.Config{}) // zero value: production defaults
	if err != nil {
		panic(err)
	}
	defer d.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	nc, err := d.DialContext(ctx, "tcp", ln.Addr().String())
	if err != nil {
		panic(err)
	}
	c := nc.(*dialer.Conn)
	server := <-accepted
	fmt.Println("healthy conn:", c.Probe())

	server.Close() // the peer sends FIN
	for i := 0; i < 100 && !c.Probe().Dead(); i++ {
		time.Sleep(5 * time.Millisecond)
	}
	fmt.Println("after the peer closed:", c.Probe())
	c.Close()
	// Output:
	// healthy conn: alive
	// after the peer closed: peer_closed
}
