#!/usr/bin/env bash
# Installs what is missing, checks that the C++ files are clang-formatted,
# builds everything (warnings are errors), and runs every test: once as
# shipped (gcc), then again built by clang with AddressSanitizer and UBSan,
# where each libFuzzer target also gets a short smoke run, and last the
# C++ tests once more built by Bazel, offline.
# SIGIL_SANITIZE=0 and SIGIL_BAZEL=0 skip those passes, for a quicker
# local loop.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/check-format.sh
scripts/build.sh -DSIGIL_BUILD_TESTS=ON
ctest --test-dir build --output-on-failure -j2

if [[ ${SIGIL_SANITIZE:-1} != 0 ]]; then
  BUILD_DIR=build-sanitize CC=clang CXX=clang++ scripts/build.sh \
    -DSIGIL_BUILD_TESTS=ON -DSIGIL_SANITIZE=ON -DSIGIL_FUZZ=ON
  ctest --test-dir build-sanitize --output-on-failure -j2
fi

if [[ ${SIGIL_BAZEL:-1} != 0 ]]; then
  scripts/bazel-test.sh
fi
