#!/usr/bin/env bash
# Installs the peers that bench/run.sh measures Sigil against into
# .deps/bench (git-ignored): node oidc-provider (an OpenID Certified
# authorization server), jose and fast-jwt, at exact versions so every run
# measures the same code. Benchmarks only: CI and scripts/install-deps.sh
# never need these. Also the Debian packages the comparison uses (PyJWT,
# gnuplot for the plot, openssl, valgrind for bench/instructions.sh). Quick
# when everything is there.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(python3-jwt python3-cryptography gnuplot-nox openssl valgrind)
npm_packages=(oidc-provider@9.13.3 jose@5.9.6 fast-jwt@6.3.6)
readonly peer_dir=.deps/bench

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  missing+=(nodejs npm)
fi
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
    --no-install-recommends "${missing[@]}"
fi

stamp="$peer_dir/installed"
if [ "$(cat "$stamp" 2>/dev/null)" != "${npm_packages[*]}" ]; then
  echo "installing into $peer_dir: ${npm_packages[*]}"
  mkdir -p "$peer_dir"
  npm install --prefix "$peer_dir" --no-audit --no-fund --loglevel=error \
    "${npm_packages[@]}"
  echo "${npm_packages[*]}" >"$stamp"
fi
