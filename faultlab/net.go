package faultlab

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// resetConn closes c with a TCP RST instead of a FIN: SO_LINGER 0, then
// Close. Conns that are not TCP underneath are closed normally.
func resetConn(c net.Conn) {
	if tc := tcpConnOf(c); tc != nil {
		_ = tc.SetLinger(0)
		_ = tc.Close()
		return
	}
	_ = c.Close()
}

// tcpConnOf digs the *net.TCPConn out of c through *tls.Conn and any wrapper
// with a NetConn method; nil if there is none.
func tcpConnOf(c net.Conn) *net.TCPConn {
	for range 8 { // bounded: wrappers never nest this deep
		switch v := c.(type) {
		case *net.TCPConn:
			return v
		case *tls.Conn:
			c = v.NetConn()
		case interface{ NetConn() net.Conn }:
			c = v.NetConn()
		default:
			return nil
		}
	}
	return nil
}

// relistenFor bounds how long [listenTCP] retries a port that is still busy.
const relistenFor = 2 * time.Second

// listenTCP listens on addr ("127.0.0.1:0" for a fresh port). Re-binding a
// port that was just closed is retried for up to [relistenFor] while the
// kernel answers EADDRINUSE (a dial elsewhere may briefly hold the port).
func listenTCP(addr string) (*net.TCPListener, error) {
	deadline := time.Now().Add(relistenFor)
	for {
		ln, err := net.Listen("tcp", addr)
		if err == nil {
			return ln.(*net.TCPListener), nil
		}
		if !errors.Is(err, syscall.EADDRINUSE) || time.Now().After(deadline) {
			return nil, fmt.Errorf("herz/faultlab: listen on %s: %w", addr, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// sbinDirs are searched after $PATH: iptables and ip live in /usr/sbin,
// which is often missing from a non-login PATH.
var sbinDirs = [...]string{"/usr/sbin", "/sbin", "/usr/local/sbin"}

// LookCommand returns the absolute path of the named command, looked up in
// $PATH and then in /usr/sbin, /sbin and /usr/local/sbin (where ip and
// iptables live, often missing from a non-login $PATH).
func LookCommand(name string) (string, error) {
	if path, err := exec.LookPath(name); err == nil {
		return path, nil
	}
	for _, dir := range sbinDirs {
		path := filepath.Join(dir, name)
		if fi, err := os.Stat(path); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return path, nil
		}
	}
	return "", fmt.Errorf("herz/faultlab: command %q not found in $PATH or %v", name, sbinDirs)
}

// portOf returns the port of a "127.0.0.1:port" address this package made.
func portOf(addr string) int {
	_, p, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(p)
	return port
}
