#!/usr/bin/env bash
# Runs the whole test suite inside the project's virtual environment.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p artifacts
export PYTHONUNBUFFERED=1
exec .venv/bin/python -m pytest -q "$@"
