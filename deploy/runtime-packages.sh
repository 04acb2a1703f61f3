#!/usr/bin/env bash
# Prints the Debian packages that hold the shared libraries BINARY... link,
# one per line: what a runtime image needs (deploy/Dockerfile installs them
# in its slim stage, so the list follows the build instead of a hand-kept
# copy). Fails naming any library no package holds.
#
# Usage: runtime-packages.sh BINARY...
set -euo pipefail
(($# > 0)) || { echo "usage: $0 BINARY..." >&2; exit 2; }

mapfile -t libraries < <(ldd "$@" | awk '$2 == "=>" && $3 ~ /^\// {print $3}' | sort -u)
# Debian 12 is usrmerged, and dpkg knows each library under the directory
# its package ships it in: /lib for a few essential ones, /usr/lib for the
# rest. One dpkg call per pass: each reads dpkg's whole database.
other() { [[ $1 == /usr/* ]] && echo "${1#/usr}" || echo "/usr$1"; }
found=$(dpkg -S "${libraries[@]}" 2>/dev/null || true)
retry=()
for lib in "${libraries[@]}"; do
  grep -qF ": $lib" <<<"$found" || retry+=("$(other "$lib")")
done
if ((${#retry[@]} > 0)); then
  found+=$'\n'$(dpkg -S "${retry[@]}" 2>/dev/null || true)
  for lib in "${retry[@]}"; do
    grep -qF ": $lib" <<<"$found" || { echo "no package holds $(other "$lib")" >&2; exit 1; }
  done
fi
# Lines are "package[:arch][, package[:arch]...]: path".
sed -n 's|: /.*||p' <<<"$found" | tr ',' '\n' | sed 's/:.*//; s/ //g' | sort -u
