package keepalive_test

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/herz-go/herz/keepalive"
)

func TestParamsValidateAcceptsZeroAndRejectsOutOfRangeNamingTheField(t *testing.T) {
	tests := []struct {
		name    string
		p       keepalive.Params
		wantErr string // substring; empty = valid
	}{
		{"zero means adaptive default", keepalive.Params{}, ""},
		{"default", keepalive.Default(), ""},
		{"only idle set", keepalive.Params{Idle: time.Second}, ""},
		{"sub-second is rounded, not rejected", keepalive.Params{Idle: time.Millisecond, Interval: time.Millisecond, Count: 1}, ""},
		{"kernel maxima", keepalive.Params{Idle: 32767 * time.Second, Interval: 32767 * time.Second, Count: 127}, ""},
		{"negative idle", keepalive.Params{Idle: -time.Second}, "Params.Idle must be in [0, 9h6m7s], got -1s"},
		{"idle above kernel max", keepalive.Params{Idle: 32768 * time.Second}, "Params.Idle"},
		{"negative interval", keepalive.Params{Interval: -1}, "Params.Interval must be in"},
		{"interval above kernel max", keepalive.Params{Interval: 10 * time.Hour}, "Params.Interval"},
		{"negative count", keepalive.Params{Count: -1}, "Params.Count must be in [0, 127], got -1"},
		{"count above kernel max", keepalive.Params{Count: 128}, "Params.Count"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "herz/keepalive: ") {
				t.Fatalf("Validate() = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestParamsKeepAliveConfigRoundsUpToWholeSecondsAndNeverUsesGoDefaults(t *testing.T) {
	tests := []struct {
		name string
		p    keepalive.Params
		want net.KeepAliveConfig
	}{
		{"zero is the package default", keepalive.Params{}, net.KeepAliveConfig{Enable: true, Idle: 30 * time.Second, Interval: 10 * time.Second, Count: 3}},
		{"whole seconds unchanged", keepalive.Params{Idle: 1 * time.Second, Interval: 1 * time.Second, Count: 5}, net.KeepAliveConfig{Enable: true, Idle: time.Second, Interval: time.Second, Count: 5}},
		{"rounded up", keepalive.Params{Idle: 1500 * time.Millisecond, Interval: 2001 * time.Millisecond, Count: 2}, net.KeepAliveConfig{Enable: true, Idle: 2 * time.Second, Interval: 3 * time.Second, Count: 2}},
		{"minimum one second", keepalive.Params{Idle: time.Nanosecond, Interval: 999 * time.Millisecond, Count: 1}, net.KeepAliveConfig{Enable: true, Idle: time.Second, Interval: time.Second, Count: 1}},
		{"zero fields from default", keepalive.Params{Idle: 5 * time.Second}, net.KeepAliveConfig{Enable: true, Idle: 5 * time.Second, Interval: 10 * time.Second, Count: 3}},
		{"out of range clamped", keepalive.Params{Idle: 100 * time.Hour, Interval: -time.Second, Count: 1000}, net.KeepAliveConfig{Enable: true, Idle: 32767 * time.Second, Interval: time.Second, Count: 127}},
		{"negative count clamped to one", keepalive.Params{Idle: time.Second, Interval: time.Second, Count: -4}, net.KeepAliveConfig{Enable: true, Idle: time.Second, Interval: time.Second, Count: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.KeepAliveConfig(); got != tt.want {
				t.Fatalf("KeepAliveConfig() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParamsDeadAfterIsIdlePlusIntervalTimesCountOfAppliedValues(t *testing.T) {
	tests := []struct {
		p    keepalive.Params
		want time.Duration
	}{
		{keepalive.Params{}, 60 * time.Second},
		{keepalive.Params{Idle: 30 * time.Second, Interval: 10 * time.Second, Count: 3}, 60 * time.Second},
		{keepalive.Params{Idle: time.Second, Interval: time.Second, Count: 3}, 4 * time.Second},
		{keepalive.Params{Idle: 7200 * time.Second, Interval: 75 * time.Second, Count: 9}, 7875 * time.Second},
		{keepalive.Params{Idle: 500 * time.Millisecond, Interval: 1500 * time.Millisecond, Count: 2}, 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.p.String(), func(t *testing.T) {
			if got := tt.p.DeadAfter(); got != tt.want {
				t.Fatalf("DeadAfter() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParamsIsZeroWithDefaultsAndString(t *testing.T) {
	if !(keepalive.Params{}).IsZero() || (keepalive.Params{Count: 1}).IsZero() {
		t.Fatal("IsZero is wrong")
	}
	got := keepalive.Params{Interval: 2 * time.Second}.WithDefaults(keepalive.Params{Idle: 7 * time.Second, Interval: 9 * time.Second, Count: 4})
	if want := (keepalive.Params{Idle: 7 * time.Second, Interval: 2 * time.Second, Count: 4}); got != want {
		t.Fatalf("WithDefaults = %+v, want %+v", got, want)
	}
	for p, want := range map[keepalive.Params]string{
		{}:                      "default",
		keepalive.Default():     "idle=30s interval=10s count=3 (silent peer dead after 1m0s)",
		{Idle: time.Second}:     "idle=1s interval=default count=default (silent peer dead after 31s)",
		{Count: 2}:              "idle=default interval=default count=2 (silent peer dead after 50s)",
		{Interval: 1, Count: 1}: "idle=default interval=1ns count=1 (silent peer dead after 31s)",
	} {
		if got := p.String(); got != want {
			t.Errorf("%#v.String() = %q, want %q", p, got, want)
		}
	}
}
