package breaker_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/herz-go/herz/breaker"
)

// sampleEvery is how often the benchmarks time a single call for the p99:
// timing every call would double the cost of what is measured.
const sampleEvery = 8

// reportP99 reports the 99th percentile of samples (nanoseconds per call,
// including the cost of reading the clock twice, ~20-50ns) as "p99-ns".
func reportP99(b *testing.B, samples []time.Duration) {
	b.Helper()
	if len(samples) == 0 {
		return
	}
	slices.Sort(samples)
	b.ReportMetric(float64(samples[(len(samples)-1)*99/100].Nanoseconds()), "p99-ns")
}

// BenchmarkAllowOpen measures the rejection path: Allow on an open breaker,
// among 1024 keys.
func BenchmarkAllowOpen(b *testing.B) {
	r, err := breaker.New(breaker.Config{ConsecutiveFailures: 1, OpenBase: time.Hour, OpenMax: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	const key = "127.0.0.1:8080"
	for i := range 1024 {
		done, err := r.Allow(fmt.Sprintf("10.0.%d.%d:80", i/256, i%256))
		if err == nil {
			done(nil)
		}
	}
	done, err := r.Allow(key)
	if err != nil {
		b.Fatal(err)
	}
	done(errBoom)
	if r.State(key) != breaker.StateOpen {
		b.Fatal("breaker did not trip")
	}
	samples := make([]time.Duration, 0, b.N/sampleEvery+1)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if i%sampleEvery == 0 {
			t0 := time.Now()
			_, err = r.Allow(key)
			samples = append(samples, time.Since(t0))
		} else {
			_, err = r.Allow(key)
		}
		if err == nil {
			b.Fatal("open breaker allowed a call")
		}
	}
	b.StopTimer()
	reportP99(b, samples)
}

// BenchmarkAllowClosed measures the success path: Allow then done(nil) on a
// closed breaker.
func BenchmarkAllowClosed(b *testing.B) {
	r, err := breaker.New(breaker.Config{})
	if err != nil {
		b.Fatal(err)
	}
	const key = "127.0.0.1:8080"
	samples := make([]time.Duration, 0, b.N/sampleEvery+1)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		var t0 time.Time
		if i%sampleEvery == 0 {
			t0 = time.Now()
		}
		done, err := r.Allow(key)
		if err != nil {
			b.Fatal(err)
		}
		done(nil)
		if i%sampleEvery == 0 {
			samples = append(samples, time.Since(t0))
		}
	}
	b.StopTimer()
	reportP99(b, samples)
}

// BenchmarkAllowClosedParallel measures the success path from all Ps at
// once on one key, as a client sending every request to one host does.
func BenchmarkAllowClosedParallel(b *testing.B) {
	r, err := breaker.New(breaker.Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			done, err := r.Allow("k")
			if err != nil {
				b.Error(err)
				return
			}
			done(nil)
		}
	})
}

// BenchmarkAllowOpenParallel measures the rejection path from all Ps at
// once on one key, the worst case for the Registry's lock.
func BenchmarkAllowOpenParallel(b *testing.B) {
	r, err := breaker.New(breaker.Config{ConsecutiveFailures: 1, OpenBase: time.Hour, OpenMax: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	done, err := r.Allow("k")
	if err != nil {
		b.Fatal(err)
	}
	done(errBoom)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := r.Allow("k"); err == nil {
				b.Error("open breaker allowed a call")
				return
			}
		}
	})
}
