#!/usr/bin/env bash
# Set everything up, then run sparktf's main job on local Spark (no cluster needed).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
exec .venv/bin/sparktf demo "$@"
