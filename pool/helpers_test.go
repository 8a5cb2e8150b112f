package pool_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/puddle/v2"

	"github.com/herz-go/herz/dialer"
	"github.com/herz-go/herz/internal/testenv"
	"github.com/herz-go/herz/pool"
)

// acquirer is what the tests need from a pool, so that the herz pool and
// bare puddle run the same scenario.
type acquirer interface {
	get(ctx context.Context) (conn net.Conn, put func(ok bool), err error)
}

type herzPool struct{ *pool.Pool }

func (h herzPool) get(ctx context.Context) (net.Conn, func(bool), error) {
	c, err := h.Acquire(ctx)
	if err != nil {
		return nil, nil, err
	}
	return c.NetConn(), func(ok bool) {
		if ok {
			c.Release()
		} else {
			c.Destroy()
		}
	}, nil
}

// barePool is jackc/puddle with the same constructor and no herz checks.
type barePool struct{ *puddle.Pool[net.Conn] }

func (b barePool) get(ctx context.Context) (net.Conn, func(bool), error) {
	res, err := b.Acquire(ctx)
	if err != nil {
		return nil, nil, err
	}
	return res.Value(), func(ok bool) {
		if ok {
			res.Release()
		} else {
			res.Destroy()
		}
	}, nil
}

// newBare returns a puddle pool dialing addr with dial, closed in Cleanup.
func newBare(t testing.TB, addr string, maxConns int32, dial func(ctx context.Context, network, addr string) (net.Conn, error)) barePool {
	t.Helper()
	p, err := puddle.NewPool(&puddle.Config[net.Conn]{
		Constructor: func(ctx context.Context) (net.Conn, error) { return dial(ctx, "tcp", addr) },
		Destructor:  func(c net.Conn) { _ = c.Close() },
		MaxSize:     maxConns,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return barePool{p}
}

// newHerz returns a herz pool for cfg, closed in Cleanup.
func newHerz(t testing.TB, cfg pool.Config) herzPool {
	t.Helper()
	p, err := pool.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return herzPool{p}
}

// newDialer returns a herz Dialer (the pool's private configuration) that
// counts connect attempts in attempts (when not nil), closed in Cleanup.
func newDialer(t testing.TB, attempts *atomic.Int64, tweak func(*dialer.Config)) *dialer.Dialer {
	t.Helper()
	cfg := pool.PrivateDialerConfig(nil)
	if attempts != nil {
		cfg.Control = func(string, string, syscall.RawConn) error { attempts.Add(1); return nil }
	}
	if tweak != nil {
		tweak(&cfg)
	}
	d, err := dialer.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

// redisPing sends PING on c and checks for PONG, within a second.
func redisPing(c net.Conn) error {
	_ = c.SetDeadline(time.Now().Add(time.Second))
	defer c.SetDeadline(time.Time{})
	r, err := testenv.RedisDo(c, "PING")
	if err != nil {
		return err
	}
	if r != "PONG" {
		return fmt.Errorf("PING answered %v", r)
	}
	return nil
}

// heartbeat is Config.Heartbeat for Redis: PING.
func heartbeat(_ context.Context, c net.Conn) error { return redisPing(c) }

// holdN acquires n conns at once (so that n distinct conns exist), runs fn
// on each, and gives them back (destroyed when fn failed). It returns the
// number of acquire errors and of fn errors.
func holdN(t testing.TB, a acquirer, n int, fn func(net.Conn) error) (acqErrs, useErrs int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	type held struct {
		c   net.Conn
		put func(bool)
	}
	var hs []held
	for range n {
		c, put, err := a.get(ctx)
		if err != nil {
			acqErrs++
			continue
		}
		hs = append(hs, held{c, put})
	}
	for _, h := range hs {
		err := fn(h.c)
		if err != nil {
			useErrs++
		}
		h.put(err == nil)
	}
	return acqErrs, useErrs
}

// setName names a Redis connection (CLIENT SETNAME).
func setName(name string) func(net.Conn) error {
	return func(c net.Conn) error {
		_ = c.SetDeadline(time.Now().Add(time.Second))
		defer c.SetDeadline(time.Time{})
		r, err := testenv.RedisDo(c, "CLIENT", "SETNAME", name)
		if err == nil && r != "OK" {
			err = fmt.Errorf("CLIENT SETNAME answered %v", r)
		}
		return err
	}
}

// waitFor polls cond every 10ms for at most d; it reports whether cond held.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// isCtxErr reports whether err is a context cancellation or deadline.
func isCtxErr(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// acquireN acquires n conns from p and holds them.
func acquireN(t testing.TB, p herzPool, n int) []*pool.Conn {
	t.Helper()
	var held []*pool.Conn
	for range n {
		c, err := p.Acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	return held
}
