#!/usr/bin/env bash
# Makes sure the pnpm version this repository pins (package.json "packageManager") is on PATH.
# Needs only Node.js and npm.
set -euo pipefail
want="$(node -p "require('./package.json').packageManager.split('@')[1]")"
if command -v pnpm >/dev/null 2>&1 && [ "$(pnpm --version 2>/dev/null)" = "$want" ]; then
  exit 0
fi
echo "installing pnpm@${want} with npm" >&2
npm install --global --no-fund --no-audit "pnpm@${want}" >&2
