package adaptive_test

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/herz-go/herz/adaptive"
	"github.com/herz-go/herz/keepalive"
)

const s = time.Second

func kernelWith(f func(k *adaptive.Kernel)) adaptive.Kernel {
	k := adaptive.DefaultKernel()
	f(&k)
	return k
}

func TestDerive(t *testing.T) {
	ka := func(idle, interval time.Duration, count int) keepalive.Params {
		return keepalive.Params{Idle: idle, Interval: interval, Count: count}
	}
	tests := []struct {
		name string
		k    adaptive.Kernel
		want adaptive.Profile // Kernel is filled in from k
	}{
		{"Linux defaults, no conntrack", adaptive.DefaultKernel(), adaptive.Profile{
			Keepalive: ka(30*s, 10*s, 3), UserTimeout: 8 * s, ProbeInterval: 45 * s, IdleTimeout: 90 * s,
			ConnectTimeout: 30 * s, NATLimit: 240 * s}},
		{"conntrack 5 days: load-balancer limit wins", kernelWith(func(k *adaptive.Kernel) { k.ConntrackEstablished = 432000 * s }), adaptive.Profile{
			Keepalive: ka(30*s, 10*s, 3), UserTimeout: 8 * s, ProbeInterval: 45 * s, IdleTimeout: 90 * s,
			ConnectTimeout: 30 * s, NATLimit: 240 * s}},
		{"NAT box, conntrack 5s", kernelWith(func(k *adaptive.Kernel) { k.ConntrackEstablished = 5 * s }), adaptive.Profile{
			Keepalive: ka(1*s, 1*s, 3), UserTimeout: 8 * s, ProbeInterval: 2500 * time.Millisecond, IdleTimeout: 3750 * time.Millisecond,
			ConnectTimeout: 30 * s, NATLimit: 5 * s}},
		{"conntrack 60s", kernelWith(func(k *adaptive.Kernel) { k.ConntrackEstablished = 60 * s }), adaptive.Profile{
			Keepalive: ka(15*s, 5*s, 3), UserTimeout: 8 * s, ProbeInterval: 30 * s, IdleTimeout: 45 * s,
			ConnectTimeout: 30 * s, NATLimit: 60 * s}},
		{"conntrack 10s", kernelWith(func(k *adaptive.Kernel) { k.ConntrackEstablished = 10 * s }), adaptive.Profile{
			Keepalive: ka(2*s, 1*s, 3), UserTimeout: 8 * s, ProbeInterval: 5 * s, IdleTimeout: 7500 * time.Millisecond,
			ConnectTimeout: 30 * s, NATLimit: 10 * s}},
		{"conntrack 1s: floors win", kernelWith(func(k *adaptive.Kernel) { k.ConntrackEstablished = 1 * s }), adaptive.Profile{
			Keepalive: ka(1*s, 1*s, 3), UserTimeout: 8 * s, ProbeInterval: 1 * s, IdleTimeout: 1 * s,
			ConnectTimeout: 30 * s, NATLimit: 1 * s}},
		{"operator lowered keepalive: herz follows", kernelWith(func(k *adaptive.Kernel) {
			k.KeepaliveTime, k.KeepaliveIntvl, k.KeepaliveProbes = 10*s, 2*s, 2
		}), adaptive.Profile{
			Keepalive: ka(10*s, 2*s, 2), UserTimeout: 8 * s, ProbeInterval: 45 * s, IdleTimeout: 90 * s,
			ConnectTimeout: 30 * s, NATLimit: 240 * s}},
		{"short fin timeout", kernelWith(func(k *adaptive.Kernel) { k.FinTimeout = 10 * s }), adaptive.Profile{
			Keepalive: ka(30*s, 10*s, 3), UserTimeout: 8 * s, ProbeInterval: 7500 * time.Millisecond, IdleTimeout: 90 * s,
			ConnectTimeout: 30 * s, NATLimit: 240 * s}},
		{"fin timeout 1s: probe floor", kernelWith(func(k *adaptive.Kernel) { k.FinTimeout = 1 * s }), adaptive.Profile{
			Keepalive: ka(30*s, 10*s, 3), UserTimeout: 8 * s, ProbeInterval: 1 * s, IdleTimeout: 90 * s,
			ConnectTimeout: 30 * s, NATLimit: 240 * s}},
		{"long fin timeout: probe cap", kernelWith(func(k *adaptive.Kernel) { k.FinTimeout = 3600 * s }), adaptive.Profile{
			Keepalive: ka(30*s, 10*s, 3), UserTimeout: 8 * s, ProbeInterval: 60 * s, IdleTimeout: 90 * s,
			ConnectTimeout: 30 * s, NATLimit: 240 * s}},
		{"few retries and SYN retries: kernel gives up sooner", kernelWith(func(k *adaptive.Kernel) { k.Retries2, k.SynRetries = 3, 2 }), adaptive.Profile{
			Keepalive: ka(30*s, 10*s, 3), UserTimeout: 3 * s, ProbeInterval: 45 * s, IdleTimeout: 90 * s,
			ConnectTimeout: 7 * s, NATLimit: 240 * s}},
		{"retries2 1 and syn_retries 1: floors", kernelWith(func(k *adaptive.Kernel) { k.Retries2, k.SynRetries = 1, 1 }), adaptive.Profile{
			Keepalive: ka(30*s, 10*s, 3), UserTimeout: 1 * s, ProbeInterval: 45 * s, IdleTimeout: 90 * s,
			ConnectTimeout: 3 * s, NATLimit: 240 * s}},
		{"zero Kernel: defaults", adaptive.Kernel{}, adaptive.Profile{
			Keepalive: ka(30*s, 10*s, 3), UserTimeout: 8 * s, ProbeInterval: 45 * s, IdleTimeout: 90 * s,
			ConnectTimeout: 30 * s, NATLimit: 240 * s}},
		{"negative Kernel: defaults", adaptive.Kernel{FinTimeout: -1, KeepaliveTime: -s, KeepaliveIntvl: -s, KeepaliveProbes: -1,
			Retries2: -1, SynRetries: -1, ConntrackEstablished: -5 * s, PortRangeLow: -1, PortRangeHigh: -1}, adaptive.Profile{
			Keepalive: ka(30*s, 10*s, 3), UserTimeout: 8 * s, ProbeInterval: 45 * s, IdleTimeout: 90 * s,
			ConnectTimeout: 30 * s, NATLimit: 240 * s}},
		{"huge values", adaptive.Kernel{FinTimeout: math.MaxInt64, KeepaliveTime: math.MaxInt64, KeepaliveIntvl: math.MaxInt64,
			KeepaliveProbes: math.MaxInt, Retries2: math.MaxInt, SynRetries: math.MaxInt, ConntrackEstablished: math.MaxInt64,
			PortRangeLow: math.MaxInt, PortRangeHigh: math.MaxInt}, adaptive.Profile{
			Keepalive: ka(30*s, 10*s, 3), UserTimeout: 8 * s, ProbeInterval: 60 * s, IdleTimeout: 90 * s,
			ConnectTimeout: 30 * s, NATLimit: 240 * s}},
		{"sub-second values", adaptive.Kernel{FinTimeout: 1, KeepaliveTime: 1, KeepaliveIntvl: 1, KeepaliveProbes: 1,
			Retries2: 1, SynRetries: 1, ConntrackEstablished: 1}, adaptive.Profile{
			Keepalive: ka(1*s, 1*s, 1), UserTimeout: 1 * s, ProbeInterval: 1 * s, IdleTimeout: 1 * s,
			ConnectTimeout: 3 * s, NATLimit: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.want.Kernel = tt.k
			got := adaptive.Derive(tt.k)
			if got != tt.want {
				t.Fatalf("Derive() =\n%v\nwant\n%v", got, tt.want)
			}
			checkProfile(t, got)
		})
	}
}

