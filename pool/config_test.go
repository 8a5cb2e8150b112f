package pool_test

import (
	"context"
	"math"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/herz-go/herz/pool"
)

func TestNewRejectsInvalidConfigNamingTheField(t *testing.T) {
	const addr = "127.0.0.1:1"
	cases := []struct {
		name string
		cfg  pool.Config
		want string
	}{
		{"no addr", pool.Config{}, "Config.Addr is required"},
		{"addr without port", pool.Config{Addr: "localhost"}, "Config.Addr must be host:port"},
		{"negative MaxConns", pool.Config{Addr: addr, MaxConns: -1}, "Config.MaxConns must be >= 0, got -1"},
		{"negative MinIdle", pool.Config{Addr: addr, MinIdle: -1}, "Config.MinIdle must be in [0, MaxConns=4], got -1"},
		{"MinIdle above MaxConns", pool.Config{Addr: addr, MaxConns: 2, MinIdle: 3}, "Config.MinIdle must be in [0, MaxConns=2], got 3"},
		{"jitter NaN", pool.Config{Addr: addr, LifetimeJitter: math.NaN()}, "Config.LifetimeJitter must be in [0.1,1), got NaN"},
		{"jitter +Inf", pool.Config{Addr: addr, LifetimeJitter: math.Inf(1)}, "Config.LifetimeJitter must be in [0.1,1), got +Inf"},
		{"jitter too small", pool.Config{Addr: addr, LifetimeJitter: 0.01}, "Config.LifetimeJitter must be in [0.1,1), got 0.01"},
		{"jitter 1", pool.Config{Addr: addr, LifetimeJitter: 1}, "Config.LifetimeJitter must be in [0.1,1), got 1"},
		{"Heartbeat without health check", pool.Config{Addr: addr, HealthCheckPeriod: -1, Heartbeat: func(context.Context, net.Conn) error { return nil }}, "Config.Heartbeat is run by the health check, which Config.HealthCheckPeriod=-1ns disables"},
		{"negative HeartbeatTimeout", pool.Config{Addr: addr, HeartbeatTimeout: -time.Second}, "Config.HeartbeatTimeout must be >= 0, got -1s"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			if cfg.MaxConns == 0 && strings.Contains(tc.want, "MaxConns=4") {
				cfg.MaxConns = 4
			}
			p, err := pool.New(context.Background(), cfg)
			if err == nil {
				p.Close()
				t.Fatalf("New(%+v) = nil error, want %q", cfg, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "herz/pool: ") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New error = %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestNewAcceptsZeroConfigAndNegativeMeansNoLimit(t *testing.T) {
	for _, cfg := range []pool.Config{
		{Addr: "127.0.0.1:1"},
		{Addr: "127.0.0.1:1", MaxIdleTime: -1, MaxLifetime: -1, HealthCheckPeriod: -1, AcquireTimeout: -1},
	} {
		p, err := pool.New(context.Background(), cfg)
		if err != nil {
			t.Fatalf("New(%+v): %v", cfg, err)
		}
		if s := p.Stat(); s.MaxConns < 4 || s.TotalConns != 0 {
			t.Errorf("Stat of a new pool = %v", s)
		}
		p.Close()
		if _, err := p.Acquire(context.Background()); err != pool.ErrClosed {
			t.Errorf("Acquire after Close = %v, want ErrClosed", err)
		}
	}
}
