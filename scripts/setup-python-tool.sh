#!/usr/bin/env bash
# Installs a Python tool from PyPI into a venv cached on this machine, outside the clone, so
# every later run (CI included) reuses it; prints the path of its command.
#   usage: setup-python-tool.sh <package> <version> <command>
set -euo pipefail
package="$1" version="$2" command="$3"
cache="${RLM_OBS_CACHE:-$HOME/.cache/rlm-obs}"
venv="$cache/$command-$version"
if [ ! -x "$venv/bin/$command" ]; then
  echo "installing $package==$version into $venv (once per machine)" >&2
  rm -rf "$venv"
  mkdir -p "$cache"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --upgrade pip >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check "$package==$version" >&2
fi
echo "$venv/bin/$command"
