#!/usr/bin/env bash
# Installs what is missing, builds everything, and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh -DSIGIL_BUILD_TESTS=ON
ctest --test-dir build --output-on-failure -j2
