package keepalive_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/herz-go/herz/keepalive"
)

// Params for a NAT box whose conntrack entries expire after 5 s: both the idle
// time and the interval must stay below it.
func ExampleParams_KeepAliveConfig() {
	p := keepalive.Params{Idle: time.Second, Interval: 1500 * time.Millisecond, Count: 3}
	if err := p.Validate(); err != nil {
		panic(err)
	}
	d := net.Dialer{KeepAliveConfig: p.KeepAliveConfig()}
	fmt.Printf("%+v\n", d.KeepAliveConfig)
	fmt.Println(p.DeadAfter())
	// Output:
	// {Enable:true Idle:1s Interval:2s Count:3}
	// 7s
}

// A heartbeat whose peer never answers is declared dead after three pings.
func ExampleHeartbeat() {
	errNoPong := errors.New("no pong")
	h, err := keepalive.NewHeartbeat(keepalive.HeartbeatConfig{
		Interval: time.Millisecond,
		Misses:   3,
		OnPing:   func(_ time.Duration, err error) { fmt.Println("ping:", err) },
	}, func(ctx context.Context) error {
		return errNoPong // a real ping writes to the connection and waits for the answer or ctx
	})
	if err != nil {
		panic(err)
	}
	err = h.Run(context.Background())
	fmt.Println(errors.Is(err, keepalive.ErrDead), err)
	// Output:
	// ping: no pong
	// ping: no pong
	// ping: no pong
	// true herz/keepalive: peer declared dead after 3 consecutive failed pings: no pong
}
