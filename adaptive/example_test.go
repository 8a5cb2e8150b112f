package adaptive_test

import (
	"fmt"
	"testing/fstest"
	"time"

	"github.com/herz-go/herz/adaptive"
)

// Derive on a network namespace whose conntrack entries expire after 5 s of
// silence (a NAT or conntrack expiry): keepalive idle and interval both drop to 1 s,
// and pooled connections are closed after 3.75 s of idle.
func ExampleDerive() {
	proc := fstest.MapFS{
		"net/ipv4/tcp_fin_timeout":                           {Data: []byte("60\n")},
		"net/ipv4/tcp_keepalive_time":                        {Data: []byte("7200\n")},
		"net/ipv4/tcp_keepalive_intvl":                       {Data: []byte("75\n")},
		"net/ipv4/tcp_keepalive_probes":                      {Data: []byte("9\n")},
		"net/ipv4/tcp_retries2":                              {Data: []byte("15\n")},
		"net/ipv4/tcp_syn_retries":                           {Data: []byte("6\n")},
		"net/netfilter/nf_conntrack_tcp_timeout_established": {Data: []byte("5\n")},
		"net/ipv4/ip_local_port_range":                       {Data: []byte("32768\t60999\n")},
	}
	k, err := adaptive.ReadKernel(proc) // in production: adaptive.ReadKernel(os.DirFS("/proc/sys"))
	if err != nil {
		fmt.Println(err)
	}
	fmt.Println(adaptive.Derive(k))
	// Output:
	// keepalive:       idle=1s interval=1s count=3 (silent peer dead after 4s)
	// user timeout:    8s
	// probe interval:  2.5s
	// idle timeout:    3.75s
	// connect timeout: 30s
	// NAT limit:       5s (conntrack established timeout)
	// kernel:          fin_timeout=60s keepalive=7200s/75s/9 retries2=15 syn_retries=6 conntrack_established=5s ports=32768-60999
}

// A Learner fed with the idle ages at which a server closed connections, and
// with the timeout another server advertised.
func ExampleLearner() {
	// This example feeds samples back to back; BurstWindow -1 keeps them
	// from being taken for one mass close (a server restart).
	l, err := adaptive.NewLearner(adaptive.LearnerConfig{BurstWindow: -1})
	if err != nil {
		panic(err)
	}
	// The dialer saw idle connections closed by the server (EOF with no
	// request in flight) after about 30 s, and one closed early by a restart.
	// With 11 samples the 0.1 quantile is the second lowest, so one early
	// close is ignored; with fewer samples the lowest wins (conservative).
	for _, s := range []int{30, 31, 30, 2, 30, 32, 30, 31, 30, 30, 31} {
		l.Observe("db.internal:5432", time.Duration(s)*time.Second)
	}
	// An HTTP server answered "Keep-Alive: timeout=5".
	l.ObserveHint("api.internal:80", 5*time.Second)

	for _, peer := range []string{"db.internal:5432", "api.internal:80", "new.internal:443"} {
		if d, ok := l.IdleDeadline(peer); ok {
			est, _ := l.Estimate(peer)
			fmt.Printf("%s: timeout ≈ %v, reuse idle conns for at most %v\n", peer, est, d)
		} else {
			fmt.Printf("%s: nothing learned, use Profile.IdleTimeout\n", peer)
		}
	}
	// Output:
	// db.internal:5432: timeout ≈ 30s, reuse idle conns for at most 22.5s
	// api.internal:80: timeout ≈ 5s, reuse idle conns for at most 3.75s
	// new.internal:443: nothing learned, use Profile.IdleTimeout
}
