#!/usr/bin/env bash
# node `jose` (npm, installed by scripts/install-deps.sh) verifies a sigild
# token through discovery on --http_listen and rejects a tampered one.
#
# Usage: jose_interop_test.sh SIGILD SIGILCTL JOSE_VERIFY_CJS NODE_MODULES
set -euo pipefail
readonly test_name=jose_interop_test
source "$(dirname "$0")/sigild_http.sh"

(($# == 4)) || fail "usage: $0 SIGILD SIGILCTL JOSE_VERIFY_CJS NODE_MODULES"
readonly sigild=$1 sigilctl=$2 script=$3 modules=$4
readonly issuer=https://sigil.jose.test

command -v node >/dev/null || fail "node not found; run scripts/install-deps.sh"
need_tool "$modules/jose/package.json"
[[ -x $sigilctl ]] || fail "sigilctl not found at $sigilctl"

start_sigild "$sigild" "$issuer"
"$sigilctl" --target="127.0.0.1:$grpc_port" --json issue u A,B \
  >"$work/issue.json" || fail "sigilctl --json issue failed"
node "$script" "$modules" "http://127.0.0.1:$http_port" "$issuer" \
  "$work/issue.json" || fail "jose did not verify as expected"
stop_sigild
echo "$test_name: PASS"
