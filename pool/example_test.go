package pool_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"time"

	"github.com/herz-go/herz/pool"
)

// pongServer sends greeting (if any) on each new conn, then answers every
// line with "+PONG\r\n", like Redis answers PING.
func pongServer(greeting string) (addr string, stop func()) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if _, err := c.Write([]byte(greeting)); err != nil {
					return
				}
				r := bufio.NewReader(c)
				for {
					if _, err := r.ReadString('\n'); err != nil {
						return
					}
					if _, err := c.Write([]byte("+PONG\r\n")); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String(), func() { ln.Close(); <-done }
}

func Example() {
	addr, stop := pongServer("")
	defer stop()

	p, err := pool.New(context.Background(), pool.Config{
		Addr: addr,
		// A protocol ping for idle conns, run by the background health check.
		Heartbeat: func(ctx context.Context, c net.Conn) error {
			if _, err := c.Write([]byte("PING\r\n")); err != nil {
				return err
			}
			_, err := bufio.NewReader(c).ReadString('\n')
			return err
		},
	})
	if err != nil {
		panic(err)
	}
	defer p.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := p.Acquire(ctx) // a verified, probed, live conn
	if err != nil {
		panic(err)
	}
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		c.Destroy() // broken: never back into the pool
		panic(err)
	}
	reply, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		c.Destroy()
		panic(err)
	}
	c.Release() // idle again, for the next caller
	fmt.Printf("%q\n", reply)
	// Output: "+PONG\r\n"
}
