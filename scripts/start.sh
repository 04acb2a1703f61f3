#!/usr/bin/env bash
# Installs what is missing, builds, and starts sigild on the embedded
# RocksDB store in ./sigil-data. Extra arguments go to sigild.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh -DSIGIL_BUILD_TESTS=OFF
exec build/server/sigild --data_dir=./sigil-data "$@"
