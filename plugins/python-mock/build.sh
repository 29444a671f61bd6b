#!/usr/bin/env bash
# Builds the Python adapter (app.py, wire.py) into a component with componentize-py, for
# tests and CI, after test_app.py passes: `plugins/python-mock/build.sh` prints the component's path as its last line.
# The component goes to ${CARGO_TARGET_DIR:-<repo>/target}/python-adapter/pymock.wasm and is
# rebuilt only when a source or the contract is newer than it.
set -euo pipefail

COMPONENTIZE_PY_VERSION=0.25.1
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$repo/target}"
case "$target" in /*) ;; *) target="$repo/$target" ;; esac
out_dir="$target/python-adapter"
out="$out_dir/pymock.wasm"

if ! command -v componentize-py >/dev/null 2>&1; then
  echo "build.sh: componentize-py is not on PATH; install it with:" >&2
  echo "    pip install componentize-py==$COMPONENTIZE_PY_VERSION" >&2
  exit 127
fi
found="$(componentize-py --version | awk '{print $2}')"
if [ "$found" != "$COMPONENTIZE_PY_VERSION" ]; then
  echo "build.sh: componentize-py $found found, the adapter is built with $COMPONENTIZE_PY_VERSION:" >&2
  echo "    pip install componentize-py==$COMPONENTIZE_PY_VERSION" >&2
  exit 1
fi

mkdir -p "$out_dir"
if [ -f "$out" ] && [ -z "$(find "$here"/*.py "$repo/wit/v2" -newer "$out" -print -quit)" ]; then
  echo "$out"
  exit 0
fi

# The adapter's flows on plain CPython first, against a fake sandbox (test_app.py).
rm -rf "$out_dir/bindings"
componentize-py -d "$repo/wit/v2" -w adapter bindings "$out_dir/bindings" >&2
(cd "$here" && PYTHONDONTWRITEBYTECODE=1 PYTHONPATH="$out_dir/bindings" \
  python3 -m unittest -q test_app >&2)

# componentize-py runs the app's imports at build time (a snapshot of the initialised
# interpreter goes into the component); its interpreter leaves __pycache__ here (ignored).
cd "$here"
componentize-py -d "$repo/wit/v2" -w adapter \
  componentize app -o "$out.tmp" >&2
mv "$out.tmp" "$out"
echo "$out"
