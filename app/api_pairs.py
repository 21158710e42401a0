"""The model-pair part of the facade: list, pull, use, add and remove pairs, offline mode, and
training a pair from a preset.

Mixed into ``app.api.DocLoRA``, whose library (``library``) and ``_pairs_changed`` it uses; the
work is ``app.models``'s.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.util import find_spec
from pathlib import Path

from app.errors import DocLoRAError, translated_errors
from app.library import Library
from app.models import (
    Pair, add_pair, enforce_offline, get_pair, list_pairs, pull, remove_pair, use_pair)
from app.models.install import Progress


class PairCommands:
    """Model pairs of one library."""

    library: Library
    _pairs_changed: Callable[[], None]  # DocLoRA's: the active pair may have changed

    def _changed(self, pair: Pair) -> Pair:
        """``pair``, after what may have changed the active pair."""
        self._pairs_changed()
        return pair

    def pairs(self) -> list[Pair]:
        """Every pair (bundled, in the registry, added), installed or not; ``active`` marks the
        active one."""
        return list_pairs(self.library)

    def get_pair(self, name: str) -> Pair:
        """One pair by name (PairNotFoundError)."""
        return get_pair(self.library, name)

    def pull(self, name: str, quant: str | None = None, gguf_from: str | None = None,
             force: bool = False, use: bool = True, progress: Progress | None = None,
             revisions: dict[str, str] | None = None) -> Pair:
        """Download, verify and install a registry pair (``app.models.install.pull``); with
        ``use`` it becomes the active pair."""
        with translated_errors():
            return self._changed(pull(self.library, name, quant=quant, gguf_from=gguf_from,
                                      force=force, use=use, progress=progress,
                                      revisions=revisions))

    def use_pair(self, name: str) -> Pair:
        """Make an installed pair the active one."""
        return self._changed(use_pair(self.library, name))

    def add_pair(self, name: str, base_dir: Path, gguf: Path, hypernet: Path,
                 use: bool = False) -> Pair:
        """Record your own pair once its GGUF and hypernetwork are checked against the base."""
        with translated_errors():
            return self._changed(add_pair(self.library, name, base_dir, gguf, hypernet, use=use))

    def remove_pair(self, name: str) -> Pair:
        """Uninstall a pulled pair (delete its files), or forget one you added (its files stay)."""
        return self._changed(remove_pair(self.library, name))

    def offline(self) -> bool:
        """Once the active pair is installed, switch the hub libraries offline (``pull`` lifts
        it for its own duration); returns whether offline mode is on."""
        return enforce_offline(self.library)

    def train(self, preset: str, out: str | Path | None = None,
              log: Callable[[str], None] = print) -> Path:
        """Train a pair from a preset into ``out`` (default: the library's models folder /
        PRESET), with a fixed seed; an interrupted run resumes. Returns ``out``."""
        from app.models.bundled import build_smollm2
        from app.paths import models_dir, smollm2_dir
        from hypernet.train import DOCQA_PRESETS, preset_names, run_preset
        if preset not in preset_names():
            raise DocLoRAError(f"Unknown preset '{preset}'; choose one of "
                               f"{', '.join(preset_names())}.")
        if find_spec("accelerate") is None:
            raise DocLoRAError("Training needs DocLoRA's 'train' extra; install it with "
                               "pip install -e '.[train]'.")
        out = Path(out or models_dir() / preset)
        with translated_errors():
            if preset in DOCQA_PRESETS:  # trains on the bundled SmolLM2 base, linked beside it
                pair = build_smollm2(log=log)
                out.mkdir(parents=True, exist_ok=True)
                for name in ("base", "model.gguf"):
                    if not (out / name).exists():
                        (out / name).symlink_to((pair / name).resolve())
                run_preset(preset, out, log=log, base_model=smollm2_dir() / "base")
            else:
                run_preset(preset, out, log=log)
        return out
