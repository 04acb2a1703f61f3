#!/usr/bin/env bash
# Installs the Debian 12 packages Sigil builds, runs and tests with, and
# the npm packages of the interop tests into .deps/node (git-ignored). Quick
# when everything is already there; needs root (or sudo) otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake ninja-build pkg-config clang clang-format
  libclang-rt-14-dev
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  grpc-proto libabsl-dev libssl-dev librocksdb-dev libcpp-httplib-dev
  libmicrohttpd-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  python3 python3-jwt python3-cryptography
  python3-yaml python3-grpcio python3-protobuf openssl
  faketime
  etcd-server etcd-client
  bazel-bootstrap bazel-rules-cc bazel-rules-java
)

# The interop tests' clients that no one here wrote: node jose and buf curl.
# Exact versions, so every machine tests against the same clients.
npm_packages=(jose@5.9.6 @bufbuild/buf@1.75.0)
readonly node_dir=.deps/node

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
# Any node with npm will do (Debian's, or one already on the machine, whose
# own npm conflicts with Debian's npm package).
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  missing+=(nodejs npm)
fi

if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# npm install is slow even when nothing changes: compare the stamp first.
stamp="$node_dir/installed"
if [ "$(cat "$stamp" 2>/dev/null)" != "${npm_packages[*]}" ]; then
  echo "installing into $node_dir: ${npm_packages[*]}"
  mkdir -p "$node_dir"
  npm install --prefix "$node_dir" --no-audit --no-fund --loglevel=error \
    "${npm_packages[@]}"
  echo "${npm_packages[*]}" >"$stamp"
fi
