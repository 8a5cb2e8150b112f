package telemetry

// CachedProbeSets returns how many attribute sets r's Probe cache holds.
func CachedProbeSets(r *Recorder) int { return r.probeSets.len() }

// MaxCachedSets exports the bound of each attribute set cache.
const MaxCachedSets = maxCachedSets