func TestDeriveOfDefaultKernelKeepsTheKeepaliveDefault(t *testing.T) {
	if got, want := adaptive.Derive(adaptive.DefaultKernel()).Keepalive, keepalive.Default(); got != want {
		t.Fatalf("Derive(DefaultKernel()).Keepalive = %v, keepalive.Default() = %v", got, want)
	}
}

// checkProfile asserts the properties every derived Profile has.
func checkProfile(t testing.TB, p adaptive.Profile) {
	t.Helper()
	for name, d := range map[string]time.Duration{
		"Keepalive.Idle": p.Keepalive.Idle, "Keepalive.Interval": p.Keepalive.Interval, "UserTimeout": p.UserTimeout,
		"ProbeInterval": p.ProbeInterval, "IdleTimeout": p.IdleTimeout, "ConnectTimeout": p.ConnectTimeout, "NATLimit": p.NATLimit,
	} {
		if d <= 0 {
			t.Fatalf("%s = %v, want > 0 (kernel %+v)", name, d, p.Kernel)
		}
	}
	ka := p.Keepalive
	if err := ka.Validate(); err != nil || ka.Count < 1 || ka.Idle%s != 0 || ka.Interval%s != 0 {
		t.Fatalf("Keepalive %v: invalid (%v) or not whole seconds", ka, err)
	}
	if ka.KeepAliveConfig().Idle != ka.Idle || ka.KeepAliveConfig().Interval != ka.Interval {
		t.Fatalf("Keepalive %v changes when applied: %+v", ka, ka.KeepAliveConfig())
	}
	if p.NATLimit > 240*s {
		t.Fatalf("NATLimit %v above the Azure LB limit", p.NATLimit)
	}
	if ct := p.Kernel.ConntrackEstablished; ct > 0 && p.NATLimit > ct {
		t.Fatalf("NATLimit %v above the conntrack timeout %v", p.NATLimit, ct)
	}
	// Idle + Interval below the NAT limit with margin, wherever 1 s
	// granularity allows it.
	l := p.NATLimit
	if sum := ka.Idle + ka.Interval; l >= 4*s && sum > l/2 || l > 2*s && sum >= l {
		t.Fatalf("Keepalive %v: idle+interval %v too close to the NAT limit %v", ka, sum, l)
	}
	if l >= 2*s && (p.ProbeInterval > l/2 || p.IdleTimeout >= l) {
		t.Fatalf("ProbeInterval %v / IdleTimeout %v not below the NAT limit %v", p.ProbeInterval, p.IdleTimeout, l)
	}
	if p.UserTimeout > 8*s || p.IdleTimeout > 90*s || p.ConnectTimeout > 30*s || p.ProbeInterval > 60*s {
		t.Fatalf("a cap is exceeded: %v", p)
	}
}

