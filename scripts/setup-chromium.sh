#!/usr/bin/env bash
# Debian's Chromium for the viewer's browser tests (playwright-core drives it; it never
# downloads a browser of its own). Prints the executable's path. Installs with apt-get when
# it is missing (as root, or through sudo); does nothing when it is already there.
set -euo pipefail
bin="${RLM_OBS_CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$bin" ]; then
  if [ "$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null; then sudo="sudo"; else
    echo "Chromium is not installed and this user cannot install it: apt-get install chromium" >&2
    exit 1
  fi
  echo "installing Debian's chromium (apt-get)…" >&2
  export DEBIAN_FRONTEND=noninteractive
  # The package lists may be stale on a fresh machine; refresh them only when the install fails.
  $sudo apt-get install -y -q --no-install-recommends chromium >&2 ||
    { $sudo apt-get update -q >&2 && $sudo apt-get install -y -q --no-install-recommends chromium >&2; }
fi
"$bin" --version >&2
echo "$bin"
