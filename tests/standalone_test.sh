#!/usr/bin/env bash
# Checks that the repository stands alone: a clone of it, and nothing
# beside it, builds and passes its tests. Fails when a file
#  - names the sibling folder "shared" one level up (where the test vectors
#    used to be read from), or
#  - reaches above the repository root from a known anchor: a CMake source
#    dir variable, a script's own directory ($(dirname "$0")), the tests'
#    SIGIL_SOURCE_DIR, or a path string in a Bazel file that starts with "..".
# Files are git's list of tracked files when the root is a checkout, else
# every file outside .git, build trees and Bazel's links.
# It only reads files: nothing is built.
#
# Usage: tests/standalone_test.sh [SOURCE_DIR]   (default: this repository)
#
# Before the real tree, the same checks run over a small tree with known
# mistakes planted in it, so a check that stopped matching fails loudly
# instead of passing quietly.
set -euo pipefail

# Kept out of this file's own text, which the checks read as well.
readonly up=..
readonly sibling=shared

# Lists the files of $1, NUL-separated, relative to it.
list_files() {
  local root=$1
  if [[ "$(git -C "$root" rev-parse --show-toplevel 2>/dev/null)" == "$root" ]]
  then
    git -C "$root" ls-files -z
  else
    (cd "$root" && find . -type d \( -name .git -o -name .deps \
      -o -name 'build*' -o -name 'bazel-*' \) -prune -o -type f -print0 |
      sed -z 's|^\./||')
  fi
}

# Prints "file:line: problem" for every finding in the tree at $1. Runs in
# a subshell, for its cd.
check_tree() (
  local root=$1
  local -a files bazel_files
  local file
  while IFS= read -r -d '' file; do
    [[ -f "$root/$file" ]] || continue  # deleted but still in git's index
    files+=("$file")
    case "/$file" in
      */BUILD | */BUILD.bazel | */WORKSPACE | *.bzl | */.bazelrc)
        bazel_files+=("$file") ;;
    esac
  done < <(list_files "$root")
  ((${#files[@]} > 0)) || { echo "$root: no files"; return; }

  cd "$root"
  # The sibling folder, in any file.
  grep -nIHE "\\.\\./$sibling(/|\\b)" -- "${files[@]}" |
    sed -E "s/^([^:]*:[0-9]+):.*/\\1: refers to $up\\/$sibling/" || true

  # Anchored paths: ANCHOR/suffix, resolved from the root or from the
  # file's own directory, must stay inside the root.
  local tail="(/[^[:space:]\"'\`;|&<>(){}]*)?"
  local root_anchor="\\\$\\{(PROJECT_SOURCE_DIR|CMAKE_SOURCE_DIR|sigil_SOURCE_DIR)\\}"
  local here_anchor="\\\$\\{(CMAKE_CURRENT_SOURCE_DIR|CMAKE_CURRENT_LIST_DIR)\\}"
  local dirname_anchor="\\\$\\(dirname \"?\\\$(0|\\{0\\}|\\{BASH_SOURCE(\\[0\\])?\\})\"?\\)"
  local source_anchor="SIGIL_SOURCE_DIR \""
  local match rest line text base rel resolved
  while IFS= read -r match; do
    file=${match%%:*}
    rest=${match#*:}
    line=${rest%%:*}
    text=${rest#*:}
    # The suffix after the anchor, which ends in "}" or ")" (the suffix
    # itself holds neither), or after SIGIL_SOURCE_DIR's opening quote.
    case "$text" in
      "SIGIL_SOURCE_DIR \""*)
        base=.
        rel=${text#*\"} ;;
      *'${PROJECT_SOURCE_DIR}'* | *'${CMAKE_SOURCE_DIR}'* | \
      *'${sigil_SOURCE_DIR}'*)
        base=.
        rel=${text##*[\})]} ;;
      *)
        base=$(dirname "$file")
        rel=${text##*[\})]} ;;
    esac
    [[ "$rel" == *..* ]] || continue
    resolved=$(realpath -ms --relative-to=. "$base/${rel#/}")
    if [[ "$resolved" == .. || "$resolved" == ../* ]]; then
      echo "$file:$line: $text leaves the repository"
    fi
  done < <(grep -noIHE \
    "($root_anchor|$here_anchor|$dirname_anchor|$source_anchor)$tail" \
    -- "${files[@]}" || true)

  # Bazel: labels never hold "..", and a relative path (local repository,
  # runfiles) starting with it points outside the workspace.
  if ((${#bazel_files[@]} > 0)); then
    grep -nIHE "\"\\.\\.(/|\\\\?\")" -- "${bazel_files[@]}" |
      sed -E 's/^([^:]*:[0-9]+):.*/\1: a Bazel path above the workspace/' ||
      true
  fi
)

# The planted tree: each line marked "bad" must be found, no other.
self_test() {
  tree=$(mktemp -d "${TMPDIR:-/tmp}/sigil-standalone.XXXXXX")
  mkdir -p "$tree/sub/deeper"
  printf '%s\n' \
    "set(bad \${PROJECT_SOURCE_DIR}/$up/$sibling/vectors)" \
    "set(good \${PROJECT_SOURCE_DIR}/tests/vectors)" \
    >"$tree/CMakeLists.txt"
  printf '%s\n' \
    "set(bad \${CMAKE_CURRENT_SOURCE_DIR}/$up/$up/elsewhere)" \
    "set(good \${CMAKE_CURRENT_SOURCE_DIR}/$up/tests)" \
    >"$tree/sub/CMakeLists.txt"
  printf '%s\n' \
    "cd \"\$(dirname \"\$0\")/$up/$up/$up\"  # bad" \
    "cd \"\$(dirname \"\$0\")/$up/$up\"  # good" \
    >"$tree/sub/deeper/run.sh"
  printf '%s\n' \
    "new_local_repository(path = \"$up/vectors\")  # bad" \
    "local_repository(path = \"/usr/share/bazel/rules/java\")  # good" \
    >"$tree/WORKSPACE"
  printf '%s\n' \
    "constexpr char kBad[] = SIGIL_SOURCE_DIR \"/$up/outside\";" \
    "constexpr char kGood[] = SIGIL_SOURCE_DIR \"/tests/$up/server\";" \
    >"$tree/sub/a_test.cc"

  local found expected
  found=$(check_tree "$tree" | cut -d: -f1,2 | sort -u)
  expected=$(printf '%s\n' CMakeLists.txt:1 WORKSPACE:1 sub/CMakeLists.txt:1 \
    sub/a_test.cc:1 sub/deeper/run.sh:1 | sort)
  if [[ "$found" != "$expected" ]]; then
    echo "standalone_test: the checks themselves are broken." >&2
    echo "expected findings:" >&2
    echo "$expected" >&2
    echo "found:" >&2
    check_tree "$tree" >&2
    return 1
  fi
}

tree=""
trap '[[ -z "$tree" ]] || rm -rf "$tree"' EXIT

main() {
  local root
  root=$(cd "${1:-$(dirname "$0")/..}" && pwd -P)
  self_test
  local problems
  problems=$(check_tree "$root")
  if [[ -n "$problems" ]]; then
    echo "standalone_test: the repository reaches outside itself:" >&2
    echo "$problems" >&2
    exit 1
  fi
  echo "standalone_test: OK, nothing in $root refers outside it"
}

main "$@"
