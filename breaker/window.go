package breaker

// window counts the results a closed breaker got over the last Config.Window,
// in windowBuckets buckets of Window/windowBuckets (rounded up): a bucket's
// results age out together when it leaves the window. It is gobreaker's
// rolling window, kept here so that a result in the closed state costs one
// clock read and no call into gobreaker.
//
// Results are counted in the bucket of the instant they are reported.
type window struct {
	period int64 // bucket length in ns, at least 1
	start  int64 // Registry.now() when counting (re)started
	age    int64 // (now - start) / period of the newest bucket

	successes, failures uint64 // totals over the buckets
	buckets             [windowBuckets]bucket
}

// bucket is one period's results.
type bucket struct {
	successes, failures uint64
	// run is the number of failures since the bucket's last success, or
	// all of its failures if it had none.
	run uint64
}

// reset empties w and starts counting at now, in buckets of period.
func (w *window) reset(period, now int64) {
	*w = window{period: period, start: now}
}

// roll ages out the buckets that have left the window at now.
func (w *window) roll(now int64) {
	age := (now - w.start) / w.period
	if age <= w.age {
		return
	}
	if age-w.age >= windowBuckets {
		w.reset(w.period, w.start)
		w.age = age
		return
	}
	for w.age < age {
		w.age++
		b := &w.buckets[w.age%windowBuckets]
		w.successes -= b.successes
		w.failures -= b.failures
		*b = bucket{}
	}
}

// success counts a success at now; it ends the run of failures.
func (w *window) success(now int64) {
	w.roll(now)
	b := &w.buckets[w.age%windowBuckets]
	b.successes++
	b.run = 0
	w.successes++
}

// failure counts a failure at now.
func (w *window) failure(now int64) {
	w.roll(now)
	b := &w.buckets[w.age%windowBuckets]
	b.failures++
	b.run++
	w.failures++
}

// consecutiveFailures returns the number of failures in the window since
// the last success in it.
func (w *window) consecutiveFailures() uint64 {
	var run uint64
	for i := range int64(windowBuckets) {
		b := &w.buckets[(w.age-i)%windowBuckets]
		run += b.run
		if b.successes > 0 || w.age-i == 0 {
			break
		}
	}
	return run
}
