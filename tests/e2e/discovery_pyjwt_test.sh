#!/usr/bin/env bash
# PyJWT's PyJWKClient (Debian's python3-jwt) verifies a sigild token through
# OIDC discovery on sigild's --http_listen.
#
# Usage: discovery_pyjwt_test.sh SIGILD SIGILCTL DISCOVERY_PYJWT_PY
set -euo pipefail
readonly test_name=discovery_pyjwt_test
source "$(dirname "$0")/sigild_http.sh"

(($# == 3)) || fail "usage: $0 SIGILD SIGILCTL DISCOVERY_PYJWT_PY"
readonly sigild=$1 sigilctl=$2 script=$3
# Debian's packages are seen by /usr/bin/python3, not by a pyenv python3.
readonly python=/usr/bin/python3
readonly issuer=https://sigil.discovery.test

need_tool "$python"
"$python" -c 'import jwt, cryptography' 2>/dev/null ||
  fail "PyJWT with cryptography is missing for $python; run scripts/install-deps.sh"
[[ -x $sigilctl ]] || fail "sigilctl not found at $sigilctl"

start_sigild "$sigild" "$issuer"
"$sigilctl" --target="127.0.0.1:$grpc_port" --json issue u A,B \
  >"$work/issue.json" || fail "sigilctl --json issue failed"
"$python" "$script" "http://127.0.0.1:$http_port" "$issuer" "$work/issue.json" ||
  fail "PyJWT through discovery did not verify as expected"
stop_sigild
echo "$test_name: PASS"
