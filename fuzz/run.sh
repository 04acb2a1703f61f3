#!/usr/bin/env bash
# Builds the libFuzzer targets with clang into BUILD_DIR and runs each for
# SECONDS (default 600), one after the other, then prints every target's
# executions and findings (crash, leak, timeout and OOM files).
#
#   fuzz/run.sh BUILD_DIR [SECONDS]      (JOBS=N for the build, default 2)
#
# PARALLEL=1 runs the targets side by side instead, each for SECONDS of
# wall time (sharing the cores, so each gets fewer executions).
#
# Corpora grow in BUILD_DIR/fuzz-corpus/<target> across runs; findings land
# in BUILD_DIR/fuzz-findings/<target>, logs in BUILD_DIR/fuzz-logs. Rerun a
# finding with: BUILD_DIR/fuzz/<target> <finding file>.
set -euo pipefail

if [[ $# -lt 1 || $# -gt 2 ]]; then
  echo "usage: $0 BUILD_DIR [SECONDS]" >&2
  exit 2
fi
build_dir=$(realpath -m "$1")
seconds=${2:-600}
source_dir=$(cd "$(dirname "$0")/.." && pwd)
vectors_dir="$source_dir/tests/vectors"
targets=(json_fuzzer base64url_fuzzer jwt_fuzzer jwks_fuzzer wire_fuzzer)

CC=clang CXX=clang++ cmake -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSIGIL_FUZZ=ON -DSIGIL_BUILD_TESTS=OFF -S "$source_dir" -B "$build_dir" \
  >/dev/null
ninja -C "$build_dir" -j"${JOBS:-2}" "${targets[@]}" sigil_fuzz_seeds

corpus_root="$build_dir/fuzz-corpus"
findings_root="$build_dir/fuzz-findings"
logs="$build_dir/fuzz-logs"
mkdir -p "$corpus_root" "$findings_root" "$logs"
"$build_dir/fuzz/sigil_fuzz_seeds" "$corpus_root" "$vectors_dir"

# Findings of earlier runs stay; the summary counts this run's only.
stamp="$logs/.run-start"
touch "$stamp"
fuzz_one() {
  local target=$1
  local corpus="$corpus_root/$target"
  local findings="$findings_root/$target"
  mkdir -p "$corpus" "$findings"
  echo "== $target: ${seconds}s"
  # Fork mode keeps fuzzing past a finding, so one run reports them all.
  "$build_dir/fuzz/$target" "$corpus" -fork=1 -ignore_crashes=1 \
    -ignore_timeouts=1 -ignore_ooms=1 -max_total_time="$seconds" \
    -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$findings/" >"$logs/$target.log" 2>&1 || true
}

if [[ "${PARALLEL:-0}" == 1 ]]; then
  for target in "${targets[@]}"; do fuzz_one "$target" & done
  wait
else
  for target in "${targets[@]}"; do fuzz_one "$target"; done
fi

summary=()
for target in "${targets[@]}"; do
  # The last progress line of fork mode: "#<executions>: cov: ...".
  runs=$(grep -o '^#[0-9]*:' "$logs/$target.log" | tail -n 1 | tr -d '#:')
  found=$(find "$findings_root/$target" -type f -newer "$stamp" | wc -l)
  summary+=("$(printf '%-18s %12s executions  %3d findings  corpus %5d' \
    "$target" "${runs:-?}" "$found" \
    "$(find "$corpus_root/$target" -type f | wc -l)")")
done

echo
echo "== summary (${seconds}s per target; findings in $findings_root)"
printf '%s\n' "${summary[@]}"
find "$findings_root" -type f -newer "$stamp" -printf '  %p\n'
