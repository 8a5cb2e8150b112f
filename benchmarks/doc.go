// Package benchmarks holds herz's same-run comparisons with the standard
// library and its soak benchmarks under real faults. Run `make bench` for the
// short set and `make soak` for the long one; `bash benchmarks/results.sh`
// regenerates RESULTS.md.
package benchmarks
