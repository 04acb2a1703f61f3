#!/usr/bin/env bash
# Runs every benchmark side by side in one run and writes docs/benchmarks.md
# and docs/benchmarks.png: the SDK benchmarks, `openssl speed`, the logout
# propagation harness, then bench/compare.sh (sigil-bench against a real
# sigild, node oidc-provider, jose, fast-jwt, PyJWT), then
# bench/instructions.sh (instructions per call under callgrind). Usage:
# bench/run.sh (after scripts/build.sh and bench/install-peers.sh);
# BUILD_DIR picks another build directory, taken relative to the repository
# root; RAW_DIR, if set, receives the raw results the page is made from.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
uptime >"$out/load.txt"
command -v gnuplot >/dev/null || { echo "gnuplot missing: run bench/install-peers.sh" >&2; exit 1; }

# The authority in these binaries logs every issue and logout to stderr.
echo "client_bench" >&2
"$build/bench/client_bench" --benchmark_min_time=2 \
  --benchmark_format=json >"$out/bench.json" 2>/dev/null
echo "openssl speed" >&2
openssl speed -seconds 3 ecdsap256 ed25519 rsa2048 2>/dev/null >"$out/openssl.txt"
echo "propagation_bench" >&2
if ! "$build/bench/propagation_bench" --subscribers=100 --rounds=30 --json \
  >"$out/propagation.json" 2>"$out/propagation.err"; then
  grep -v -e ' issue subject=' -e ' revoke seq=' "$out/propagation.err" >&2
  exit 1
fi
BUILD_DIR=$build bench/compare.sh "$out"
echo "instructions per call (callgrind)" >&2
BUILD_DIR=$build bench/instructions.sh health verify issue logout refresh \
  >"$out/instructions.md"

uptime >>"$out/load.txt"
python3 bench/report.py "$out" "$out/plot.dat" >"$out/benchmarks.md"
gnuplot -e "data='$out/plot.dat'; out='docs/benchmarks.png'" bench/plot.gp
mv "$out/benchmarks.md" docs/benchmarks.md
if [[ -n ${RAW_DIR:-} ]]; then
  mkdir -p "$RAW_DIR"
  cp "$out"/* "$RAW_DIR"/
fi
echo "wrote docs/benchmarks.md and docs/benchmarks.png"
