#!/usr/bin/env bash
# Runs the SDK benchmarks, `openssl speed` and the logout propagation
# harness side by side and writes docs/benchmarks.md. Usage: bench/run.sh
# (after scripts/build.sh); BUILD_DIR picks another build directory, taken
# relative to the repository root.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# The authority in these binaries logs every issue and logout to stderr.
"$build/bench/client_bench" --benchmark_min_time=2 \
  --benchmark_format=json >"$out/bench.json" 2>/dev/null
openssl speed -seconds 3 ecdsap256 ed25519 rsa2048 2>/dev/null >"$out/openssl.txt"
if ! "$build/bench/propagation_bench" --subscribers=100 --rounds=30 --json \
  >"$out/propagation.json" 2>"$out/propagation.err"; then
  grep -v -e ' issue subject=' -e ' revoke seq=' "$out/propagation.err" >&2
  exit 1
fi

python3 - "$out/bench.json" "$out/openssl.txt" "$out/propagation.json" \
  >docs/benchmarks.md <<'PY'
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
prop = json.load(open(sys.argv[3]))
print("# Benchmarks\n")
print("Written by `bench/run.sh` (Google Benchmark, `openssl speed` and "
      "`propagation_bench`, one run, same machine, the authority in-process "
      "on loopback). Rates are per second.\n")
print("| benchmark | rate | beside |")
print("|---|---|---|")
for name in ("BM_CachedVerify/real_time/threads:1", "BM_CachedVerify/real_time/threads:2"):
    print(f"| SDK cached Verify, {name.split(':')[-1]} thread(s) | {bench[name]:,.0f} | |")
for alg, key in (("ES256", "nistp256"), ("EdDSA", "Ed25519"), ("RS256", "rsa2048")):
    rate = bench[f"BM_LocalMiss/{alg}"]
    ref = speed.get(key)
    ratio = f"{rate / ref:.2f} of openssl speed verify ({ref:,.0f}/s)" if ref else ""
    print(f"| local Verify on a cache miss, {alg} | {rate:,.0f} | {ratio} |")
for threads in (1, 2):
    rate = bench[f"BM_RemoteVerify/real_time/threads:{threads}"]
    empty = bench[f"BM_HealthCheck/real_time/threads:{threads}"]
    print(f"| remote Verify on a cache miss (ES256), {threads} thread(s) | "
          f"{rate:,.0f} | costs {empty / rate:.1f}x an empty health Check "
          f"({empty:,.0f}/s) |")
print()
print("## Logout propagation\n")
print(f"From the `LogoutFromSystem` reply until each of {prop['subscribers']} "
      "local-mode SDK clients (one TCP connection each) has applied the "
      "revocation, so its cached verdict no longer counts; every client "
      "then rejects the token. "
      f"{prop['rounds']} rounds, {prop['samples']} samples, in ms; an upper "
      "bound, as the poller shares the cores with the clients' threads. "
      f"{prop['at_first_sweep']} samples were applied at the first look after "
      "the reply: the authority publishes before it replies.\n")
print("| subscribers | p50 | p99 | p99.9 | max | goal: p99 under 5 ms |")
print("|---|---|---|---|---|---|")
p999 = prop["p999_ms"]
p999 = f"{p999:.3f}" if p999 is not None else ""
goal = "met" if prop["p99_ms"] < 5 else "missed"
print(f"| {prop['subscribers']} | {prop['p50_ms']:.3f} | {prop['p99_ms']:.3f} | "
      f"{p999} | {prop['max_ms']:.3f} | {goal} |")
print()
print("Counted instead from just before the `LogoutFromSystem` request (so "
      "including the authority's synced write): "
      f"p50 {prop['request_p50_ms']:.3f} ms, p99 {prop['request_p99_ms']:.3f} ms. "
      "Three warm-up rounds run first and are not counted.")
print()
print("Per-round max, ms: " + ", ".join(f"{v:.3f}" for v in prop["round_max_ms"]))
print()
print("## Commands\n")
print("```")
print("build/bench/client_bench --benchmark_min_time=2 --benchmark_format=json")
print("openssl speed -seconds 3 ecdsap256 ed25519 rsa2048")
print("build/bench/propagation_bench --subscribers=100 --rounds=30 --json")
print("```")
PY
echo "wrote docs/benchmarks.md"
