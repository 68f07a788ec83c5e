#!/usr/bin/env bash
# Installs Arize Phoenix (PyPI arize-phoenix) into a venv cached on this machine, outside the
# clone, so every later run reuses it; prints the path of the `phoenix` command.
set -euo pipefail
version="${PHOENIX_VERSION:-20.26.1}"
cache="${RLM_OBS_CACHE:-$HOME/.cache/rlm-obs}"
venv="$cache/phoenix-$version"
if [ ! -x "$venv/bin/phoenix" ]; then
  echo "installing arize-phoenix==$version into $venv (once per machine)" >&2
  rm -rf "$venv"
  mkdir -p "$cache"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --upgrade pip >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check "arize-phoenix==$version" >&2
fi
echo "$venv/bin/phoenix"
