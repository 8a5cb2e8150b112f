package retry_test

import (
	"math"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/herz-go/herz/internal/retry"
)

func newBudget(t testing.TB, cfg retry.BudgetConfig) *retry.Budget {
	t.Helper()
	b, err := retry.NewBudget(cfg)
	if err != nil {
		t.Fatalf("NewBudget(%+v) = %v", cfg, err)
	}
	return b
}

func TestNewBudgetValidatesAndNamesTheField(t *testing.T) {
	tests := []struct {
		name  string
		cfg   retry.BudgetConfig
		field string // "" = valid
	}{
		{"zero", retry.BudgetConfig{}, ""},
		{"full ratio", retry.BudgetConfig{Ratio: 1}, ""},
		{"no floor", retry.BudgetConfig{MinPerSecond: retry.NoFloor}, ""},
		{"one second window", retry.BudgetConfig{TTL: time.Second}, ""},
		{"ratio above 1", retry.BudgetConfig{Ratio: 1.5}, "BudgetConfig.Ratio"},
		{"negative ratio", retry.BudgetConfig{Ratio: -0.2}, "BudgetConfig.Ratio"},
		{"NaN ratio", retry.BudgetConfig{Ratio: math.NaN()}, "BudgetConfig.Ratio"},
		{"negative floor", retry.BudgetConfig{MinPerSecond: -2}, "BudgetConfig.MinPerSecond"},
		{"NaN floor", retry.BudgetConfig{MinPerSecond: math.NaN()}, "BudgetConfig.MinPerSecond"},
		{"infinite floor", retry.BudgetConfig{MinPerSecond: math.Inf(1)}, "BudgetConfig.MinPerSecond"},
		{"negative TTL", retry.BudgetConfig{TTL: -time.Second}, "BudgetConfig.TTL"},
		{"TTL too short", retry.BudgetConfig{TTL: 100 * time.Millisecond}, "BudgetConfig.TTL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := retry.NewBudget(tt.cfg)
			if tt.field == "" {
				if err != nil || b == nil {
					t.Fatalf("NewBudget = %v, %v; want a budget", b, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("NewBudget = nil error, want one naming %s", tt.field)
			}
			if !strings.HasPrefix(err.Error(), "herz/retry: "+tt.field+" ") {
				t.Fatalf("NewBudget = %q, want it to name %s", err, tt.field)
			}
		})
	}
}

// outage sends n requests spread evenly over span, each failing and wanting
// up to want retries; it returns the retries the budget let through.
func outage(b *retry.Budget, n, want int, span time.Duration) int {
	retries := 0
	for range n {
		b.Deposit()
		for range want {
			if !b.Withdraw() {
				break
			}
			retries++
		}
		time.Sleep(span / time.Duration(n))
	}
	return retries
}

func TestBudgetTotalOutageAddsAtMostRatioTimesRequestsPlusFloor(t *testing.T) {
	tests := []struct {
		name  string
		cfg   retry.BudgetConfig
		floor int // MinPerSecond × TTL
	}{
		{"defaults", retry.BudgetConfig{}, 100},
		{"no floor", retry.BudgetConfig{MinPerSecond: retry.NoFloor}, 0},
		{"ratio 0.1, small floor", retry.BudgetConfig{Ratio: 0.1, MinPerSecond: 1, TTL: 5 * time.Second}, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := newBudget(t, tt.cfg)
				const n = 2000
				ratio := tt.cfg.Ratio
				if ratio == 0 {
					ratio = 0.2
				}
				// Every request fails and wants 3 retries, all within one window.
				got := outage(b, n, 3, 900*time.Millisecond)
				limit := int(ratio*n) + tt.floor
				if got > limit {
					t.Fatalf("outage of %d requests got %d retries, budget allows at most %d", n, got, limit)
				}
				// And the budget is used, not refused outright.
				if got < limit-3 {
					t.Fatalf("outage of %d requests got %d retries, want about %d", n, got, limit)
				}
				st := b.Stats()
				if st.Requests != n || st.RetriesAllowed != uint64(got) || st.RetriesRefused == 0 {
					t.Fatalf("Stats() = %+v, want %d requests, %d allowed, some refused", st, n, got)
				}
			})
		})
	}
}

func TestBudgetLongOutageNeverMultipliesTraffic(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBudget(t, retry.BudgetConfig{}) // 20%, 10/s floor, 10s window
		const (
			span = 2 * time.Minute
			n    = 100 * 120 // 100 requests/s
		)
		got := outage(b, n, 3, span)
		// Each window of 9–10s allows 20% of its requests plus 100: over 2
		// minutes that is at most 20% of all requests plus 100 per 9s.
		limit := int(0.2*n) + 100*(int(span/(9*time.Second))+1)
		if got > limit {
			t.Fatalf("%d requests over %v got %d retries, want ≤ %d", n, span, got, limit)
		}
		if ratio := float64(got) / n; ratio > 0.35 {
			t.Fatalf("retries were %.0f%% of traffic: the floor dominates", ratio*100)
		}
	})
}

