package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/herz-go/herz/pool"
)

// Client sends Redis commands over a pool.
type Client struct{ p *pool.Pool }

// Do sends one command and returns its reply: a string, an int64, nil, a
// []any, or an error reply as error.
func (cl *Client) Do(ctx context.Context, args ...string) (any, error) {
	c, err := cl.p.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	reply, err := exchange(ctx, c.NetConn(), args)
	var serverErr replyError
	if err != nil && !errors.As(err, &serverErr) {
		c.Destroy() // the conn is in an unknown state: never back into the pool
		return nil, err
	}
	c.Release()
	return reply, err
}

// replyError is a Redis error reply ("-ERR ..."); the conn stays usable.
type replyError string

func (e replyError) Error() string { return string(e) }

// exchange writes args as a RESP array and reads one reply, within ctx.
func exchange(ctx context.Context, c net.Conn, args []string) (any, error) {
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
		defer c.SetDeadline(time.Time{})
	}
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := io.WriteString(c, b.String()); err != nil {
		return nil, err
	}
	return parse(bufio.NewReader(c))
}

// parse reads one RESP2 value.
func parse(r *bufio.Reader) (any, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return nil, errors.New("redis: empty reply line")
	}
	switch line[0] {
	case '+':
		return line[1:], nil
	case '-':
		return nil, replyError(line[1:])
	case ':':
		return strconv.ParseInt(line[1:], 10, 64)
	case '$', '*':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return nil, err // nil bulk string or array
		}
		if n > 512<<20 { // Redis' own proto-max-bulk-len
			return nil, fmt.Errorf("redis: reply of %d, too long", n)
		}
		if line[0] == '$' {
			buf := make([]byte, n+2)
			_, err := io.ReadFull(r, buf)
			return string(buf[:n]), err
		}
		items := make([]any, n)
		for i := range items {
			if items[i], err = parse(r); err != nil {
				return nil, err
			}
		}
		return items, nil
	}
	return nil, fmt.Errorf("redis: unknown reply %q", line)
}

func main() {
	addr := flag.String("addr", "127.0.0.1:6379", "Redis address")
	flag.Parse()
	if err := run(os.Stdout, *addr); err != nil {
		log.Fatal(err)
	}
}

func run(w io.Writer, addr string) error {
	p, err := pool.New(context.Background(), pool.Config{
		Addr:    addr,
		MinIdle: 2, // kept warm in the background
		Heartbeat: func(ctx context.Context, c net.Conn) error {
			r, err := exchange(ctx, c, []string{"PING"})
			if err == nil && r != "PONG" {
				err = fmt.Errorf("PING answered %v", r)
			}
			return err
		},
	})
	if err != nil {
		return err
	}
	defer p.Close()
	cl := &Client{p: p}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	key := fmt.Sprintf("herz:example:%d", time.Now().UnixNano())
	for _, cmd := range [][]string{
		{"PING"},
		{"SET", key, "1", "EX", "60"},
		{"INCR", key},
		{"GET", key},
		{"DEL", key},
	} {
		reply, err := cl.Do(ctx, cmd...)
		if err != nil {
			return fmt.Errorf("%s: %w", strings.Join(cmd, " "), err)
		}
		fmt.Fprintf(w, "%-28s -> %v\n", strings.Join(cmd, " "), reply)
	}
	fmt.Fprintln(w, p.Stat())
	return nil
}