// randomKernel returns a Kernel with plausible and implausible values.
func randomKernel(r *rand.Rand) adaptive.Kernel {
	dur := func() time.Duration {
		switch r.IntN(4) {
		case 0:
			return time.Duration(r.Int64N(10*int64(s))) - s // around zero, negative included
		case 1:
			return time.Duration(r.Int64N(1000)) * s
		case 2:
			return time.Duration(r.Int64N(math.MaxInt32)) * s
		default:
			return time.Duration(r.Int64())
		}
	}
	n := func() int { return r.IntN(300) - 10 }
	return adaptive.Kernel{
		FinTimeout: dur(), KeepaliveTime: dur(), KeepaliveIntvl: dur(), KeepaliveProbes: n(),
		Retries2: n(), SynRetries: n(), ConntrackEstablished: dur(), PortRangeLow: n(), PortRangeHigh: n(),
	}
}

func TestDerivePropertiesHoldForAnyKernel(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		checkProfile(t, adaptive.Derive(randomKernel(r)))
	}
	for ct := time.Duration(1); ct <= 400*s; ct += 100 * time.Millisecond {
		checkProfile(t, adaptive.Derive(kernelWith(func(k *adaptive.Kernel) { k.ConntrackEstablished = ct })))
	}
}

// TestDeriveIsMonotone: growing any input (conntrack "unknown" being the
// largest) never shrinks any output.
func TestDeriveIsMonotone(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	pos := func(k adaptive.Kernel) adaptive.Kernel { // positive inputs only: zero means "unknown"
		abs := func(d time.Duration) time.Duration { return max(d, -d, 1) }
		k.FinTimeout, k.KeepaliveTime, k.KeepaliveIntvl = abs(k.FinTimeout), abs(k.KeepaliveTime), abs(k.KeepaliveIntvl)
		k.KeepaliveProbes, k.Retries2, k.SynRetries = max(k.KeepaliveProbes, 1), max(k.Retries2, 1), max(k.SynRetries, 1)
		k.ConntrackEstablished = max(k.ConntrackEstablished, 0)
		return k
	}
	ctLE := func(a, b time.Duration) bool { return b == 0 || a != 0 && a <= b }
	for range 20000 {
		a, b := pos(randomKernel(r)), pos(randomKernel(r))
		lo := adaptive.Kernel{
			FinTimeout: min(a.FinTimeout, b.FinTimeout), KeepaliveTime: min(a.KeepaliveTime, b.KeepaliveTime),
			KeepaliveIntvl: min(a.KeepaliveIntvl, b.KeepaliveIntvl), KeepaliveProbes: min(a.KeepaliveProbes, b.KeepaliveProbes),
			Retries2: min(a.Retries2, b.Retries2), SynRetries: min(a.SynRetries, b.SynRetries),
			ConntrackEstablished: a.ConntrackEstablished,
		}
		if !ctLE(a.ConntrackEstablished, b.ConntrackEstablished) {
			lo.ConntrackEstablished = b.ConntrackEstablished
		}
		hi := adaptive.Kernel{
			FinTimeout: max(a.FinTimeout, b.FinTimeout), KeepaliveTime: max(a.KeepaliveTime, b.KeepaliveTime),
			KeepaliveIntvl: max(a.KeepaliveIntvl, b.KeepaliveIntvl), KeepaliveProbes: max(a.KeepaliveProbes, b.KeepaliveProbes),
			Retries2: max(a.Retries2, b.Retries2), SynRetries: max(a.SynRetries, b.SynRetries),
			ConntrackEstablished: b.ConntrackEstablished,
		}
		if !ctLE(a.ConntrackEstablished, b.ConntrackEstablished) {
			hi.ConntrackEstablished = a.ConntrackEstablished
		}
		p, q := adaptive.Derive(lo), adaptive.Derive(hi)
		if p.Keepalive.Idle > q.Keepalive.Idle || p.Keepalive.Interval > q.Keepalive.Interval || p.Keepalive.Count > q.Keepalive.Count ||
			p.UserTimeout > q.UserTimeout || p.ProbeInterval > q.ProbeInterval || p.IdleTimeout > q.IdleTimeout ||
			p.ConnectTimeout > q.ConnectTimeout || p.NATLimit > q.NATLimit {
			t.Fatalf("not monotone:\n%+v ->\n%v\n%+v ->\n%v", lo, p, hi, q)
		}
	}
}

