package retry_test

import (
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/herz-go/herz/internal/retry"
)

var retryAfterNow = time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)

const (
	imfFixdate = "Mon, 02 Jan 2006 15:04:05 GMT" // http.TimeFormat
	rfc850GMT  = "Monday, 02-Jan-06 15:04:05 GMT"
)

type retryAfterCase struct {
	name string
	v    string
	max  time.Duration
	want time.Duration
	ok   bool
}

func retryAfterCases() []retryAfterCase {
	in := func(d time.Duration, layout string) string { return retryAfterNow.Add(d).Format(layout) }
	return []retryAfterCase{
		{"seconds", "120", 0, 120 * time.Second, true},
		{"zero seconds", "0", 0, 0, true},
		{"leading zeros", "007", 0, 7 * time.Second, true},
		{"spaces around", "  120 ", 0, 120 * time.Second, true},
		{"tabs around", "\t5\t", 0, 5 * time.Second, true},
		{"seconds capped at max", "3600", 30 * time.Second, 30 * time.Second, true},
		{"seconds below max", "10", 30 * time.Second, 10 * time.Second, true},
		{"huge seconds capped", "99999999999", 30 * time.Second, 30 * time.Second, true},
		{"huge seconds saturate at 2^31s without max", "99999999999", 0, (1 << 31) * time.Second, true},
		{"overflowing seconds capped", "999999999999999999999999999999", time.Minute, time.Minute, true},
		{"2^31 seconds exactly", "2147483648", 0, (1 << 31) * time.Second, true},
		{"IMF-fixdate", in(90*time.Second, imfFixdate), 0, 90 * time.Second, true},
		{"RFC 850 date", in(2*time.Minute, rfc850GMT), 0, 2 * time.Minute, true},
		{"asctime date", in(3*time.Minute, time.ANSIC), 0, 3 * time.Minute, true},
		{"asctime single-digit day", "Sun Mar  1 12:00:45 2026", 0, 45 * time.Second, true},
		{"date with spaces around", " " + in(time.Minute, imfFixdate) + "\t", 0, time.Minute, true},
		{"date capped at max", in(time.Hour, imfFixdate), 10 * time.Second, 10 * time.Second, true},
		{"date now", in(0, imfFixdate), 0, 0, true},
		{"date in the past", in(-time.Hour, imfFixdate), 0, 0, true},
		{"date long ago", "Thu, 01 Jan 1970 00:00:00 GMT", 0, 0, true},
		{"date far in the future capped", "Fri, 31 Dec 9999 23:59:59 GMT", time.Minute, time.Minute, true},
		{"empty", "", 0, 0, false},
		{"only spaces", "   ", 0, 0, false},
		{"negative", "-1", 0, 0, false},
		{"negative huge", "-99999999999999999999", time.Second, 0, false},
		{"plus sign", "+5", 0, 0, false},
		{"fraction", "1.5", 0, 0, false},
		{"exponent", "1e3", 0, 0, false},
		{"unit suffix", "12s", 0, 0, false},
		{"two numbers", "1 2", 0, 0, false},
		{"hex", "0x10", 0, 0, false},
		{"word", "soon", 0, 0, false},
		{"ISO 8601", "2026-03-01T12:01:00Z", 0, 0, false},
		{"date without zone", "Sun, 01 Mar 2026 12:01:00", 0, 0, false},
		{"date with garbage after", in(time.Minute, imfFixdate) + " x", 0, 0, false},
		{"invalid day", "Sun, 32 Mar 2026 12:01:00 GMT", 0, 0, false},
		{"newline inside", "1\n2", 0, 0, false},
		{"unicode digits", "١٢", 0, 0, false},
	}
}

func TestParseRetryAfter(t *testing.T) {
	for _, tt := range retryAfterCases() {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := retry.ParseRetryAfter(tt.v, retryAfterNow, tt.max)
			if got != tt.want || ok != tt.ok {
				t.Fatalf("ParseRetryAfter(%q, max %v) = %v, %v; want %v, %v", tt.v, tt.max, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, tt := range retryAfterCases() {
		f.Add(tt.v, retryAfterNow.Unix(), int64(tt.max))
	}
	f.Add("Sun, 06 Nov 1994 08:49:37 GMT", int64(0), int64(0))
	f.Add("Sunday, 06-Nov-94 08:49:37 GMT", int64(math.MaxInt64/2), int64(-1))
	f.Fuzz(func(t *testing.T, v string, nowUnix int64, maxNs int64) {
		now := time.Unix(nowUnix, 0)
		maxD := time.Duration(maxNs)
		d, ok := retry.ParseRetryAfter(v, now, maxD)
		if !ok {
			if d != 0 {
				t.Fatalf("ParseRetryAfter(%q) = %v, false: want 0 when not ok", v, d)
			}
			return
		}
		if d < 0 {
			t.Fatalf("ParseRetryAfter(%q) = %v: negative", v, d)
		}
		if maxD > 0 && d > maxD {
			t.Fatalf("ParseRetryAfter(%q, max %v) = %v: above max", v, maxD, d)
		}
		// Surrounding whitespace never changes the answer.
		if d2, ok2 := retry.ParseRetryAfter(" \t"+v+"\t ", now, maxD); d2 != d || ok2 != ok {
			t.Fatalf("padding changed ParseRetryAfter(%q): %v,%v vs %v,%v", v, d2, ok2, d, ok)
		}
		// Plain delay-seconds agree with strconv where strconv can tell.
		s := strings.Trim(v, " \t")
		if n, err := strconv.ParseUint(s, 10, 64); err == nil && s[0] != '+' && n < 1<<31 {
			want := time.Duration(n) * time.Second
			if maxD > 0 {
				want = min(want, maxD)
			}
			if d != want {
				t.Fatalf("ParseRetryAfter(%q, max %v) = %v, want %v", v, maxD, d, want)
			}
		}
	})
}

func BenchmarkParseRetryAfter(b *testing.B) {
	for _, v := range []string{"120", "Sun, 01 Mar 2026 12:01:30 GMT"} {
		b.Run(strings.Fields(v)[0], func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				retry.ParseRetryAfter(v, retryAfterNow, time.Minute)
			}
		})
	}
}
