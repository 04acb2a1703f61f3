#!/usr/bin/env bash
# sigild's start-up to SERVING on data dirs holding N live revocations,
# before and after the index snapshot: the first start finds no snapshot
# and scans the whole revocation table (what every start did before); its
# SIGTERM writes <data_dir>/index.snapshot; the next ROUNDS starts load it
# (each stop writes it again, with nothing to replay). Prints one JSON line
# per start.
#
# Usage: bench/scale/startup.sh (after building sigild and
# populate_revocations). BUILD_DIR picks the build directory (default
# build), COUNTS the revocation counts (default "0 1000000 10000000"),
# ROUNDS the snapshot starts per count (default 3), SCALE_DIR where the
# data dirs go (default a fresh temporary directory, removed at the end;
# a data_N dir holding populated.json from an earlier run is reused; 10
# million revocations take about 1.5 GB of disk and several minutes to
# fill, in batches of 1024 appends).
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${BUILD_DIR:-build}
read -r -a counts <<<"${COUNTS:-0 1000000 10000000}"
rounds=${ROUNDS:-3}
for bin in "$build/server/sigild" "$build/bench/scale/populate_revocations"; do
  [[ -x $bin ]] || { echo "build first: $bin missing" >&2; exit 1; }
done
if [[ -n ${SCALE_DIR:-} ]]; then
  work=$SCALE_DIR
  mkdir -p "$work"
  keep_work=1
else
  work=$(mktemp -d "${TMPDIR:-/tmp}/sigil_startup.XXXXXX")
  keep_work=0
fi
pid=""
cleanup() {
  if [[ -n $pid ]]; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  ((keep_work)) || rm -rf "$work"
}
trap cleanup EXIT

# start_stop N KIND: starts sigild on data_N, times exec to the "sigild
# serving on" line (logged once the index is loaded and the health service
# says SERVING), then SIGTERM and times the stop (which writes the
# snapshot); prints a JSON line.
starts=0
start_stop() {
  starts=$((starts + 1))
  # A fresh log each start: never a line of the previous one.
  local dir=$work/data_$1 log=$work/sigild_$1_$starts.log
  local t0 t1 t2 t3 line="" how
  rm -f "$log"
  t0=$(date +%s.%N)
  "$build/server/sigild" --listen=127.0.0.1:0 --data_dir="$dir" >"$log" 2>&1 &
  pid=$!
  for ((i = 0; i < 12000; i++)); do
    line=$(grep -s -m1 -e "sigild serving on" "$log" || true)
    [[ -n $line ]] && break
    kill -0 "$pid" 2>/dev/null ||
      { cat "$log" >&2; echo "sigild exited early" >&2; exit 1; }
    sleep 0.01
  done
  t1=$(date +%s.%N)
  [[ -n $line ]] || { echo "sigild not serving after 120 s" >&2; exit 1; }
  how=$(grep -o -m1 -e "revocation index loaded [a-z ]*" "$log" || true)
  local rss
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
  t2=$(date +%s.%N)
  kill -TERM "$pid"
  wait "$pid" || true
  pid=""
  t3=$(date +%s.%N)
  local load_line
  load_line=$(grep -m1 -e "revocation index loaded" "$log" || true)
  printf '{"revocations": %s, "start": "%s", "serving_seconds": %.3f, "stop_seconds": %.3f, "rss_kib": %s, "index": "%s", "load": "%s", "snapshot_bytes": %s}\n' \
    "$1" "$2" "$(echo "$t1 - $t0" | bc)" "$(echo "$t3 - $t2" | bc)" \
    "$rss" "$how" "$(sed 's/"/\\"/g' <<<"$load_line")" \
    "$(stat -c %s "$dir/index.snapshot" 2>/dev/null || echo 0)"
}

for n in "${counts[@]}"; do
  dir=$work/data_$n
  if [[ ! -f $dir/populated.json ]]; then
    rm -rf "$dir"
    echo "populate $n revocations" >&2
    "$build/bench/scale/populate_revocations" --data_dir="$dir" --count="$n" \
      --batch=1024 >"$work/populate_$n.json"
    cp "$work/populate_$n.json" "$dir/populated.json"
  fi
  rm -f "$dir/index.snapshot"
  # Warm the page cache as a restart finds it: read the files once.
  cat "$dir"/db/* >/dev/null 2>&1 || true
  start_stop "$n" full_scan
  for ((r = 0; r < rounds; r++)); do
    start_stop "$n" snapshot
  done
done
