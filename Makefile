# herz — the two commands a user needs are `make demo` and `make test`.
GO      ?= go
PKGS    ?= ./...
FUZZTIME ?= 5s
BENCHTIME ?= 1s
SOAK    ?= 30s

.PHONY: test tidy-check vet fmt-check unit pg-restart driver-suites demo bench soak fuzz results

## test: go.mod tidy check, gofmt check, go vet, the race-enabled test suite (integration tests included), short fuzz runs.
test: tidy-check fmt-check vet unit pg-restart fuzz

## tidy-check: fails when `go mod tidy` would change go.mod or go.sum. It runs
## `go mod tidy -diff`, which writes nothing and exits non-zero with the diff
## it would apply (a missing or unused requirement, a wrong "// indirect"
## marker, a missing or stale go.sum line). Modules needed only by tests and
## benchmarks are kept by tidy, so they pass. It needs the module cache or
## the module proxy to load every dependency's go.mod.
tidy-check:
	@$(GO) mod tidy -diff || { echo "tidy-check: go.mod/go.sum are not tidy (the diff above is what 'go mod tidy' would change)"; exit 1; }

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

unit:
	$(GO) test -race -count=1 -timeout 15m $(PKGS)

## pg-restart: stops and starts the local PostgreSQL cluster for real under a herz pool and a bare
## pgx pool (sqlconn's TestPostgresRestartForReal); alone, after every other test. Needs root.
pg-restart:
	HERZ_PG_RESTART=1 $(GO) test -race -count=1 -run '^TestPostgresRestartForReal$$' ./sqlconn/

## driver-suites: go-sql-driver/mysql's and lib/pq's own database/sql test suites, plain and through sqlconn
driver-suites:
	GO=$(GO) ./sqlconn/internal/driversuites/run.sh

## demo: the chaos demo — misbehaving local servers, stdlib vs herz side by side.
demo:
	$(GO) run ./examples/chaos

## fuzz: a short bounded run of every fuzz target in the module. A failed run is shown and run
## once more: an input that made a target fail is saved under testdata/fuzz and fails the second run
## too, while a fuzzing engine hiccup on a loaded machine (a worker killed or hung) does not.
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz' || true); do \
	    echo "fuzz $$pkg $$f ($(FUZZTIME))"; \
	    out=$$($(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg 2>&1) || { echo "$$out" | tail -30; \
	      echo "fuzz $$pkg $$f failed; running it again"; \
	      $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || { echo "FAIL: $$pkg $$f"; exit 1; }; }; \
	  done; \
	done

## bench: the micro benchmarks (herz vs stdlib in the same run), benchstat-readable.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./...

## soak: the long soak run under real faults; SOAK sets the duration per scenario.
soak:
	HERZ_SOAK=$(SOAK) $(GO) test -run '^$$' -bench 'BenchmarkSoak' -benchtime 1x -timeout 0 ./benchmarks/
