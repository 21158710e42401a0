"""The registry of supported model pairs: data in ``pairs.json``, read into ``PairSpec``s."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from functools import lru_cache
from pathlib import Path

REGISTRY_FILE = Path(__file__).with_name("pairs.json")
DEMO_PAIR = "tiny-needle"  # the demo pair in assets/ (needles only); the default until `make setup` built SMOLLM2
SMOLLM2 = "smollm2-135m"  # the real-language pair in assets/ (built by `make setup`); the default once built
BUNDLED_NAMES = (DEMO_PAIR, SMOLLM2)
QUANTS = ("Q4_K_M", "Q8_0", "F16")


@dataclass(frozen=True)
class RepoFiles:
    """Files to fetch from one hub repository: exact names or fnmatch patterns."""

    repo: str
    revision: str
    patterns: tuple[str, ...]


@dataclass(frozen=True)
class PairFacts:
    """What the app tells a user about a pair, from the registry or the bundled assets."""

    recommended: bool = False
    gated: bool = False  # the hub needs a token and an accepted licence
    licence: str = ""
    download_gb: float | None = None
    gguf_gb: dict[str, float] = field(default_factory=dict)  # chat GGUF size per quantization
    ram_gb: float | None = None
    vram_gb: float | None = None
    notes: str = ""  # what the pair is good for (shown in the window and `models list`)


@dataclass(frozen=True)
class PairSpec:
    """One registry entry: where the base, hypernetwork and chat GGUF come from."""

    name: str
    title: str
    architecture: str  # the GGUF architecture the base converts to
    base: RepoFiles
    hypernet: RepoFiles  # exactly one file: the checkpoint-N/pytorch_model.bin
    gguf_method: str  # "convert" (from the downloaded base) or "download"
    quant: str = "Q4_K_M"
    gguf: RepoFiles | None = None  # only for gguf_method == "download"
    facts: PairFacts = field(default_factory=PairFacts)

    @property
    def hypernet_file(self) -> str:
        """The checkpoint's path inside the hypernetwork repository."""
        return self.hypernet.patterns[0]


def _repo_files(d: dict, key: str = "files") -> RepoFiles:
    patterns = d[key] if isinstance(d[key], list) else [d[key]]
    return RepoFiles(repo=d["repo"], revision=d.get("revision", "main"), patterns=tuple(patterns))


def _spec(name: str, d: dict) -> PairSpec:
    gguf = d["gguf"]
    method = gguf.get("method", "download" if "repo" in gguf else "convert")
    return PairSpec(
        name=name,
        title=d["title"],
        architecture=d["architecture"],
        base=_repo_files(d["base"]),
        hypernet=_repo_files(d["hypernet"], "file"),
        gguf_method=method,
        quant=gguf.get("quant", "Q4_K_M"),
        gguf=_repo_files(gguf, "file") if method == "download" else None,
        facts=PairFacts(**{f.name: d[f.name] for f in fields(PairFacts) if f.name in d}),
    )


@lru_cache(maxsize=1)
def load_specs() -> dict[str, PairSpec]:
    """Every downloadable pair of the registry, by name (the bundled pair is not listed here)."""
    data = json.loads(REGISTRY_FILE.read_text(encoding="utf-8"))
    return {name: _spec(name, d) for name, d in data["pairs"].items()}
