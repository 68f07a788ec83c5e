#!/usr/bin/env bash
# Installs an MLflow tracking server (PyPI mlflow) into a venv cached on this machine, outside
# the clone, so every later run reuses it; prints the path of the `mlflow` command.
set -euo pipefail
version="${MLFLOW_VERSION:-3.17.2}"
cache="${RLM_OBS_CACHE:-$HOME/.cache/rlm-obs}"
venv="$cache/mlflow-$version"
if [ ! -x "$venv/bin/mlflow" ]; then
  echo "installing mlflow==$version into $venv (once per machine)" >&2
  rm -rf "$venv"
  mkdir -p "$cache"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --upgrade pip >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check "mlflow==$version" >&2
fi
echo "$venv/bin/mlflow"
