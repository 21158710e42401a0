"""The active model pair as the app core needs it: name, base folder, chat GGUF, hypernetwork.

``app.models.active_pair`` (issue 6) decides which pair is active; this module adapts its answer
to the few fields the core uses, checks that the files exist, and falls back to the bundled demo
pair when ``app.models`` is not available.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from app.errors import ModelError
from app.paths import demo_pair_dir

DEMO_NAME = "tiny-needle"


@dataclass(frozen=True)
class Pair:
    """A base model (HF folder for the encoder), its chat GGUF, and its D2L hypernetwork."""

    name: str
    base_dir: Path
    gguf: Path
    hypernet: Path
    notes: str = ""  # what the pair is good for (shown in the window and `models list`)

    @property
    def demo(self) -> bool:
        """True for the bundled demo pair."""
        return self.name == DEMO_NAME


def demo_pair() -> Pair:
    """The bundled ``tiny-needle`` pair in ``assets/``."""
    root = demo_pair_dir()
    return Pair(DEMO_NAME, root / "base", root / "model.gguf", root / "hypernet")


def active_pair(name: str | None = None) -> Pair:
    """The pair to use: ``name``, else ``$DOCLORA_MODEL``, else the active one, else the demo.

    Its files are not checked here (listing documents needs no model); see ``check_pair``.
    """
    try:
        from app.models import active_pair as models_active_pair
    except ImportError:
        models_active_pair = None
    if models_active_pair is not None:
        try:
            found = models_active_pair(name)
        except Exception as exc:  # the models package's own errors carry a message
            raise ModelError(str(exc).rstrip(".") + ".") from exc
        pair = Pair(found.name, Path(found.base_dir), Path(found.gguf), Path(found.hypernet), found.notes)
    else:
        wanted = name or os.environ.get("DOCLORA_MODEL") or DEMO_NAME
        if wanted != DEMO_NAME:
            raise ModelError(f"Model pair '{wanted}' is not installed; "
                             f"run 'doclora models list' to see the installed pairs.")
        pair = demo_pair()
    return pair


def check_pair(pair: Pair) -> Pair:
    """Raise ModelError naming the first missing file of the pair."""
    for what, path in (("chat GGUF", pair.gguf), ("hypernetwork", pair.hypernet),
                       ("base model folder", pair.base_dir)):
        if not path.exists():
            hint = ("the demo model is still being built; run 'make setup' or 'doclora train "
                    "--preset tiny-needle'" if pair.demo else
                    f"run 'doclora models pull {pair.name}' to install it again")
            raise ModelError(f"The {what} of model pair '{pair.name}' is missing ({path}); {hint}.")
    return pair
