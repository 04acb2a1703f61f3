# Sourced by the interop tests: starts a real sigild on free loopback ports
# (gRPC and --http_listen), with a cleanup trap that kills only it and
# prints its log when the test failed.
#
# After start_sigild: $work, $grpc_port, $http_port, $sigild_pid.

fail() {
  echo "$test_name: FAIL: $*" >&2
  exit 1
}

# A missing client is a failure, never a skip: the suite must run it.
need_tool() {
  [[ -e $1 ]] || fail "$1 not found; run scripts/install-deps.sh"
}

work=$(mktemp -d "${TMPDIR:-/tmp}/sigil_interop.XXXXXX")
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

# start_sigild SIGILD ISSUER: port 0 for both listeners; sigild logs the
# ports it got, so no port is guessed and none can be taken in between.
start_sigild() {
  local binary=$1 iss=$2
  [[ -x $binary ]] || fail "sigild not found at $binary"
  "$binary" --listen=127.0.0.1:0 --http_listen=127.0.0.1:0 \
    --data_dir="$work/data" --issuer="$iss" >"$work/sigild.log" 2>&1 &
  sigild_pid=$!
  local line=""
  for ((i = 0; i < 300; i++)); do
    line=$(grep -m1 "sigild serving on" "$work/sigild.log" || true)
    [[ -n $line ]] && break
    kill -0 "$sigild_pid" 2>/dev/null || fail "sigild exited before serving"
    sleep 0.1
  done
  [[ -n $line ]] || fail "sigild not serving after 30s"
  grpc_port=$(sed -n 's/.*serving on [^ ]* (port \([0-9]*\)).*/\1/p' <<<"$line")
  http_port=$(sed -n 's/.* http [^ ]* (port \([0-9]*\)).*/\1/p' <<<"$line")
  [[ -n $grpc_port && -n $http_port ]] ||
    fail "no ports in sigild's start line: $line"
}

stop_sigild() {
  kill -TERM "$sigild_pid"
  local code=0
  wait "$sigild_pid" || code=$?
  sigild_pid=""
  ((code == 0)) || fail "sigild exited $code after SIGTERM, want 0"
}
