#!/usr/bin/env bash
# The installed SDK, used from another project.
#
# Usage: install_test.sh BUILD_DIR CONSUMER_SOURCE_DIR SIGILD SIGILCTL
#
# Installs BUILD_DIR into a temporary prefix, checks the binaries and the
# package config are there, builds the consumer project (find_package(sigil
# CONFIG REQUIRED), sigil::client) against that prefix only, and runs it
# against a real sigild on a unix socket: a token sigilctl issued is OK, the
# same token with a changed signature is UNAUTHENTICATED BAD_SIGNATURE, and
# after a logout the token is UNAUTHENTICATED LOGGED_OUT.
set -euo pipefail

if (($# != 4)); then
  echo "usage: $0 BUILD_DIR CONSUMER_SOURCE_DIR SIGILD SIGILCTL" >&2
  exit 2
fi
readonly build=$1 consumer_src=$2 sigild=$3 sigilctl=$4

fail() {
  echo "install_test: FAIL: $*" >&2
  exit 1
}

work=$(mktemp -d "${TMPDIR:-/tmp}/sigil_install.XXXXXX")
sigild_pid=""
cleanup() {
  local status=$?
  if [[ -n $sigild_pid ]] && kill -0 "$sigild_pid" 2>/dev/null; then
    kill -KILL "$sigild_pid" 2>/dev/null || true
    wait "$sigild_pid" 2>/dev/null || true
  fi
  if ((status != 0)); then
    for log in install configure build sigild; do
      if [[ -s $work/$log.log ]]; then
        echo "---- $log log ----" >&2
        tail -n 40 "$work/$log.log" >&2
      fi
    done
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

readonly prefix=$work/prefix
cmake --install "$build" --prefix "$prefix" >"$work/install.log" 2>&1 ||
  fail "cmake --install $build failed"
for f in bin/sigild bin/sigil-agent bin/sigilctl; do
  [[ -x $prefix/$f ]] || fail "$f not installed"
done
config_dir=$(dirname "$(find "$prefix" -name sigilConfig.cmake | head -n 1)")
[[ -f $config_dir/sigilConfig.cmake && -f $config_dir/sigilConfigVersion.cmake ]] ||
  fail "sigilConfig.cmake and sigilConfigVersion.cmake not installed"

# The consumer sees only the prefix: nothing of the source or build tree.
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
cmake -S "$consumer_src" -B "$work/consumer" "${generator[@]}" \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" \
  >"$work/configure.log" 2>&1 || fail "configuring the consumer failed"
cmake --build "$work/consumer" >"$work/build.log" 2>&1 ||
  fail "building the consumer failed"
readonly consumer=$work/consumer/sigil_consumer

readonly target="unix:$work/sigild.sock"
"$sigild" --listen="$target" --data_dir="$work/data" >"$work/sigild.log" 2>&1 &
sigild_pid=$!
# Bounded wait for readiness: sigild logs this line once it serves.
for ((i = 0; i < 300; i++)); do
  grep -q "sigild serving on" "$work/sigild.log" && break
  kill -0 "$sigild_pid" 2>/dev/null || fail "sigild exited before serving"
  sleep 0.1
done
grep -q "sigild serving on" "$work/sigild.log" || fail "sigild not serving after 30s"

"$sigilctl" --target="$target" --json issue alice A >"$work/issue.json" ||
  fail "sigilctl issue failed"
token=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])' \
  <"$work/issue.json") || fail "no access_token in $(cat "$work/issue.json")"

# expect WANT_EXIT WANT_PREFIX TOKEN: runs the consumer at system A.
expect() {
  local want_exit=$1 want=$2 token=$3 out code
  set +e
  out=$("$consumer" "$target" A "$token" 2>&1)
  code=$?
  set -e
  ((code == want_exit)) || fail "consumer exited $code, want $want_exit: $out"
  [[ $out == "$want"* ]] || fail "consumer printed \"$out\", want \"$want...\""
  echo "install_test: $out"
}

expect 0 "OK VALID subject=alice" "$token"

# One character of the signature changed (not its last, whose low bits
# may be padding): the signature no longer verifies.
signature=${token##*.}
replacement=A
[[ ${signature:10:1} == A ]] && replacement=B
tampered="${token%.*}.${signature:0:10}${replacement}${signature:11}"
expect 3 "UNAUTHENTICATED BAD_SIGNATURE" "$tampered"

"$sigilctl" --target="$target" logout A --subject=alice >/dev/null ||
  fail "sigilctl logout failed"
expect 3 "UNAUTHENTICATED LOGGED_OUT" "$token"

kill -TERM "$sigild_pid"
wait "$sigild_pid" || fail "sigild exited $? after SIGTERM, want 0"
sigild_pid=""
echo "install_test: PASS"
