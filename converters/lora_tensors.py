"""Gather a LoRA as {Hugging Face module name: (A, B)}, scale folded into B, from a DocumentAdapter
(its ``lora_modules``) or a PEFT folder (whose tensor names are read here)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from converters.errors import AdapterMismatchError

Pairs = dict[str, tuple[np.ndarray, np.ndarray]]  # module -> (A [r, d_in], B [d_out, r])
# A PEFT folder's tensor names: "base_model.model.model.layers.3.mlp.down_proj.lora_A.weight"
# (or "...lora_A.default.weight") -> ("model.layers.3.mlp.down_proj", "A")
PEFT_KEY = re.compile(r"^(?:base_model\.model\.)?(?P<module>.+)\.lora_(?P<ab>[AB])(?:\.[^.]+)?\.weight$")


def _to_numpy(t: Any) -> np.ndarray:
    """A torch tensor (any dtype/device) or array -> float32 numpy, without importing torch here."""
    if hasattr(t, "detach"):
        t = t.detach().float().cpu().numpy()
    return np.ascontiguousarray(np.asarray(t, dtype=np.float32))


def checked_pairs(modules: Iterable[tuple[str, Any, Any]]) -> Pairs:
    """(module, A, B) triples as float32 pairs, in module order; errors on a rank mismatch and on
    no module at all."""
    pairs = {}
    for module, a, b in sorted(modules, key=lambda m: m[0]):
        a, b = _to_numpy(a), _to_numpy(b)
        if a.ndim != 2 or b.ndim != 2 or a.shape[0] != b.shape[1]:
            raise AdapterMismatchError(
                f"Adapter module {module}: lora_A {a.shape} and lora_B {b.shape} disagree on the rank."
            )
        pairs[module] = (a, b)
    if not pairs:
        raise AdapterMismatchError("The adapter holds no LoRA tensors; nothing to convert.")
    return pairs


def split_pairs(tensors: dict[str, Any]) -> Pairs:
    """PEFT-named tensors (a PEFT folder's) -> pairs; errors on stray keys and lone halves."""
    halves: dict[str, dict[str, Any]] = {}
    for key, value in tensors.items():
        m = PEFT_KEY.match(key)
        if m is None:
            raise AdapterMismatchError(
                f"Adapter tensor {key!r} is not a LoRA A/B weight; a GGUF LoRA can only carry "
                "lora_A/lora_B (save the adapter without modules_to_save, bias or DoRA)."
            )
        halves.setdefault(m["module"], {})[m["ab"]] = value
    for module, ab in halves.items():
        if set(ab) != {"A", "B"}:
            raise AdapterMismatchError(f"Adapter module {module} has lora_{''.join(ab)} but not its partner.")
    return checked_pairs((module, ab["A"], ab["B"]) for module, ab in halves.items())


def _pattern_value(patterns: dict[str, Any], module: str, default: Any) -> Any:
    """PEFT's rank_pattern/alpha_pattern lookup: a key matches the end of the module name."""
    for pattern, value in patterns.items():
        if re.match(rf"(.*\.)?{pattern}$", module):
            return value
    return default


def read_peft_dir(folder: Path) -> Pairs:
    """A PEFT LoRA folder -> pairs with PEFT's scaling (alpha/r, or alpha/sqrt(r)) folded into B."""
    cfg_path, weights = folder / "adapter_config.json", folder / "adapter_model.safetensors"
    if not cfg_path.is_file():
        raise AdapterMismatchError(f"{folder} has no adapter_config.json; it is not a PEFT adapter folder.")
    if not weights.is_file():
        hint = " (only the pickled .bin: re-save it with safetensors)" if (folder / "adapter_model.bin").exists() else ""
        raise AdapterMismatchError(f"{folder} has no adapter_model.safetensors{hint}.")
    cfg = json.loads(cfg_path.read_text())
    if cfg.get("peft_type", "LORA") != "LORA" or cfg.get("use_dora"):
        raise AdapterMismatchError(
            f"{folder.name} is a {cfg.get('peft_type')}{' DoRA' if cfg.get('use_dora') else ''} adapter; "
            "only plain LoRA converts to GGUF."
        )
    from safetensors import safe_open  # torch framework: handles bf16, which numpy cannot

    with safe_open(str(weights), framework="pt") as f:
        pairs = split_pairs({k: f.get_tensor(k) for k in f.keys()})
    r0, alpha0 = cfg.get("r", 8), cfg.get("lora_alpha", 8)
    rank_pattern, alpha_pattern = cfg.get("rank_pattern") or {}, cfg.get("alpha_pattern") or {}
    folded = {}
    for module, (a, b) in pairs.items():
        r = _pattern_value(rank_pattern, module, r0)
        alpha = _pattern_value(alpha_pattern, module, alpha0)
        if a.shape[0] != r:
            raise AdapterMismatchError(
                f"{module}: adapter_config.json says rank {r} but lora_A has {a.shape[0]} rows."
            )
        scale = alpha / math.sqrt(r) if cfg.get("use_rslora") else alpha / r
        folded[module] = (a, b * np.float32(scale))
    return folded


def gather(adapter: Any) -> tuple[Pairs, dict[str, str]]:
    """DocumentAdapter-like object (has lora_modules()) or PEFT folder -> (pairs, provenance)."""
    if hasattr(adapter, "lora_modules"):
        provenance = {
            key: str(getattr(adapter, key))
            for key in ("base_model", "base_fingerprint", "hypernet_id")
            if getattr(adapter, key, None) is not None
        }
        return checked_pairs((m, a, b) for m, (a, b) in adapter.lora_modules().items()), provenance
    folder = Path(adapter)
    if not folder.is_dir():
        raise AdapterMismatchError(
            f"{adapter!r} is neither a DocumentAdapter nor a PEFT adapter folder; pass one of those."
        )
    cfg = json.loads((folder / "adapter_config.json").read_text()) if (folder / "adapter_config.json").is_file() else {}
    provenance = {"base_model": str(cfg["base_model_name_or_path"])} if cfg.get("base_model_name_or_path") else {}
    return read_peft_dir(folder), provenance
