#!/usr/bin/env bash
# Arize Phoenix (PyPI arize-phoenix), a real OTLP backend for the end-to-end tests.
exec bash "$(dirname "$0")/setup-python-tool.sh" arize-phoenix "${PHOENIX_VERSION:-20.26.1}" phoenix
