#!/usr/bin/env bash
# Regenerates benchmarks/RESULTS.md from one run of every benchmark in the
# module (micro benchmarks and the soak suite at HERZ_SOAK per scenario).
#   bash benchmarks/results.sh            # BENCHTIME=1s HERZ_SOAK=10s by default
set -euo pipefail
cd "$(dirname "$0")/.."
BENCHTIME="${BENCHTIME:-1s}"
export HERZ_SOAK="${HERZ_SOAK:-10s}"
# The soak suite draws each scenario's clients over time into benchmarks/figures.
rm -rf benchmarks/figures
export HERZ_FIGURES="$PWD/benchmarks/figures"
out="$(mktemp)"
cmd="HERZ_SOAK=$HERZ_SOAK HERZ_FIGURES=benchmarks/figures go test -run '^\$' -bench . -benchmem -benchtime $BENCHTIME -timeout 0 ./..."
go test -run '^$' -bench . -benchmem -benchtime "$BENCHTIME" -timeout 0 ./... | tee "$out"
go run ./benchmarks/internal/mkresults -cmd "$cmd" -figures benchmarks/figures < "$out" > benchmarks/RESULTS.md
rm -f "$out"
echo "wrote benchmarks/RESULTS.md"
