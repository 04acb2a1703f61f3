#!/usr/bin/env bash
# PyJWT interop and sigilctl, against a real sigild on a unix socket.
#
# Usage: pyjwt_interop_test.sh SIGILD SIGILCTL PYJWT_VERIFY_PY
#
# Issues a token with sigilctl, verifies it with Debian's PyJWT
# (python3-jwt, through /usr/bin/python3: the pyenv python3 first on PATH
# does not see Debian's packages) using the key set sigild serves, then
# checks sigilctl's human output for verify before and after a logout.
set -euo pipefail

if (($# != 3)); then
  echo "usage: $0 SIGILD SIGILCTL PYJWT_VERIFY_PY" >&2
  exit 2
fi
readonly sigild=$1 sigilctl=$2 verifier=$3
readonly python=/usr/bin/python3
readonly issuer=https://sigil.pyjwt.test

fail() {
  echo "pyjwt_interop_test: FAIL: $*" >&2
  exit 1
}

work=$(mktemp -d "${TMPDIR:-/tmp}/sigil_pyjwt.XXXXXX")
sigild_pid=""
cleanup() {
  local status=$?
  if [[ -n $sigild_pid ]] && kill -0 "$sigild_pid" 2>/dev/null; then
    kill -KILL "$sigild_pid" 2>/dev/null || true
    wait "$sigild_pid" 2>/dev/null || true
  fi
  if ((status != 0)) && [[ -f $work/sigild.log ]]; then
    echo "---- sigild log ----" >&2
    cat "$work/sigild.log" >&2
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

[[ -x $sigild ]] || fail "sigild not found at $sigild"
[[ -x $sigilctl ]] || fail "sigilctl not found at $sigilctl"
[[ -x $python ]] || fail "$python not found"
"$python" -c 'import jwt, cryptography' 2>/dev/null ||
  fail "PyJWT with cryptography is missing for $python; install Debian's python3-jwt (apt-get install -y python3-jwt)"

readonly target="unix:$work/sigild.sock"
"$sigild" --listen="$target" --data_dir="$work/data" --issuer="$issuer" \
  >"$work/sigild.log" 2>&1 &
sigild_pid=$!

# Bounded wait for readiness: sigild logs this line once it serves.
for ((i = 0; i < 300; i++)); do
  grep -q "sigild serving on" "$work/sigild.log" && break
  kill -0 "$sigild_pid" 2>/dev/null || fail "sigild exited before serving"
  sleep 0.1
done
grep -q "sigild serving on" "$work/sigild.log" ||
  fail "sigild not serving after 30s"

ctl() { "$sigilctl" --target="$target" "$@"; }

ctl --json issue u A,B --scopes=orders.read >"$work/issue.json" ||
  fail "sigilctl --json issue failed"
ctl --json jwks >"$work/jwks.json" || fail "sigilctl --json jwks failed"
"$python" "$verifier" "$work/issue.json" "$work/jwks.json" "$issuer" ||
  fail "PyJWT did not verify sigild's token as expected"

# sigilctl's human output, on a token for system A only.
issued=$(ctl issue u2 A) || fail "sigilctl issue failed"
token=$(sed -n 's/^access_token: *//p' <<<"$issued")
[[ -n $token ]] || fail "no access_token line in sigilctl issue output: $issued"

verdict=$(ctl verify "$token" A) || fail "sigilctl verify before logout exited $?: $verdict"
[[ $verdict == "OK VALID"* ]] || fail "verify before logout printed: $verdict"

ctl logout A --subject=u2 >"$work/logout.txt" || fail "sigilctl logout failed"
grep -q "^logged out" "$work/logout.txt" ||
  fail "logout printed: $(cat "$work/logout.txt")"

set +e
verdict=$(ctl verify "$token" A)
code=$?
set -e
((code == 3)) || fail "verify after logout exited $code, want 3 (verdict not OK): $verdict"
[[ $verdict == "UNAUTHENTICATED LOGGED_OUT"* ]] ||
  fail "verify after logout printed: $verdict"

kill -TERM "$sigild_pid"
set +e
wait "$sigild_pid"
code=$?
set -e
sigild_pid=""
((code == 0)) || fail "sigild exited $code after SIGTERM, want 0"
echo "pyjwt_interop_test: PASS"
