#!/usr/bin/env bash
# An MLflow tracking server (PyPI mlflow) for the end-to-end tests.
exec bash "$(dirname "$0")/setup-python-tool.sh" mlflow "${MLFLOW_VERSION:-3.17.2}" mlflow
