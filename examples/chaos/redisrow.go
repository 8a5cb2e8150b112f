package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/jackc/puddle/v2"

	"github.com/herz-go/herz/pool"
)

const (
	redisAddr     = "127.0.0.1:6379"
	redisConns    = 4
	redisCommands = 25 // per worker, redisConns workers
)

// redisRow: a plain puddle pool and herz's pool (puddle underneath too) hold
// idle connections to the local Redis while its idle timeout (CONFIG SET
// timeout 1) closes them (2.5s); then both run the same PINGs. The
// server's setting is restored before the PINGs.
func redisRow(w io.Writer, o options) row {
	const name = "Redis raw pool: server idle timeout"
	switch {
	case o.short:
		return row{name: name, skipped: "short mode"}
	case !reachable(redisAddr):
		return row{name: name, skipped: "nothing listens on " + redisAddr}
	}
	starting(w, name)
	r, err := runRedis()
	if err != nil {
		fmt.Fprintln(w, "could not run")
		return row{name: name, skipped: "could not run: " + err.Error()}
	}
	r.name = name
	done(w, r, "errors")
	return r
}

func runRedis() (row, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	old, err := redisAdmin("CONFIG", "GET", "timeout")
	if err != nil {
		return row{}, err
	}
	prev := "0"
	if f := strings.Fields(old); len(f) == 2 {
		prev = f[1]
	}

	cd := &countingDial{d: net.Dialer{Timeout: 5 * time.Second}}
	plain, err := puddle.NewPool(&puddle.Config[net.Conn]{
		Constructor: func(ctx context.Context) (net.Conn, error) { return cd.DialContext(ctx, "tcp", redisAddr) },
		Destructor:  func(c net.Conn) { c.Close() },
		MaxSize:     redisConns,
	})
	if err != nil {
		return row{}, err
	}
	defer plain.Close()
	hz, err := pool.New(ctx, pool.Config{Addr: redisAddr, MaxConns: redisConns})
	if err != nil {
		return row{}, err
	}
	defer hz.Close()

	type handle struct {
		conn    net.Conn
		release func(ok bool)
	}
	acquire := []func() (handle, error){
		func() (handle, error) {
			res, err := plain.Acquire(ctx)
			if err != nil {
				return handle{}, err
			}
			return handle{res.Value(), func(ok bool) {
				if ok {
					res.Release()
				} else {
					res.Destroy()
				}
			}}, nil
		},
		func() (handle, error) {
			c, err := hz.Acquire(ctx)
			if err != nil {
				return handle{}, err
			}
			return handle{c.NetConn(), func(ok bool) {
				if ok {
					c.Release()
				} else {
					c.Destroy()
				}
			}}, nil
		},
	}
	// Warm both pools up to redisConns connections each, then let them idle.
	for _, acq := range acquire {
		var hs []handle
		for range redisConns {
			h, err := acq()
			if err != nil {
				return row{}, err
			}
			hs = append(hs, h)
		}
		for _, h := range hs {
			h.release(true)
		}
	}
	// Each admin command on a connection of its own: one kept open would be
	// closed by the very timeout set here.
	restored := false
	restore := func() error {
		if restored {
			return nil
		}
		_, err := redisAdmin("CONFIG", "SET", "timeout", prev)
		restored = err == nil
		return err
	}
	defer restore()
	if _, err := redisAdmin("CONFIG", "SET", "timeout", "1"); err != nil {
		return row{}, err
	}
	time.Sleep(2500 * time.Millisecond) // Redis checks timeouts about once a second
	if err := restore(); err != nil {
		return row{}, fmt.Errorf("restore timeout %s: %w", prev, err)
	}

	r := row{std: &tally{dups: -1, conns: func() int { return int(cd.n.Load()) }},
		hz: &tally{dups: -1, herzSide: true, conns: func() int { return int(hz.Stat().Dials) }}}
	r.std.before, r.hz.before = "idle connections closed by Redis before the run", "idle connections closed by Redis before the run"
	for i, t := range []*tally{r.std, r.hz} {
		t.load(redisConns, redisCommands, func() error {
			h, err := acquire[i]()
			if err != nil {
				return err
			}
			_ = h.conn.SetDeadline(time.Now().Add(2 * time.Second))
			reply, err := redisDo(h.conn, bufio.NewReader(h.conn), "PING")
			if err == nil && reply != "PONG" {
				err = fmt.Errorf("PING answered %q", reply)
			}
			_ = h.conn.SetDeadline(time.Time{})
			h.release(err == nil)
			return err
		})
	}
	r.std.newConns = cd.n.Load()
	st := hz.Stat()
	r.hz.newConns, r.hz.evicts = st.Dials, st.Evictions
	return r, nil
}

// redisAdmin runs one command on a connection of its own.
func redisAdmin(args ...string) (string, error) {
	c, err := net.DialTimeout("tcp", redisAddr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	return redisDo(c, bufio.NewReader(c), args...)
}

// redisDo sends one command and reads a simple, integer or bulk reply (an
// array reply's elements joined by spaces): all this demo needs.
func redisDo(c net.Conn, r *bufio.Reader, args ...string) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := io.WriteString(c, b.String()); err != nil {
		return "", err
	}
	return redisReply(r)
}

func redisReply(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return "", fmt.Errorf("redis: empty reply")
	}
	switch line[0] {
	case '+', ':':
		return line[1:], nil
	case '-':
		return "", fmt.Errorf("redis: %s", line[1:])
	case '$':
		var n int
		if _, err := fmt.Sscan(line[1:], &n); err != nil || n < 0 || n > 1<<20 {
			return "", err
		}
		buf := make([]byte, n+2)
		_, err := io.ReadFull(r, buf)
		return string(buf[:n]), err
	case '*':
		var n int
		if _, err := fmt.Sscan(line[1:], &n); err != nil || n < 0 || n > 1024 {
			return "", err
		}
		parts := make([]string, n)
		for i := range parts {
			if parts[i], err = redisReply(r); err != nil {
				return "", err
			}
		}
		return strings.Join(parts, " "), nil
	}
	return "", fmt.Errorf("redis: unknown reply %q", line)
}
