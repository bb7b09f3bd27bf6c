#!/usr/bin/env bash
# Set everything up, then run the whole test suite (real local Spark, real TensorFlow).
# The tests run in SPARKTF_TEST_WORKERS pytest-xdist processes (default 3: on 2 cores most of
# a test's time is spent waiting on a JVM, a subprocess or a Spark job, not computing), each
# with a Spark session of its own; arguments go to pytest (-n 0: one process).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest -n "${SPARKTF_TEST_WORKERS:-3}" --dist worksteal "$@"
