#!/usr/bin/env bash
# Set everything up, then run the whole test suite (real local Spark, real TensorFlow).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest "$@"
