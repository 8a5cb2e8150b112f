package telemetry

import (
	"sync"

	lru "github.com/hashicorp/golang-lru/v2"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// maxCachedSets bounds each optCache: past it the oldest combination is
// dropped, so random peers cannot grow memory while the addresses in use are
// cached again on their next record.
const maxCachedSets = 1024

// optCache memoises the measurement option (the attribute set, already
// boxed) of each combination of raw attribute inputs, keyed by the strings
// the caller passed (the peer before normalisation). Building a set — the
// Peer parse, sorting, hashing, three allocations — costs several times the
// SDK's own Add; a hit costs a read-locked lookup in a golang-lru cache and
// no allocation. A hit does not reorder the cache (that would take its
// exclusive lock on every record), so the combination dropped when it is
// full is the one added longest ago. The zero value is ready to use; it is
// safe for concurrent use.
type optCache[K comparable] struct {
	once sync.Once
	c    *lru.Cache[K, metric.MeasurementOption] // created by the first get
}

// get returns the option for k, building its attribute set with build on a
// miss. build must be a pure function of k.
func (c *optCache[K]) get(k K, build func(K) attribute.Set) metric.MeasurementOption {
	cache := c.cache()
	if opt, ok := cache.Peek(k); ok {
		return opt
	}
	opt := metric.WithAttributeSet(build(k))
	cache.Add(k, opt)
	return opt
}

// len returns the number of combinations cached.
func (c *optCache[K]) len() int { return c.cache().Len() }

// cache returns the golang-lru cache, creating it on first use.
func (c *optCache[K]) cache() *lru.Cache[K, metric.MeasurementOption] {
	c.once.Do(func() {
		// lru.New fails only for a size ≤ 0; maxCachedSets is a positive constant.
		c.c, _ = lru.New[K, metric.MeasurementOption](maxCachedSets)
	})
	return c.c
}
