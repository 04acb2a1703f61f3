#!/usr/bin/env bash
# `buf curl` (npm @bufbuild/buf, installed by scripts/install-deps.sh) lists
# every RPC of sigil.v1.Identity through server reflection and calls Issue
# and Verify with JSON, as grpcurl users will.
#
# Usage: buf_curl_test.sh SIGILD BUF IDENTITY_PROTO
set -euo pipefail
readonly test_name=buf_curl_test
source "$(dirname "$0")/sigild_http.sh"

(($# == 3)) || fail "usage: $0 SIGILD BUF IDENTITY_PROTO"
readonly sigild=$1 buf=$2 proto=$3
readonly python=/usr/bin/python3

need_tool "$buf"
need_tool "$python"
[[ -f $proto ]] || fail "no $proto"

start_sigild "$sigild" https://sigil.buf.test
readonly url="http://127.0.0.1:$grpc_port"
call() {
  "$buf" curl --protocol grpc --http2-prior-knowledge "$@"
}
# json_field FILE EXPR: a field of buf curl's JSON output (protojson names).
json_field() {
  "$python" -c 'import json, sys; print(eval(sys.argv[2], {"r": json.load(open(sys.argv[1]))}))' "$1" "$2"
}

# Every rpc the proto declares, and nothing else, under sigil.v1.Identity.
want=$(sed -n 's/^ *rpc \([A-Za-z]*\).*/sigil.v1.Identity\/\1/p' "$proto" | sort)
[[ -n $want ]] || fail "no rpc found in $proto"
call --list-methods "$url" >"$work/methods.txt" ||
  fail "buf curl --list-methods failed: $(cat "$work/methods.txt")"
got=$(grep '^sigil\.v1\.Identity/' "$work/methods.txt" | sort)
[[ $got == "$want" ]] ||
  fail "listed methods differ from $proto:"$'\n'"$(diff <(echo "$want") <(echo "$got"))"
grep -q '^grpc\.health\.v1\.Health/Check$' "$work/methods.txt" ||
  fail "grpc.health.v1.Health/Check not listed: $(cat "$work/methods.txt")"

call -d '{"subject":"bob","systems":["A"],"scopes":["orders.read"]}' \
  "$url/sigil.v1.Identity/Issue" >"$work/issue.json" ||
  fail "Issue failed: $(cat "$work/issue.json")"
token=$(json_field "$work/issue.json" 'r["accessToken"]')
[[ $token == *.*.* ]] || fail "Issue gave no token: $(cat "$work/issue.json")"

# Verify: a valid token, one for another system, and garbage: verdicts, not
# call errors; claims only with an OK verdict.
while read -r token_arg system want_code want_reason want_subject; do
  [[ $token_arg == TOKEN ]] && token_arg=$token
  "$python" -c 'import json, sys; print(json.dumps({"token": sys.argv[1], "system": sys.argv[2], "requiredScopes": ["orders.read"]}))' \
    "$token_arg" "$system" >"$work/verify_request.json"
  call -d "@$work/verify_request.json" "$url/sigil.v1.Identity/Verify" \
    >"$work/verify.json" || fail "Verify ($system) failed: $(cat "$work/verify.json")"
  verdict=$(json_field "$work/verify.json" 'r["verdict"]["code"] + " " + r["verdict"]["reason"]')
  [[ $verdict == "$want_code $want_reason" ]] ||
    fail "Verify of $token_arg at $system: $verdict, want $want_code $want_reason"
  subject=$(json_field "$work/verify.json" 'r.get("claims", {}).get("subject", "-")')
  [[ $subject == "$want_subject" ]] ||
    fail "Verify of $token_arg at $system: claims subject $subject, want $want_subject"
done <<'CASES'
TOKEN A OK VALID bob
TOKEN B UNAUTHENTICATED WRONG_AUDIENCE -
not.a.token A UNAUTHENTICATED MALFORMED -
CASES

# A malformed request is a call error naming the field.
if call -d '{"subject":"","systems":["A"]}' "$url/sigil.v1.Identity/Issue" \
  >"$work/bad.json" 2>&1; then
  fail "Issue with an empty subject succeeded: $(cat "$work/bad.json")"
fi
grep -q invalid_argument "$work/bad.json" && grep -q subject "$work/bad.json" ||
  fail "Issue with an empty subject: $(cat "$work/bad.json")"

stop_sigild
echo "$test_name: PASS"
