package dialer_test

import (
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/herz-go/herz/dialer"
)

// A conn made by the application's own dial function (here a unix socket)
// is adopted: herz tracks it as one it dialed, and a pool lends and returns
// it as usual.
func ExampleDialer_Adopt() {
	dir, _ := os.MkdirTemp("", "adopt")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "api.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ln.Close()

	d, _ := dialer.New(dialer.Config{})
	defer d.Close()

	nc, err := net.Dial("unix", path) // the application's own dial
	if err != nil {
		fmt.Println(err)
		return
	}
	srv, _ := ln.Accept()
	defer srv.Close()
	c, err := d.Adopt(nc, "unix", "docker:80")
	if err != nil {
		fmt.Println(err) // a failed check names itself; nc is closed
		return
	}
	defer c.Close()
	fmt.Println(c.Ownership(), c.Peer())
	lease, _ := c.Lend()
	c.Return(lease)
	fmt.Println(c.Ownership(), c.Probe().State)
	// Output:
	// dialed docker:80
	// idle alive
}
