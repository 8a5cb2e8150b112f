package transport

import (
	"net/http"
	"time"
)

// maxKeepAliveTimeout bounds the timeouts taken from Keep-Alive headers: a
// server claiming to keep idle connections for more than a day is wrong or
// hostile, and the bound keeps the arithmetic far from overflow.
const maxKeepAliveTimeout = 24 * time.Hour

// parseKeepAlive returns the timeout parameter of a Keep-Alive response
// header value (RFC 2068 §19.7.1.1, still sent by Apache, nginx and
// Node.js), e.g. "timeout=5, max=1000" gives 5s. Parameter names are
// case-insensitive, whitespace around names, "=" and values is ignored, and
// the value may be quoted. It returns false when there is no timeout
// parameter, or when its value is not a positive whole number of seconds of
// at most a day. It never panics and does not allocate.
func parseKeepAlive(v string) (time.Duration, bool) {
	for len(v) > 0 {
		var param string
		param, v = cut(v, ',')
		name, value := cut(param, '=')
		if !equalFold(trimSpace(name), "timeout") {
			continue
		}
		value = trimSpace(value)
		if len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"' {
			value = value[1 : len(value)-1]
		}
		if value == "" {
			return 0, false
		}
		var secs int64
		for i := 0; i < len(value); i++ {
			c := value[i]
			if c < '0' || c > '9' {
				return 0, false
			}
			secs = secs*10 + int64(c-'0')
			if secs > int64(maxKeepAliveTimeout/time.Second) {
				return 0, false
			}
		}
		if secs == 0 {
			return 0, false
		}
		return time.Duration(secs) * time.Second, true
	}
	return 0, false
}

// keepAliveTimeout returns the timeout of h's Keep-Alive header, if any. The
// header map is read directly: no canonicalisation, no allocation.
func keepAliveTimeout(h http.Header) (time.Duration, bool) {
	vs := h["Keep-Alive"]
	for _, v := range vs {
		if d, ok := parseKeepAlive(v); ok {
			return d, true
		}
	}
	return 0, false
}

// cut splits s at the first sep.
func cut(s string, sep byte) (before, after string) {
	for i := 0; i < len(s); i++ {
		if s[i] == sep {
			return s[:i], s[i+1:]
		}
	}
	return s, ""
}

func trimSpace(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// equalFold reports whether s equals the lower-case ASCII word lower,
// ignoring ASCII case.
func equalFold(s, lower string) bool {
	if len(s) != len(lower) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}
