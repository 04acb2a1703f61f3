#!/usr/bin/env bash
# A 3-member etcd cluster on loopback, from Debian's etcd-server, for
# trying Sigil's replicated mode by hand (the tests start their own, see
# tests/testing/etcd_cluster.h).
#
#   scripts/etcd-cluster.sh start DIR   # members' data and logs in DIR;
#                                       # prints the client endpoints
#   scripts/etcd-cluster.sh stop DIR    # SIGTERM each member in turn
#                                       # (SIGKILL after 10 s); DIR stays
#
# Ports are free loopback ports picked at start (DIR/endpoints lists the
# client ones). A start needs a DIR without a cluster in it: members keep
# their peer ports in their data, so remove DIR to start afresh.
set -euo pipefail

usage() {
  echo "usage: $0 start|stop DIR" >&2
  exit 2
}
[[ $# -eq 2 ]] || usage
readonly command=$1
readonly dir=$2
readonly members=3

etcd_bin=$(command -v etcd || true)
[[ -n $etcd_bin ]] || etcd_bin=/usr/bin/etcd

start() {
  [[ -x $etcd_bin ]] || {
    echo "etcd not found: install etcd-server (scripts/install-deps.sh)" >&2
    exit 1
  }
  if [[ -e $dir/m0 ]]; then
    echo "$dir already holds a cluster (stop it, remove $dir)" >&2
    exit 1
  fi
  mkdir -p "$dir"
  # 2 ports per member, all bound at once so none is picked twice.
  mapfile -t ports < <(python3 - "$((2 * members))" <<'EOF'
import socket, sys
sockets = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    sockets.append(s)
for s in sockets:
    print(s.getsockname()[1])
EOF
  )
  local cluster="" endpoints=""
  for ((i = 0; i < members; i++)); do
    cluster+="${cluster:+,}m$i=http://127.0.0.1:${ports[2 * i + 1]}"
    endpoints+="${endpoints:+,}127.0.0.1:${ports[2 * i]}"
  done
  for ((i = 0; i < members; i++)); do
    local client="http://127.0.0.1:${ports[2 * i]}"
    local peer="http://127.0.0.1:${ports[2 * i + 1]}"
    nohup "$etcd_bin" --name "m$i" --data-dir "$dir/m$i" \
      --listen-client-urls "$client" --advertise-client-urls "$client" \
      --listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer" \
      --initial-cluster "$cluster" --initial-cluster-state new \
      --initial-cluster-token "sigil-$$" \
      --experimental-enable-lease-checkpoint \
      --logger zap --log-outputs stderr \
      >"$dir/m$i.log" 2>&1 &
    echo $! >"$dir/m$i.pid"
  done
  echo "$endpoints" >"$dir/endpoints"
  for _ in $(seq 100); do
    if ETCDCTL_API=3 etcdctl --endpoints="$endpoints" --dial-timeout=1s \
      endpoint health >/dev/null 2>&1; then
      echo "$endpoints"
      return 0
    fi
    sleep 0.1
  done
  echo "etcd cluster in $dir not healthy after 10 s; see $dir/m*.log" >&2
  exit 1
}

stop() {
  compgen -G "$dir/m*.pid" >/dev/null || {
    echo "no cluster in $dir" >&2
    exit 1
  }
  local pids=()
  for pidfile in "$dir"/m*.pid; do
    pids+=("$(cat "$pidfile")")
    rm -f "$pidfile"
  done
  # One at a time: a member stopping while the others run hands its
  # leadership over at once; all at once, the leader's hand-over waits
  # for followers that are going away.
  for pid in "${pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || continue
    for _ in $(seq 100); do
      kill -0 "$pid" 2>/dev/null || continue 2
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
  done
}

case $command in
  start) start ;;
  stop) stop ;;
  *) usage ;;
esac
