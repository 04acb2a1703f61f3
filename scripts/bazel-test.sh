#!/usr/bin/env bash
# Builds everything with Bazel and runs the C++ tests, offline against the
# Debian packages (Debian's bazel-bootstrap 4.2.3; see WORKSPACE and
# bazel/). Extra arguments go to `bazel test`, e.g. //tests/token/...
#
# BAZEL_OUTPUT_USER_ROOT: where Bazel keeps its server and outputs (its
# --output_user_root); Bazel's default under ~/.cache when unset.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh

startup=()
if [ -n "${BAZEL_OUTPUT_USER_ROOT:-}" ]; then
  startup+=(--output_user_root="$BAZEL_OUTPUT_USER_ROOT")
fi

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(//...)
bazel "${startup[@]}" test "${targets[@]}"
