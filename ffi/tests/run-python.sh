#!/usr/bin/env bash
# The foreign-language test of bianmin-ffi: builds the library (debug), generates its Python
# bindings, and runs the pytest story in ffi/tests/python/ against a real bianmin-server on a
# loopback port. Needs python3 with venv and pip; installs pytest from PyPI into a venv under
# the target directory the first time.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

target="${CARGO_TARGET_DIR:-target}"
target="$(mkdir -p "$target" && cd "$target" && pwd)"
case "$(uname -s)" in
    Darwin) lib="libbianmin_ffi.dylib" ;;
    *) lib="libbianmin_ffi.so" ;;
esac
work="$target/ffi-python"

cargo build -p bianmin-ffi -p bianmin-uniffi-bindgen -p bianmin-server

# The generated module checks the library's API checksums on import: regenerate every time.
rm -rf "$work/bindings"
mkdir -p "$work/bindings"
"$target/debug/uniffi-bindgen" generate --library "$target/debug/$lib" \
    --language python --out-dir "$work/bindings"
# The module loads the library from its own folder.
cp "$target/debug/$lib" "$work/bindings/"

if [ ! -x "$work/venv/bin/python" ]; then
    python3 -m venv "$work/venv"
fi
if ! "$work/venv/bin/python" -c 'import pytest' 2>/dev/null; then
    "$work/venv/bin/python" -m pip install --quiet pytest
fi

BIANMIN_FFI_BINDINGS="$work/bindings" \
BIANMIN_SERVER="$target/debug/bianmin-server" \
    "$work/venv/bin/python" -m pytest -q -p no:cacheprovider ffi/tests/python "$@"
