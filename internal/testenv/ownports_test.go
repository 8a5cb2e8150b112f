package testenv_test

import (
	"net"
	"runtime"
	"testing"

	"github.com/herz-go/herz/internal/testenv"
)

func TestOwnTCPPortsListsThisProcessSocketsOnly(t *testing.T) {
	if runtime.GOOS != "linux" {
		testenv.SkipOrFail(t, "herz/testenv: OwnTCPPorts reads Linux /proc, this is %s", runtime.GOOS)
	}
	e := testenv.NewEchoServer(t)
	c, err := net.Dial("tcp", e.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ln6, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		testenv.SkipOrFail(t, "herz/testenv: no IPv6 loopback: %v", err)
	}
	defer ln6.Close()
	ports, err := testenv.OwnTCPPorts()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []net.Addr{c.LocalAddr(), ln6.Addr()} {
		if p := a.(*net.TCPAddr).Port; !ports[p] {
			t.Errorf("port %d of %v missing from %v", p, a, ports)
		}
	}
	if ports[22] {
		t.Error("port 22 (not ours) listed")
	}
}
