#!/usr/bin/env bash
# Instructions sigild executes per call of each sigil-bench scenario,
# counted by valgrind's callgrind: unlike a rate, the count hardly moves
# when other work shares the machine, so it shows what a change saved.
# Each scenario runs twice against a fresh sigild under callgrind, with
# N1 and N2 calls (concurrency 4); the difference of the two totals over
# N2 - N1 is the cost of a call without start-up and shutdown.
#
# Usage: bench/instructions.sh [SCENARIO...] (default: health verify issue
# logout); after scripts/build.sh and bench/install-peers.sh (valgrind).
# BUILD_DIR picks another build directory, N1/N2 the call counts.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
n1=${N1:-500}
n2=${N2:-2500}
command -v valgrind >/dev/null ||
  { echo "valgrind missing: run bench/install-peers.sh" >&2; exit 1; }
sigild=$build/server/sigild
bench_bin=$build/bench/load/sigil-bench
[[ -x $sigild && -x $bench_bin ]] || { echo "build first" >&2; exit 1; }
scenarios=("$@")
[ ${#scenarios[@]} -gt 0 ] || scenarios=(health verify issue logout)

work=$(mktemp -d "${TMPDIR:-/tmp}/sigil_instructions.XXXXXX")
pid=""
cleanup() {
  [[ -n $pid ]] && kill "$pid" 2>/dev/null
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# total SCENARIO CALLS: callgrind's instruction total for a sigild that
# started, served CALLS calls of SCENARIO and shut down.
total() {
  rm -rf "$work/data" "$work/callgrind.out"
  valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.out" \
    "$sigild" --listen=127.0.0.1:0 --data_dir="$work/data" \
    >"$work/sigild.log" 2>&1 &
  pid=$!
  local port=""
  for ((i = 0; i < 600; i++)); do
    port=$(sed -n 's/.*serving on [^ ]* (port \([0-9]*\)).*/\1/p' \
      "$work/sigild.log")
    [[ -n $port ]] && break
    kill -0 "$pid" 2>/dev/null || { cat "$work/sigild.log" >&2; exit 1; }
    sleep 0.1
  done
  [[ -n $port ]] || { echo "sigild did not start" >&2; exit 1; }
  "$bench_bin" --target="127.0.0.1:$port" --scenario="$1" --concurrency=4 \
    --count="$2" --max_time=600s --warmup=0 --json >"$work/bench.json"
  kill -TERM "$pid"
  wait "$pid" || true
  pid=""
  awk '/^(summary|totals):/ {print $2; exit}' "$work/callgrind.out"
}

echo "| scenario | instructions per call (sigild) |"
echo "|---|---|"
for scenario in "${scenarios[@]}"; do
  first=$(total "$scenario" "$n1")
  second=$(total "$scenario" "$n2")
  printf '| %s | %s |\n' "$scenario" \
    "$(((second - first) / (n2 - n1)))"
done
