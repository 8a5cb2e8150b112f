#!/usr/bin/env bash
# Regenerates benchmarks/RESULTS.md from one run of every benchmark in the
# module (micro benchmarks and the soak suite at HERZ_SOAK per scenario).
#   bash benchmarks/results.sh            # BENCHTIME=1s HERZ_SOAK=10s by default
set -euo pipefail
cd "$(dirname "$0")/.."
BENCHTIME="${BENCHTIME:-1s}"
export HERZ_SOAK="${HERZ_SOAK:-10s}"
out="$(mktemp)"
cmd="HERZ_SOAK=$HERZ_SOAK go test -run '^\$' -bench . -benchmem -benchtime $BENCHTIME -timeout 0 ./..."
go test -run '^$' -bench . -benchmem -benchtime "$BENCHTIME" -timeout 0 ./... | tee "$out"
go run ./benchmarks/internal/mkresults -cmd "$cmd" < "$out" > benchmarks/RESULTS.md
rm -f "$out"
echo "wrote benchmarks/RESULTS.md"
