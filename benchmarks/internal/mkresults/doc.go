// Command mkresults turns `go test -bench` output into benchmarks/RESULTS.md:
// one table per package, each benchmark with every metric it reported, plus
// the machine, the date and the command that produced the run.
//
//	go test -run '^$' -bench . -benchmem ./... | tee bench.txt
//	go run ./benchmarks/internal/mkresults -cmd "..." < bench.txt > benchmarks/RESULTS.md
package main
