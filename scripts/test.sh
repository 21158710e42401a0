#!/usr/bin/env bash
# Runs the whole test suite inside the project's virtual environment
# (after scripts/setup.sh). Installs Debian's Chromium for the browser tests and Tesseract for
# the scanned-PDF tests if they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-browser.sh
bash scripts/install-ocr.sh
mkdir -p artifacts
export PYTHONUNBUFFERED=1 OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
exec .venv/bin/python -m pytest -q "$@"