func TestBudgetFloorLetsATrickleThroughWithNoTraffic(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBudget(t, retry.BudgetConfig{MinPerSecond: 1, TTL: 10 * time.Second})
		allowed := 0
		for range 50 {
			if b.Withdraw() {
				allowed++
			}
		}
		if allowed != 10 {
			t.Fatalf("with no requests, %d retries allowed in one window, want the floor: 1/s × 10s = 10", allowed)
		}
		// Once the window has slid past them, the floor is available again.
		time.Sleep(10 * time.Second)
		if !b.Withdraw() {
			t.Fatal("after the window passed, the floor still refuses")
		}
	})
}

func TestBudgetWithNoFloorAndNoTrafficRefusesEveryRetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBudget(t, retry.BudgetConfig{MinPerSecond: retry.NoFloor})
		if b.Withdraw() {
			t.Fatal("Withdraw with no floor and no requests = true")
		}
	})
}

func TestBudgetForgetsRequestsAndRetriesOlderThanTheWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBudget(t, retry.BudgetConfig{Ratio: 0.5, MinPerSecond: retry.NoFloor, TTL: 10 * time.Second})
		for range 100 {
			b.Deposit()
		}
		for i := range 50 {
			if !b.Withdraw() {
				t.Fatalf("retry %d of 50 refused with 100 requests at ratio 0.5", i+1)
			}
		}
		if b.Withdraw() {
			t.Fatal("51st retry allowed with 100 requests at ratio 0.5")
		}
		// 5s later the requests still count.
		time.Sleep(5 * time.Second)
		if b.Withdraw() {
			t.Fatal("retry allowed while the window is still full")
		}
		// After the window they are gone: no requests, no floor, no retries.
		time.Sleep(5*time.Second + time.Millisecond)
		if b.Withdraw() {
			t.Fatal("retry allowed after every request left the window")
		}
		// New traffic earns new retries, and the old retries no longer count.
		for range 10 {
			b.Deposit()
		}
		for i := range 5 {
			if !b.Withdraw() {
				t.Fatalf("retry %d of 5 refused after new traffic", i+1)
			}
		}
		if b.Withdraw() {
			t.Fatal("6th retry allowed with 10 new requests at ratio 0.5")
		}
		if st := b.Stats(); st.Requests != 110 || st.RetriesAllowed != 55 || st.RetriesRefused != 4 {
			t.Fatalf("Stats() = %+v, want 110 requests, 55 allowed, 4 refused", st)
		}
	})
}

func TestBudgetWindowSlidesBucketByBucket(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBudget(t, retry.BudgetConfig{Ratio: 1, MinPerSecond: retry.NoFloor, TTL: 10 * time.Second})
		for range 4 { // t=0..3s: one request per second
			b.Deposit()
			time.Sleep(time.Second)
		}
		// t=10.5s: the request of t=0 has left the window, three remain.
		time.Sleep(6500 * time.Millisecond)
		allowed := 0
		for b.Withdraw() {
			allowed++
		}
		if allowed != 3 {
			t.Fatalf("%d retries allowed, want 3 (requests of t=1s..3s)", allowed)
		}
	})
}

func TestBudgetIsSafeForConcurrentUseAndKeepsItsBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBudget(t, retry.BudgetConfig{MinPerSecond: retry.NoFloor})
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for range 500 {
					b.Deposit()
					for b.Withdraw() {
					}
				}
			})
		}
		wg.Wait()
		st := b.Stats()
		if st.Requests != 4000 || st.RetriesAllowed > 800 || st.RetriesAllowed < 799 {
			t.Fatalf("Stats() = %+v, want 4000 requests and 800 retries allowed", st)
		}
	})
}

func TestNilBudgetAllowsEveryRetry(t *testing.T) {
	var b *retry.Budget
	b.Deposit()
	if !b.Withdraw() {
		t.Fatal("nil Budget refused a retry")
	}
	if st := b.Stats(); st != (retry.BudgetStats{}) {
		t.Fatalf("nil Budget Stats() = %+v, want zero", st)
	}
}

func BenchmarkBudgetDeposit(b *testing.B) {
	bud := newBudget(b, retry.BudgetConfig{})
	b.ReportAllocs()
	for b.Loop() {
		bud.Deposit()
	}
}

func BenchmarkBudgetDepositParallel(b *testing.B) {
	bud := newBudget(b, retry.BudgetConfig{})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			bud.Deposit()
		}
	})
}

func BenchmarkBudgetWithdraw(b *testing.B) {
	bud := newBudget(b, retry.BudgetConfig{Ratio: 1})
	b.ReportAllocs()
	for b.Loop() {
		bud.Deposit()
		bud.Withdraw()
	}
}
