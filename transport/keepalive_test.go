package transport_test

import (
	"testing"
	"time"

	"github.com/herz-go/herz/transport"
)

var keepAliveCases = []struct {
	in   string
	want time.Duration
	ok   bool
}{
	{"timeout=5, max=1000", 5 * time.Second, true},
	{"timeout=5", 5 * time.Second, true},
	{"max=100, timeout=15", 15 * time.Second, true},
	{"  Timeout = 7 ,max=3", 7 * time.Second, true},
	{"TIMEOUT=60", time.Minute, true},
	{`timeout="20"`, 20 * time.Second, true},
	{"timeout=86400", 24 * time.Hour, true},
	{"timeout=86401", 0, false},
	{"timeout=99999999999999999999999", 0, false},
	{"timeout=0", 0, false},
	{"timeout=-5", 0, false},
	{"timeout=1.5", 0, false},
	{"timeout=", 0, false},
	{"timeout", 0, false},
	{`timeout="`, 0, false},
	{"max=5", 0, false},
	{"", 0, false},
	{",,,", 0, false},
	{"timeouts=5", 0, false},
	{"timeout=5s", 0, false},
	{"timeout=\t9\t", 9 * time.Second, true},
}

func TestParseKeepAliveReadsTheTimeoutParameter(t *testing.T) {
	for _, tc := range keepAliveCases {
		t.Run(tc.in, func(t *testing.T) {
			got, ok := transport.ParseKeepAlive(tc.in)
			if got != tc.want || ok != tc.ok {
				t.Errorf("ParseKeepAlive(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func FuzzParseKeepAlive(f *testing.F) {
	for _, tc := range keepAliveCases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, v string) {
		d, ok := transport.ParseKeepAlive(v)
		if ok && (d <= 0 || d > 24*time.Hour || d%time.Second != 0) {
			t.Fatalf("ParseKeepAlive(%q) = %v, true: want a whole number of seconds in (0, 24h]", v, d)
		}
		if !ok && d != 0 {
			t.Fatalf("ParseKeepAlive(%q) = %v, false: want 0 when not ok", v, d)
		}
	})
}

func BenchmarkParseKeepAlive(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		transport.ParseKeepAlive("timeout=5, max=1000")
	}
}
