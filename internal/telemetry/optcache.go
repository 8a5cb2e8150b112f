package telemetry

import (
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// maxCachedSets bounds each optCache: past it the cache starts over, so
// random peers cannot grow memory while the addresses in use are cached again
// on their next record.
const maxCachedSets = 1024

// optCache memoises the measurement option (the attribute set, already
// boxed) of each combination of raw attribute inputs, keyed by the strings
// the caller passed (the peer before normalisation). Building a set — the
// Peer parse, sorting, hashing, three allocations — costs several times the
// SDK's own Add; a hit costs a read-locked map lookup and no allocation.
// It is safe for concurrent use.
type optCache[K comparable] struct {
	mu sync.RWMutex // guards m
	m  map[K]metric.MeasurementOption
}

// get returns the option for k, building its attribute set with build on a
// miss. build must be a pure function of k.
func (c *optCache[K]) get(k K, build func(K) attribute.Set) metric.MeasurementOption {
	c.mu.RLock()
	opt, ok := c.m[k]
	c.mu.RUnlock()
	if ok {
		return opt
	}
	opt = metric.WithAttributeSet(build(k))
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxCachedSets {
		c.m = make(map[K]metric.MeasurementOption)
	}
	c.m[k] = opt
	c.mu.Unlock()
	return opt
}
