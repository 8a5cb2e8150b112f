package main

// This file is what a service team keeps in its own repository: its own
// client constructors (here the standard library's and herz's, side by
// side) soaked under faultlab's scenarios by `go test -bench`:
//
//	go test -run '^$' -bench Soak -benchtime 1x -count 5 ./examples/soak | tee new.txt
//	benchstat old.txt new.txt
//
// Each result line carries the metrics of one run; from one run
// (-benchtime 1x, shared 2-core VM, columns aligned by hand):
//
//	BenchmarkSoak/idle-close-post/stdlib-2    1  0 dups  0 errors/op        0 leaked-fds  0 leaked-goroutines  10.00 new-conns  0.1386 p50-ms  1.393 p99-ms  131.0 reqs  1.000 srv-reqs/op
//	BenchmarkSoak/idle-close-post/herz-2      1  0 dups  0 errors/op        0 leaked-fds  0 leaked-goroutines  27.00 new-conns  0.1512 p50-ms  0.7675 p99-ms 131.0 reqs  1.000 srv-reqs/op
//	BenchmarkSoak/503-storm/stdlib-2          1  0 dups  0.4986 errors/op   0 leaked-fds  0 leaked-goroutines  148.0 new-conns  0.1343 p50-ms  0.8693 p99-ms 700.0 reqs  1.000 srv-reqs/op
//	BenchmarkSoak/503-storm/herz-2            1  0 dups  0.4534 errors/op   0 leaked-fds  0 leaked-goroutines  55.00 new-conns  0.07375 p50-ms 1.416 p99-ms  322.0 reqs  0.5652 srv-reqs/op

import (
	"testing"
	"time"

	"github.com/herz-go/herz/faultlab"
)

func BenchmarkSoak(b *testing.B) {
	for _, sc := range scenarios(time.Second) {
		b.Run(sc.Name, func(b *testing.B) {
			b.Run("stdlib", func(b *testing.B) { faultlab.Run(b, sc, stdlibClient) })
			b.Run("herz", func(b *testing.B) { faultlab.Run(b, sc, herzClient) })
		})
	}
}

// TestSoakHerzNeverDuplicatesAndSurvivesIdleCloses is the assertion a team
// adds next to the benchmark: the figures that must hold, checked on a short
// run of the same scenarios, herz against the standard library in the same
// run.
func TestSoakHerzNeverDuplicatesAndSurvivesIdleCloses(t *testing.T) {
	for _, sc := range scenarios(300 * time.Millisecond) {
		t.Run(sc.Name, func(t *testing.T) {
			std, err := faultlab.Soak(t.Context(), sc, stdlibClient)
			if err != nil {
				t.Fatal(err)
			}
			herz, err := faultlab.Soak(t.Context(), sc, herzClient)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("stdlib %v\nherz %v", std, herz)
			if herz.Duplicates != 0 || herz.Duplicates > std.Duplicates {
				t.Errorf("herz executed %d POSTs twice (stdlib %d)", herz.Duplicates, std.Duplicates)
			}
			if sc.Name == "idle-close-post" && herz.Errors > std.Errors {
				t.Errorf("herz: %d errors against a server closing idle conns, stdlib %d", herz.Errors, std.Errors)
			}
		})
	}
}
