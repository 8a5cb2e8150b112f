package breaker_test

import (
	"strconv"
	"testing"

	"github.com/herz-go/herz/breaker"
)

// benchAllowKeys runs Allow then done(nil) over keys in turn, on a Registry
// bounded by maxKeys: with more keys than maxKeys every call creates a
// breaker and evicts the least recently allowed one (the LRU's worst case).
func benchAllowKeys(b *testing.B, keys, maxKeys int) {
	r, err := breaker.New(breaker.Config{MaxKeys: maxKeys})
	if err != nil {
		b.Fatal(err)
	}
	names := make([]string, keys)
	for i := range names {
		names[i] = "10.0." + strconv.Itoa(i/256) + "." + strconv.Itoa(i%256) + ":443"
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		done, err := r.Allow(names[i%keys])
		if err != nil {
			b.Fatal(err)
		}
		done(nil)
	}
}

// BenchmarkAllowClosedManyKeys: 1000 hosts in turn, all held (the LRU
// reorders on every call).
func BenchmarkAllowClosedManyKeys(b *testing.B) { benchAllowKeys(b, 1000, 0) }

// BenchmarkAllowClosedChurn: 1024 hosts in turn through a Registry bounded
// at 256, so every call creates a breaker and evicts one.
func BenchmarkAllowClosedChurn(b *testing.B) { benchAllowKeys(b, 1024, 256) }
