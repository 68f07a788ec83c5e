#!/usr/bin/env bash
# Quick start, step 1: set up a fresh machine (Node.js + npm only) and run the main job —
# `rlm-obs demo`, a simulated RLM agent recorded to local JSONL files under
# ./.rlm_code/rlm/observability — then list what it recorded.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-pnpm.sh
pnpm install --frozen-lockfile
pnpm build
pnpm demo
pnpm rlm-obs runs
