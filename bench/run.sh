#!/usr/bin/env bash
# Runs the SDK benchmarks and `openssl speed` side by side and writes
# docs/benchmarks.md. Usage: bench/run.sh (after scripts/build.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

build/bench/client_bench --benchmark_min_time=2 \
  --benchmark_format=json >"$out/bench.json" 2>/dev/null
openssl speed -seconds 3 ecdsap256 ed25519 rsa2048 2>/dev/null >"$out/openssl.txt"

python3 - "$out/bench.json" "$out/openssl.txt" >docs/benchmarks.md <<'PY'
import json, re, sys
bench = {b["name"]: b["items_per_second"]
         for b in json.load(open(sys.argv[1]))["benchmarks"]}
speed = {}
for line in open(sys.argv[2]):
    m = re.match(r"\s*(\d+) bits (\w+) \((\w+)\)\s+\S+\s+\S+\s+([\d.]+)\s+([\d.]+)", line)
    if m:
        speed[m.group(3)] = float(m.group(5))
    m = re.match(r"rsa\s+2048 bits\s+\S+\s+\S+\s+([\d.]+)\s+([\d.]+)", line)
    if m:
        speed["rsa2048"] = float(m.group(2))
print("# Benchmarks\n")
print("Written by `bench/run.sh` (Google Benchmark and `openssl speed`, one run, "
      "same machine). Rates are per second.\n")
print("| benchmark | rate | beside |")
print("|---|---|---|")
for name in ("BM_CachedVerify/real_time/threads:1", "BM_CachedVerify/real_time/threads:2"):
    print(f"| SDK cached Verify, {name.split(':')[-1]} thread(s) | {bench[name]:,.0f} | |")
for alg, key in (("ES256", "nistp256"), ("EdDSA", "Ed25519"), ("RS256", "rsa2048")):
    rate = bench[f"BM_LocalMiss/{alg}"]
    ref = speed.get(key)
    ratio = f"{rate / ref:.2f} of openssl speed verify ({ref:,.0f}/s)" if ref else ""
    print(f"| local Verify on a cache miss, {alg} | {rate:,.0f} | {ratio} |")
PY
echo "wrote docs/benchmarks.md"
