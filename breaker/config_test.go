package breaker_test

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/herz-go/herz/breaker"
)

// configCases is shared by the validation table test and the fuzz seeds.
var configCases = []struct {
	name    string
	cfg     breaker.Config
	wantErr string // substring of the error; "" means valid
}{
	{name: "zero value", cfg: breaker.Config{}},
	{name: "all set", cfg: breaker.Config{
		MaxKeys: 10, ConsecutiveFailures: 3, FailureRatio: 1, MinRequests: 5, Window: time.Second,
		OpenBase: time.Second, OpenMax: time.Second, Jitter: 0.99, HalfOpenProbes: 4,
	}},
	{name: "negative jitter disables it", cfg: breaker.Config{Jitter: -1}},
	{name: "tiny window", cfg: breaker.Config{Window: 5}},
	{name: "negative MaxKeys", cfg: breaker.Config{MaxKeys: -1}, wantErr: "Config.MaxKeys"},
	{name: "FailureRatio above 1", cfg: breaker.Config{FailureRatio: 1.5}, wantErr: "Config.FailureRatio must be in [0,1] (0 means 0.5), got 1.5"},
	{name: "negative FailureRatio", cfg: breaker.Config{FailureRatio: -0.1}, wantErr: "Config.FailureRatio"},
	{name: "NaN FailureRatio", cfg: breaker.Config{FailureRatio: math.NaN()}, wantErr: "Config.FailureRatio"},
	{name: "longest durations", cfg: breaker.Config{Window: 1 << 62, OpenBase: 1 << 62, OpenMax: 1 << 62, Jitter: 0.99}},
	{name: "negative Window", cfg: breaker.Config{Window: -time.Second}, wantErr: "Config.Window"},
	{name: "Window past 2^62ns", cfg: breaker.Config{Window: math.MaxInt64}, wantErr: "Config.Window must be in [0, 1281023h53m38.427387904s], got 2562047h47m16.854775807s"},
	{name: "OpenBase past 2^62ns", cfg: breaker.Config{OpenBase: 1<<62 + 1}, wantErr: "Config.OpenBase"},
	{name: "OpenMax past 2^62ns", cfg: breaker.Config{OpenMax: math.MaxInt64}, wantErr: "Config.OpenMax"},
	{name: "negative OpenBase", cfg: breaker.Config{OpenBase: -time.Second}, wantErr: "Config.OpenBase"},
	{name: "negative OpenMax", cfg: breaker.Config{OpenMax: -time.Second}, wantErr: "Config.OpenMax"},
	{name: "OpenMax below OpenBase", cfg: breaker.Config{OpenBase: 2 * time.Second, OpenMax: time.Second}, wantErr: "Config.OpenMax (1s) must be at least Config.OpenBase (2s)"},
	{name: "OpenBase above default OpenMax", cfg: breaker.Config{OpenBase: 2 * time.Minute}, wantErr: "Config.OpenMax"},
	{name: "Jitter 1", cfg: breaker.Config{Jitter: 1}, wantErr: "Config.Jitter"},
	{name: "NaN Jitter", cfg: breaker.Config{Jitter: math.NaN()}, wantErr: "Config.Jitter"},
	{name: "probe intervals", cfg: breaker.Config{ProbeInterval: 2 * time.Second, ProbeTimeout: time.Millisecond}},
	{name: "negative ProbeInterval", cfg: breaker.Config{ProbeInterval: -1}, wantErr: "Config.ProbeInterval"},
	{name: "negative ProbeMaxInterval", cfg: breaker.Config{ProbeMaxInterval: -1}, wantErr: "Config.ProbeMaxInterval"},
	{name: "ProbeMaxInterval below ProbeInterval", cfg: breaker.Config{ProbeInterval: time.Second, ProbeMaxInterval: 100 * time.Millisecond}, wantErr: "Config.ProbeMaxInterval (100ms) must be at least Config.ProbeInterval (1s)"},
	{name: "negative ProbeTimeout", cfg: breaker.Config{ProbeTimeout: -1}, wantErr: "Config.ProbeTimeout"},
}

func TestNewValidatesConfigAndNamesTheField(t *testing.T) {
	for _, tc := range configCases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := breaker.New(tc.cfg)
			if tc.wantErr == "" {
				if err != nil || r == nil {
					t.Fatalf("New(%+v) = %v, %v; want a Registry", tc.cfg, r, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("New(%+v) succeeded; want an error containing %q", tc.cfg, tc.wantErr)
			}
			if !strings.HasPrefix(err.Error(), "herz/breaker: ") || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("New(%+v) error = %q; want prefix %q and %q", tc.cfg, err, "herz/breaker: ", tc.wantErr)
			}
		})
	}
}

func TestNewFillsDefaultsForZeroFields(t *testing.T) {
	r, err := breaker.New(breaker.Config{})
	if err != nil {
		t.Fatal(err)
	}
	got := breaker.EffectiveConfig(r)
	if got.MaxKeys != 4096 || got.ConsecutiveFailures != 5 || got.FailureRatio != 0.5 ||
		got.MinRequests != 20 || got.Window != 10*time.Second || got.OpenBase != time.Second ||
		got.OpenMax != 30*time.Second || got.Jitter != 0.2 || got.HalfOpenProbes != 1 ||
		got.Classify == nil || got.OnStateChange != nil {
		t.Fatalf("defaults = %+v", got)
	}

	r, err = breaker.New(breaker.Config{Jitter: -0.5})
	if err != nil {
		t.Fatal(err)
	}
	if got := breaker.EffectiveConfig(r).Jitter; got != 0 {
		t.Fatalf("negative Jitter became %v; want 0 (disabled)", got)
	}
}

// FuzzNew checks that New never panics and that a Registry it returns
// serves calls.
func FuzzNew(f *testing.F) {
	for _, tc := range configCases {
		c := tc.cfg
		f.Add(c.MaxKeys, c.ConsecutiveFailures, c.FailureRatio, c.MinRequests, int64(c.Window),
			int64(c.OpenBase), int64(c.OpenMax), c.Jitter, c.HalfOpenProbes)
	}
	f.Fuzz(func(t *testing.T, maxKeys int, consecutive uint32, ratio float64, minReq uint32,
		window, openBase, openMax int64, jitter float64, probes uint32) {
		if maxKeys > 1<<16 {
			maxKeys = 1 << 16 // keep memory bounded; the bound itself is not under test
		}
		r, err := breaker.New(breaker.Config{
			MaxKeys: maxKeys, ConsecutiveFailures: consecutive, FailureRatio: ratio, MinRequests: minReq,
			Window: time.Duration(window), OpenBase: time.Duration(openBase), OpenMax: time.Duration(openMax),
			Jitter: jitter, HalfOpenProbes: probes,
		})
		if err != nil {
			if r != nil || !strings.HasPrefix(err.Error(), "herz/breaker: Config.") {
				t.Fatalf("New = %v, %q", r, err)
			}
			return
		}
		for i := 0; i < 8; i++ {
			done, err := r.Allow("k")
			if err != nil {
				var oe *breaker.OpenError
				if !errors.As(err, &oe) || oe.RetryIn < 0 {
					t.Fatalf("Allow error %v", err)
				}
				continue
			}
			done(errBoom)
		}
		_ = r.State("k")
		if r.Len() != 1 {
			t.Fatalf("Len = %d", r.Len())
		}
	})
}
