package testenv

import (
	"io"
	"net"
	"sync"
	"testing"
)

// EchoServer is a TCP server on 127.0.0.1 that writes back every byte it
// reads, for tests of raw connections (dialer, pool) and of [Proxy]. Create
// it with [NewEchoServer]; it closes in t.Cleanup. Safe for concurrent use.
type EchoServer struct {
	ln net.Listener
	wg sync.WaitGroup // accept loop and connection goroutines

	mu       sync.Mutex // guards the fields below
	conns    map[net.Conn]struct{}
	accepted int
	closed   bool
}

// NewEchoServer starts an echo server on a fresh 127.0.0.1 port.
func NewEchoServer(t testing.TB) *EchoServer {
	t.Helper()
	ln, err := listenTCP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &EchoServer{ln: ln, conns: make(map[net.Conn]struct{})}
	e.wg.Go(e.accept)
	t.Cleanup(e.Close)
	return e
}

// Addr returns the server's "127.0.0.1:port".
func (e *EchoServer) Addr() string { return e.ln.Addr().String() }

// Accepted returns how many connections the server accepted.
func (e *EchoServer) Accepted() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.accepted
}

// Close stops the server, closes its connections (FIN) and waits for its
// goroutines. Closing twice does nothing.
func (e *EchoServer) Close() {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return
	}
	e.closed = true
	_ = e.ln.Close()
	for c := range e.conns {
		_ = c.Close()
	}
	e.mu.Unlock()
	e.wg.Wait()
}

func (e *EchoServer) accept() {
	for {
		c, err := e.ln.Accept()
		if err != nil {
			return
		}
		e.mu.Lock()
		if e.closed {
			e.mu.Unlock()
			_ = c.Close()
			return
		}
		e.accepted++
		e.conns[c] = struct{}{}
		e.wg.Add(1)
		e.mu.Unlock()
		go func() {
			defer e.wg.Done()
			_, _ = io.Copy(c, c)
			_ = c.Close()
			e.mu.Lock()
			delete(e.conns, c)
			e.mu.Unlock()
		}()
	}
}
