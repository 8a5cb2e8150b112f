// Command soak soaks two HTTP clients side by side under real faults with
// the public package faultlab: the standard library's default transport and
// herz's drop-in transport, each built fresh for each scenario, and prints
// what their callers saw. It is the program form of the benchmark file a
// user keeps in their own repository (soak_test.go next to this file):
//
//	go run ./examples/soak            # 1s per scenario and client
//	go run ./examples/soak -d 10s
//	go test -run '^$' -bench Soak -benchtime 1x ./examples/soak
//
// Output of one run (`go run ./examples/soak`, shared 2-core VM; your
// figures will differ, and vary from run to run):
//
//	scenario           client  ops   errors/op  dups  p50     p99      new-conns  left-goroutines  left-fds
//	idle-close-post    stdlib  132   0          0     0.11ms  1.88ms   10         0                0
//	idle-close-post    herz    134   0          0     0.09ms  0.99ms   11         0                0
//	rst-storm          stdlib  1525  0.06098    0     0.15ms  1.79ms   417        0                0
//	rst-storm          herz    1119  0.04915    0     0.15ms  49.66ms  519        0                0
//	outage-and-return  stdlib  723   0.343      0     0.07ms  1.45ms   104        0                0
//	outage-and-return  herz    468   0          0     0.14ms  3.98ms   104        0                0
//	503-storm          stdlib  695   0.5036     0     0.12ms  1.53ms   124        0                0
//	503-storm          herz    312   0.4423     0     0.06ms  2.10ms   26         0                0
//	goaway             stdlib  1046  0          0     0.16ms  5.58ms   14         0                0
//	goaway             herz    1376  0          0     0.16ms  3.21ms   11         0                0
package main
