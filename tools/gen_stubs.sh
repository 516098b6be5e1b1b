#!/usr/bin/env bash
# Type stubs for the native module minimod._core, generated from the built extension.
#
#   tools/gen_stubs.sh           regenerate python/minimod/_core/*.pyi (commit the result)
#   tools/gen_stubs.sh --check   regenerate into a temp dir and fail if the committed stubs differ
#
# Needs minimod importable (an editable or regular install) and the pinned generator:
# pip install 'pybind11-stubgen==3.0.0' (the `dev` extra). PYTHON picks the interpreter.
# The stubs describe the bindings' signatures and docstrings, so any binding change shows up here.
set -euo pipefail
# An absolute interpreter path (a relative .venv/bin/python must survive the cd below).
PYTHON=$("${PYTHON:-python}" -c 'import sys; print(sys.executable)')
cd "$(dirname "$0")/.."
PINNED=3.0.0
STUBS=python/minimod/_core

have=$("$PYTHON" -c "import importlib.metadata as m; print(m.version('pybind11-stubgen'))" 2>/dev/null || true)
if [ "$have" != "$PINNED" ]; then
  echo "gen_stubs: needs pybind11-stubgen==$PINNED (found '${have:-none}'): pip install 'pybind11-stubgen==$PINNED'" >&2
  exit 2
fi

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# Run from the temp dir so that `minimod` is the installed package, not a stray source-tree import.
(cd "$out" && "$PYTHON" -m pybind11_stubgen --exit-code -o "$out/gen" minimod._core)

if [ "${1:-}" = "--check" ]; then
  if ! diff -ru "$STUBS" "$out/gen/minimod/_core"; then
    echo "gen_stubs: the committed stubs in $STUBS are stale: run tools/gen_stubs.sh and commit" >&2
    exit 1
  fi
  echo "gen_stubs: $STUBS is up to date"
else
  rm -rf "$STUBS"
  cp -r "$out/gen/minimod/_core" "$STUBS"
  echo "gen_stubs: wrote $(ls "$STUBS" | tr '\n' ' ')to $STUBS"
fi