func TestKernelGiveUpModels(t *testing.T) {
	for _, tt := range []struct {
		n    int
		want time.Duration
	}{{0, 200 * time.Millisecond}, {3, 3 * s}, {5, 12600 * time.Millisecond}, {9, 204600 * time.Millisecond},
		{10, 324600 * time.Millisecond}, {15, 924600 * time.Millisecond}} {
		if got := adaptive.RetransmitGiveUp(tt.n); got != tt.want {
			t.Errorf("retransmitGiveUp(%d) = %v, want %v", tt.n, got, tt.want)
		}
	}
	for _, tt := range []struct {
		n     int
		limit time.Duration
		want  time.Duration
	}{{6, time.Hour, 127 * s}, {1, time.Hour, 3 * s}, {8, time.Hour, 367 * s}, {6, 30 * s, 30 * s}, {math.MaxInt, 30 * s, 30 * s}} {
		if got := adaptive.SynGiveUp(tt.n, tt.limit); got != tt.want {
			t.Errorf("synGiveUp(%d, %v) = %v, want %v", tt.n, tt.limit, got, tt.want)
		}
	}
}

func TestProfileStringHasOneLinePerField(t *testing.T) {
	got := adaptive.Derive(kernelWith(func(k *adaptive.Kernel) { k.ConntrackEstablished = 5 * s })).String()
	want := `keepalive:       idle=1s interval=1s count=3 (silent peer dead after 4s)
user timeout:    8s
probe interval:  2.5s
idle timeout:    3.75s
connect timeout: 30s
NAT limit:       5s (conntrack established timeout)
kernel:          fin_timeout=60s keepalive=7200s/75s/9 retries2=15 syn_retries=6 conntrack_established=5s ports=32768-60999`
	if got != want {
		t.Fatalf("String() =\n%s\nwant\n%s", got, want)
	}
	if def := adaptive.Derive(adaptive.DefaultKernel()).String(); !strings.Contains(def, "NAT limit:       4m0s (smallest known load-balancer idle limit (Azure LB))") {
		t.Fatalf("String() of the default profile:\n%s", def)
	}
}
