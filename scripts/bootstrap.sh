#!/usr/bin/env bash
# Set up the project's virtual environment from the lock file (uv.lock). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
UV_VERSION=0.13.8
if command -v uv >/dev/null 2>&1 && uv --version | grep -q "$UV_VERSION"; then
  UV=uv
else
  if [ ! -x .tools/bin/uv ]; then
    echo "bootstrap: installing uv $UV_VERSION into .tools/" >&2
    python3 -m venv .tools
    .tools/bin/python -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
  fi
  UV=.tools/bin/uv
fi
"$UV" sync --frozen --compile-bytecode --quiet "$@"
