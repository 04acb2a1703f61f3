#!/usr/bin/env bash
# Fails, naming the places, when a tracked C++ file differs from what
# clang-format makes of it under the tree's .clang-format (Google style).
# Fix with: clang-format -i <file>...
set -euo pipefail
cd "$(dirname "$0")/.."
files=()
while IFS= read -r -d "" file; do [ -f "$file" ] && files+=("$file"); done \
  < <(git ls-files -z -- '*.cc' '*.h')
if ! clang-format --dry-run -Werror "${files[@]}"; then
  echo "not clang-formatted: run clang-format -i on the files named above" >&2
  exit 1
fi
echo "format: ${#files[@]} C++ files, all clang-formatted"
