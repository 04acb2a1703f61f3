#!/usr/bin/env bash
# smoke.sh FUZZER CORPUS_DIR FINDINGS_DIR SECONDS: runs one libFuzzer target
# from its seed corpus for SECONDS and fails on any finding, naming the
# input that reproduces it.
set -euo pipefail
if (($# != 4)); then
  echo "usage: $0 FUZZER CORPUS_DIR FINDINGS_DIR SECONDS" >&2
  exit 2
fi
readonly fuzzer=$1 corpus=$2 findings=$3 seconds=$4
[[ -d $corpus ]] || { echo "no seed corpus at $corpus" >&2; exit 1; }
mkdir -p "$findings"
status=0
"$fuzzer" "$corpus" -max_total_time="$seconds" -max_len=65536 -timeout=10 \
  -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$findings/" ||
  status=$?
if ((status != 0)); then
  echo "smoke: $(basename "$fuzzer") exited $status; reproduce with:" >&2
  find "$findings" -type f -printf "  $fuzzer %p\n" >&2
fi
exit "$status"
