#!/usr/bin/env bash
# Set up .venv for graphclr: the locked stack (requirements/lock.txt) plus graphclr itself
# in editable mode.
#
# The locked stack (~3 GB, mostly torch's CUDA wheels) is installed once into a cache
# keyed by the lock's hash, ${GRAPHCLR_VENV_CACHE:-~/.cache/graphclr/venvs}/<hash>, and
# .venv reaches it through a .pth file. A clone whose lock matches reuses it in seconds;
# a machine without it builds it from scratch (about 5 minutes).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
lock="$root/requirements/lock.txt"
py="$(command -v python3.11 || command -v python3)"
pyver="$("$py" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
if [ "$pyver" != "3.11" ]; then
    echo "graphclr needs Python 3.11 (the pinned torch 2.2.1 + dgl 2.1.0 wheels); found $pyver at $py" >&2
    exit 1
fi

hash="$(sha256sum "$lock" | cut -c1-16)"
cache_root="${GRAPHCLR_VENV_CACHE:-$HOME/.cache/graphclr/venvs}"
deps="$cache_root/py$pyver-$hash"
if [ ! -f "$deps/.complete" ]; then
    echo "graphclr setup: installing the locked stack into $deps (first time: ~3 GB, ~5 min)" >&2
    mkdir -p "$cache_root"
    tmp="$deps.partial.$$"
    rm -rf "$tmp"
    "$py" -m venv "$tmp"
    "$tmp/bin/pip" install --quiet --disable-pip-version-check -r "$lock"
    rm -rf "$deps"
    mv "$tmp" "$deps"
    touch "$deps/.complete"
fi

site="lib/python$pyver/site-packages"
if [ ! -x "$root/.venv/bin/python" ] || [ "$(cat "$root/.venv/.graphclr-deps" 2>/dev/null)" != "$deps" ]; then
    echo "graphclr setup: creating $root/.venv" >&2
    rm -rf "$root/.venv"
    "$py" -m venv "$root/.venv"
    echo "$deps/$site" > "$root/.venv/$site/graphclr-deps.pth"
    echo "$deps" > "$root/.venv/.graphclr-deps"
fi
if ! "$root/.venv/bin/python" -c 'import graphclr, sys; sys.exit(0 if graphclr.__file__.startswith(sys.argv[1]) else 1)' "$root" 2>/dev/null \
   || [ ! -x "$root/.venv/bin/graphclr" ]; then
    "$root/.venv/bin/pip" install --quiet --disable-pip-version-check --no-deps -e "$root"
fi
