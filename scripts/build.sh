#!/usr/bin/env bash
# Configures and builds Sigil into ./build, or into $BUILD_DIR when set
# (kept between runs, so rebuilds are incremental). Extra arguments go to
# cmake's configure step.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build}
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
cmake --build "$build_dir"
