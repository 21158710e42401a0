"""The one model-pair type: a base model (HF folder for the encoder), its chat GGUF and its D2L
hypernetwork, with what the app shows about it and whether it is installed."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from app.errors import ModelError
from app.models.registry import DEMO_PAIR, PairFacts


@dataclass
class Pair:
    """One model pair, bundled, from the registry (``pairs.json``) or added by the user."""

    name: str
    title: str
    base_dir: Path
    gguf: Path
    hypernet: Path
    installed: bool = False
    active: bool = False
    kind: str = "registry"  # "bundled" | "registry" | "user"
    base_repo: str | None = None
    hypernet_repo: str | None = None
    hypernet_file: str | None = None
    gguf_method: str | None = None  # "convert" | "download" | "bundled" | "user"
    quant: str | None = None
    facts: PairFacts = field(default_factory=PairFacts)  # licence, sizes, what it is good for
    installed_at: str | None = None
    source: dict[str, Any] = field(default_factory=dict)  # what was installed (repos, commits)

    @property
    def demo(self) -> bool:
        """True for the bundled demo pair ``tiny-needle``."""
        return self.name == DEMO_PAIR

    @cached_property
    def adapter_scales(self) -> dict[str, float]:
        """The scale this pair's adapters are applied at, per kind of document (``hypernet.doc_kind``):
        what its recipe chose on held-out training sources (``hypernet.train.calibrate``), 1 when the
        hypernetwork records none; a bad value is a ModelError. Read once per Pair (every question's
        selection asks for it)."""
        from hypernet.checkpoint import adapter_scales
        from hypernet.errors import CheckpointFormatError

        try:
            return adapter_scales(self.hypernet)
        except CheckpointFormatError as exc:
            raise ModelError(f"The {self.name} pair's hypernetwork is damaged: {exc}") from exc

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (paths as strings, the facts at the top level)."""
        d = asdict(self)
        d.update(d.pop("facts"))
        for key in ("base_dir", "gguf", "hypernet"):
            d[key] = str(d[key])
        return d


def check_pair(pair: Pair) -> Pair:
    """The pair, after checking that its files are still there (right before they load);
    ModelError naming the first missing one otherwise."""
    for what, path in (("chat GGUF", pair.gguf), ("hypernetwork", pair.hypernet),
                       ("base model folder", pair.base_dir)):
        if not path.exists():
            hint = ("the demo model is still being built; run 'make setup' or 'doclora train "
                    "--preset tiny-needle'" if pair.demo else
                    f"run 'doclora models pull {pair.name}' to install it again")
            raise ModelError(f"The {what} of model pair '{pair.name}' is missing ({path}); {hint}.")
    return pair
