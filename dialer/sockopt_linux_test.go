package dialer_test

import (
	"syscall"
	"testing"
	"time"

	"github.com/herz-go/herz/dialer"
	"github.com/herz-go/herz/internal/sockopt"
	"github.com/herz-go/herz/keepalive"
)

func TestSocketOptionsApplied(t *testing.T) {
	if !sockopt.Supported {
		t.Skip("Linux-only")
	}
	srv := newServer(t)
	d := newDialer(t, dialer.Config{
		Keepalive:      keepalive.Params{Idle: 7 * time.Second, Interval: 3 * time.Second, Count: 4},
		UserTimeout:    2500 * time.Millisecond,
		DisableEvictor: true,
	})
	c := dial(t, d, srv.addr())
	raw, _ := c.SyscallConn()
	// UserTimeout bounds the handshake only; once connected, the watchdog
	// judges the conn, not the kernel (which would also cut a live peer
	// keeping its window closed).
	if ut, err := sockopt.UserTimeout(raw); err != nil || ut != 0 {
		t.Fatalf("TCP_USER_TIMEOUT = %v, %v; want 0 (the kernel's default) once connected", ut, err)
	}
	var idle, intvl, cnt int
	raw.Control(func(fd uintptr) {
		idle, _ = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE)
		intvl, _ = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL)
		cnt, _ = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_KEEPCNT)
	})
	if idle != 7 || intvl != 3 || cnt != 4 {
		t.Fatalf("keepalive idle/intvl/cnt = %d/%d/%d, want 7/3/4", idle, intvl, cnt)
	}
	// With nothing configured the adaptive profile's values are used.
	d2 := newDialer(t, dialer.Config{DisableEvictor: true})
	c2 := dial(t, d2, srv.addr())
	raw2, _ := c2.SyscallConn()
	p := d2.Profile()
	raw2.Control(func(fd uintptr) {
		idle, _ = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE)
		intvl, _ = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL)
	})
	if time.Duration(idle)*time.Second != p.Keepalive.KeepAliveConfig().Idle || time.Duration(intvl)*time.Second != p.Keepalive.KeepAliveConfig().Interval {
		t.Fatalf("keepalive idle/intvl = %ds/%ds, want the profile's %v", idle, intvl, p.Keepalive)
	}
	if ut, _ := sockopt.UserTimeout(raw2); ut != 0 {
		t.Fatalf("TCP_USER_TIMEOUT = %v, want 0 once connected", ut)
	}
}
