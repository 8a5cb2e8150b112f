package breaker

// EffectiveConfig returns the Registry's frozen Config, defaults filled in.
func EffectiveConfig(r *Registry) Config { return r.cfg }

// Trips returns the trip count of key's breaker, -1 if the Registry does not
// hold key.
func Trips(r *Registry, key string) int64 {
	r.mu.Lock()
	e := r.keys[key]
	r.mu.Unlock()
	if e == nil {
		return -1
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.trips
}
