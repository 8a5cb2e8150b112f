package breaker

// EffectiveConfig returns the Registry's frozen Config, defaults filled in.
func EffectiveConfig(r *Registry) Config { return r.cfg }

// Trips returns the trip count of key's breaker, -1 if the Registry does not
// hold key.
func Trips(r *Registry, key string) int64 {
	r.mu.Lock()
	e, ok := r.keys.Peek(key)
	r.mu.Unlock()
	if !ok {
		return -1
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.trips
}

// Window exposes the closed state's rolling result counter.
type Window struct{ w window }

// NewWindow returns an empty Window of ten buckets of period ns, started at 0.
func NewWindow(period int64) *Window {
	w := new(Window)
	w.w.reset(period, 0)
	return w
}

// Success counts a success at now.
func (w *Window) Success(now int64) { w.w.success(now) }

// Failure counts a failure at now.
func (w *Window) Failure(now int64) { w.w.failure(now) }

// Counts returns the successes, failures and consecutive failures in the
// window at now.
func (w *Window) Counts(now int64) (successes, failures, consecutive uint64) {
	w.w.roll(now)
	return w.w.successes, w.w.failures, w.w.consecutiveFailures()
}
