#!/usr/bin/env bash
# The server-level and peer comparisons of bench/run.sh, one after another
# on this machine: a real sigild driven by sigil-bench (Verify beside the
# empty health Check at several concurrencies, then each other scenario),
# node oidc-provider driven by bench/peers/http_load.mjs, and the
# single-core ES256 verify rates of jose, fast-jwt and PyJWT. Writes one
# JSON file per measurement into OUT_DIR; bench/report.py reads them.
#
# Usage: bench/compare.sh OUT_DIR (after scripts/build.sh and
# bench/install-peers.sh). BUILD_DIR picks another build directory, RUN_SECONDS
# the length of each timed run (default 5).
set -euo pipefail
cd "$(dirname "$0")/.."
(($# == 1)) || { echo "usage: $0 OUT_DIR" >&2; exit 2; }
out=$1
build=${BUILD_DIR:-build}
seconds=${RUN_SECONDS:-5}
readonly concurrencies=(1 4 16 64)
readonly modules=$PWD/.deps/bench/node_modules
readonly client=bench:bench-client-secret-not-a-real-one
bench_bin=$build/bench/load/sigil-bench
[[ -x $bench_bin && -x $build/server/sigild ]] ||
  { echo "build first: $bench_bin or $build/server/sigild missing" >&2; exit 1; }
[[ -d $modules/oidc-provider ]] ||
  { echo "peers missing: run bench/install-peers.sh" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/sigil_compare.XXXXXX")
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# wait_for_line FILE PATTERN PID: the first line of FILE matching PATTERN.
wait_for_line() {
  local line=""
  for ((i = 0; i < 300; i++)); do
    line=$(grep -m1 -e "$2" "$1" || true)
    [[ -n $line ]] && { echo "$line"; return; }
    kill -0 "$3" 2>/dev/null || { cat "$1" >&2; echo "exited early" >&2; return 1; }
    sleep 0.1
  done
  echo "not started after 30 s" >&2
  return 1
}

"$build/server/sigild" --listen=127.0.0.1:0 --data_dir="$work/data" \
  >"$work/sigild.log" 2>&1 &
pids+=($!)
line=$(wait_for_line "$work/sigild.log" "sigild serving on" "$!")
port=$(sed -n 's/.*serving on [^ ]* (port \([0-9]*\)).*/\1/p' <<<"$line")

sigil_bench() {
  "$bench_bin" --target="127.0.0.1:$port" --json --max_time="${seconds}s" "$@"
}
for c in "${concurrencies[@]}"; do
  for scenario in health verify; do
    echo "sigil-bench $scenario, concurrency $c" >&2
    sigil_bench --scenario=$scenario --concurrency="$c" --count=100000000 \
      --warmup=2000 >"$out/sigil_${scenario}_c$c.json"
  done
done
for scenario in verify_distinct verify_invalid issue logout refresh mix; do
  echo "sigil-bench $scenario, concurrency 16" >&2
  sigil_bench --scenario=$scenario --concurrency=16 --count=100000000 \
    --warmup=500 --tokens=5000 >"$out/sigil_${scenario}_c16.json"
done
echo "sigil-bench issue, concurrency 64" >&2
sigil_bench --scenario=issue --concurrency=64 --count=100000000 \
  --warmup=500 >"$out/sigil_issue_c64.json"
for c in 1 64; do
  echo "sigil-bench logout, concurrency $c" >&2
  sigil_bench --scenario=logout --concurrency="$c" --count=100000000 \
    --warmup=100 >"$out/sigil_logout_c$c.json"
done
echo "sigil-bench watch, 100 subscribers" >&2
sigil_bench --scenario=watch --subscribers=100 --count=200 \
  >"$out/sigil_watch.json"
kill "${pids[0]}"

node bench/peers/oidc_provider_server.mjs "$modules" >"$work/oidc.out" \
  2>"$work/oidc.err" &
pids+=($!)
line=$(wait_for_line "$work/oidc.out" '"port"' "$!")
oidc=http://127.0.0.1:$(sed -n 's/.*"port":\([0-9]*\).*/\1/p' <<<"$line")
for c in "${concurrencies[@]}"; do
  echo "oidc-provider introspection, concurrency $c" >&2
  node bench/peers/http_load.mjs "$oidc/token/introspection" "$client" \
    'token=@TOKEN@' "$c" "$seconds" introspect >"$out/oidc_introspect_c$c.json"
done
echo "oidc-provider JWT issuance, concurrency 16" >&2
node bench/peers/http_load.mjs "$oidc/token" "$client" \
  'grant_type=client_credentials&resource=urn%3Asigil-bench%3Aapi&scope=api%3Aread' \
  16 "$seconds" jwt >"$out/oidc_jwt_c16.json"
kill "${pids[1]}"

# Again here, so the sign rate Issue is held against and the verify rate
# the peers are held against come from the same minutes of this run.
echo "openssl speed ecdsap256" >&2
openssl speed -seconds 3 ecdsap256 2>/dev/null >"$out/openssl_ecdsa.txt"
echo "jose, fast-jwt and PyJWT ES256 verify, one core" >&2
node bench/peers/jwt_verify.mjs "$modules" 3 >"$out/node_verify.json"
/usr/bin/python3 bench/peers/pyjwt_verify.py 3 >"$out/pyjwt_verify.json"
