package retry

import (
	"strings"
	"time"
)

// maxRetryAfterSeconds is the value a delay-seconds too large to represent is
// taken as: RFC 9111 §1.2.2 tells caches to treat an overflowing delta-seconds
// as 2^31 seconds; the same saturation is used here, so that a server asking
// for a very long pause gets the longest pause the caller allows (max) rather
// than an immediate retry.
const maxRetryAfterSeconds = 1 << 31

// httpDateLayouts are the three HTTP-date forms of RFC 9110 §5.6.7, the ones
// net/http's ParseTime accepts (IMF-fixdate, obsolete RFC 850, asctime).
var httpDateLayouts = [...]string{
	"Mon, 02 Jan 2006 15:04:05 GMT", // http.TimeFormat, IMF-fixdate
	time.RFC850,                     // "Monday, 02-Jan-06 15:04:05 MST"
	time.ANSIC,                      // "Mon Jan _2 15:04:05 2006"
}

// ParseRetryAfter parses the value of an HTTP Retry-After header (RFC 9110
// §10.2.3): either delay-seconds (1*DIGIT) or an HTTP-date in any of the three
// forms net/http's ParseTime accepts, relative to now. Surrounding spaces and
// tabs are ignored.
//
// The result is capped at max when max > 0. A date in the past (or now) gives
// (0, true): retry at once. A delay-seconds too large to represent saturates
// at 2^31 seconds (as RFC 9111 §1.2.2 says for delta-seconds) before the cap,
// so a server asking for a long pause gets max, not an immediate retry.
// Anything else — empty, negative, signed, fractional, garbage — gives
// (0, false): the caller falls back to its own backoff. It never panics.
func ParseRetryAfter(v string, now time.Time, max time.Duration) (time.Duration, bool) {
	v = strings.Trim(v, " \t")
	if v == "" {
		return 0, false
	}
	var d time.Duration
	if isDigit(v[0]) {
		secs, ok := parseDelaySeconds(v)
		if !ok {
			return 0, false
		}
		d = time.Duration(secs) * time.Second // secs ≤ 2^31: no overflow
	} else {
		t, ok := parseHTTPDate(v)
		if !ok {
			return 0, false
		}
		d = t.Sub(now) // saturates instead of overflowing
		if d < 0 {
			d = 0
		}
	}
	if max > 0 && d > max {
		d = max
	}
	return d, true
}

// parseDelaySeconds parses 1*DIGIT, saturating at maxRetryAfterSeconds.
func parseDelaySeconds(v string) (int64, bool) {
	var n int64
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !isDigit(c) {
			return 0, false
		}
		if n < maxRetryAfterSeconds {
			n = n*10 + int64(c-'0')
		}
	}
	return min(n, maxRetryAfterSeconds), true
}

func parseHTTPDate(v string) (time.Time, bool) {
	for _, layout := range httpDateLayouts {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
