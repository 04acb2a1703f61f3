#!/usr/bin/env bash
# The scale benchmarks in one run, written to docs/scale.md: Verify
# throughput and sigild's memory with 0, 1 million and 10 million live
# revocations in its data dir (filled by bench/scale/populate_revocations,
# unsynced, bench only), sigild's start-up time on each dir,
# LogoutFromSystem latency for a subject with 10,000 sessions, and the
# SDK's memory per cached verdict.
#
# Usage: bench/scale.sh (after scripts/build.sh). BUILD_DIR picks another
# build directory, COUNTS the revocation counts (default "0 1000000
# 10000000"; the first is the baseline), RUN_SECONDS the length of each
# Verify run (default 10), SCALE_DIR where the data dirs go (default a
# fresh temporary directory, removed at the end; 10 million revocations
# take about 1.5 GB of disk), RAW_DIR, if set, receives the raw results.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
read -r -a counts <<<"${COUNTS:-0 1000000 10000000}"
seconds=${RUN_SECONDS:-10}
tools=$build/bench/scale
for bin in "$build/server/sigild" "$build/bench/load/sigil-bench" \
  "$tools/populate_revocations" "$tools/logout_latency" \
  "$tools/sdk_cache_memory"; do
  [[ -x $bin ]] || { echo "build first: $bin missing" >&2; exit 1; }
done

out=$(mktemp -d "${TMPDIR:-/tmp}/sigil_scale_out.XXXXXX")
if [[ -n ${SCALE_DIR:-} ]]; then
  work=$SCALE_DIR
  mkdir -p "$work"
  keep_work=1
else
  work=$(mktemp -d "${TMPDIR:-/tmp}/sigil_scale.XXXXXX")
  keep_work=0
fi
sigild_pid=""
cleanup() {
  if [[ -n $sigild_pid ]]; then
    kill "$sigild_pid" 2>/dev/null || true
    wait "$sigild_pid" 2>/dev/null || true
  fi
  ((keep_work)) || rm -rf "$work"
  rm -rf "$out"
}
trap cleanup EXIT

nproc >"$out/nproc.txt"
uptime >"$out/load.txt"

# Each dir is filled once; a SCALE_DIR from an earlier run is reused.
for n in "${counts[@]}"; do
  dir=$work/data_$n
  if [[ -f $dir/populated.json ]]; then
    cp "$dir/populated.json" "$out/populate_$n.json"
    continue
  fi
  rm -rf "$dir"
  echo "populate $n revocations" >&2
  "$tools/populate_revocations" --data_dir="$dir" --count="$n" \
    >"$out/populate_$n.json"
  cp "$out/populate_$n.json" "$dir/populated.json"
done

# start_sigild N: starts sigild on data_$N, waits until it serves, and
# records the launch instant and the log; sets sigild_pid and port.
start_sigild() {
  local log=$out/sigild_$1.log
  date +%s.%N >"$out/launch_$1.txt"
  "$build/server/sigild" --listen=127.0.0.1:0 --data_dir="$work/data_$1" \
    >"$log" 2>&1 &
  sigild_pid=$!
  local line=""
  for ((i = 0; i < 6000; i++)); do
    line=$(grep -m1 -e "sigild serving on" "$log" || true)
    [[ -n $line ]] && break
    kill -0 "$sigild_pid" 2>/dev/null ||
      { cat "$log" >&2; echo "sigild exited early" >&2; exit 1; }
    sleep 0.05
  done
  [[ -n $line ]] || { echo "sigild not serving after 300 s" >&2; exit 1; }
  port=$(sed -n 's/.*serving on [^ ]* (port \([0-9]*\)).*/\1/p' <<<"$line")
}

stop_sigild() {
  kill "$sigild_pid"
  wait "$sigild_pid" 2>/dev/null || true
  sigild_pid=""
}

memory() {
  grep -e '^VmRSS:' -e '^VmHWM:' "/proc/$sigild_pid/status"
}

for n in "${counts[@]}"; do
  echo "sigild on $n revocations" >&2
  start_sigild "$n"
  memory >"$out/memory_start_$n.txt"
  for scenario in verify verify_distinct; do
    echo "  sigil-bench $scenario" >&2
    "$build/bench/load/sigil-bench" --target="127.0.0.1:$port" --json \
      --scenario=$scenario --concurrency=16 --count=100000000 \
      --max_time="${seconds}s" --warmup=2000 --tokens=5000 \
      >"$out/${scenario}_$n.json"
  done
  memory >"$out/memory_end_$n.txt"
  if [[ $n == "${counts[-1]}" ]]; then
    echo "  logout_latency, 10000 sessions" >&2
    "$tools/logout_latency" --target="127.0.0.1:$port" --sessions=10000 \
      --rounds=5 >"$out/logout.json"
  fi
  stop_sigild
done
du -sb "$work"/data_* >"$out/disk.txt"

echo "sdk_cache_memory, 100000 tokens" >&2
"$tools/sdk_cache_memory" --tokens=100000 >"$out/sdk_cache.json" \
  2>"$out/sdk_cache.err"
uptime >>"$out/load.txt"

python3 bench/scale_report.py "$out" "${counts[@]}" >"$out/scale.md"
mv "$out/scale.md" docs/scale.md
if [[ -n ${RAW_DIR:-} ]]; then
  mkdir -p "$RAW_DIR"
  cp "$out"/* "$RAW_DIR"/
fi
echo "wrote docs/scale.md"
