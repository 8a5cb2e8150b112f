package faultlab

import (
	"io"
	"net"
	"sync"
)

// EchoServer is a TCP server on 127.0.0.1 that writes back every byte it
// reads, a peer for raw connections (a pool of net.Conns) and for a [Proxy].
// Create it with [NewEchoServer] and end it with [EchoServer.Close]. Safe for
// concurrent use.
type EchoServer struct {
	ln net.Listener
	wg sync.WaitGroup // accept loop and connection goroutines

	mu       sync.Mutex // guards the fields below
	conns    map[net.Conn]struct{}
	accepted int
	closed   bool
}

// NewEchoServer starts an echo server on a fresh 127.0.0.1 port.
func NewEchoServer() (*EchoServer, error) {
	ln, err := listenTCP("127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	e := &EchoServer{ln: ln, conns: make(map[net.Conn]struct{})}
	e.wg.Go(e.accept)
	return e, nil
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
// goroutines. Closing twice does nothing. It always returns nil.
func (e *EchoServer) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	_ = e.ln.Close()
	for c := range e.conns {
		_ = c.Close()
	}
	e.mu.Unlock()
	e.wg.Wait()
	return nil
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
