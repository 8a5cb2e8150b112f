package telemetry

// CachedProbeSets returns how many attribute sets r's Probe cache holds.
func CachedProbeSets(r *Recorder) int {
	r.probeSets.mu.RLock()
	defer r.probeSets.mu.RUnlock()
	return len(r.probeSets.m)
}

// MaxCachedSets exports the bound of each attribute set cache.
const MaxCachedSets = maxCachedSets
