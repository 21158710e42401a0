"""Training checkpoints: hypernetwork weights in our format, optimizer state as safetensors, the
step and the config as JSON. No pickle anywhere, so resuming runs no foreign code."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from hypernet.checkpoint import save_checkpoint
from converters.files import atomic_write
from hypernet.model import HypernetConfig, HypernetModel

from .config import TrainConfig

_STEP_DIR = re.compile(r"step-(\d+)")


def save_training_state(ckpt_root: Path, step: int, model: HypernetModel, hcfg: HypernetConfig,
                        optimizer: torch.optim.Optimizer, cfg: TrainConfig, keep: int = 2,
                        extra: dict | None = None) -> Path:
    """Write ``ckpt_root/step-N/`` (weights, optimizer, state JSON) and prune older ones."""
    folder = Path(ckpt_root) / f"step-{step}"
    opt = optimizer.state_dict()
    tensors = {f"state.{i}.{k}": v.detach().cpu().contiguous()
               for i, st in opt["state"].items() for k, v in st.items() if torch.is_tensor(v)}
    groups = [{k: v for k, v in g.items()} for g in opt["param_groups"]]
    state = json.dumps({"step": step, "param_groups": groups, "extra": extra or {}, "config": json.loads(cfg.to_json())},
                       indent=2)

    def write(tmp: Path) -> None:
        save_checkpoint(tmp, model, hcfg, cfg.base_record or cfg.base_model)
        save_file(tensors, str(tmp / "optimizer.safetensors"))
        (tmp / "trainer_state.json").write_text(state)

    Path(ckpt_root).mkdir(parents=True, exist_ok=True)
    atomic_write(folder, write)
    for old in sorted(list_checkpoints(ckpt_root))[:-keep]:
        shutil.rmtree(old[1], ignore_errors=True)
    return folder


def list_checkpoints(ckpt_root: Path) -> list[tuple[int, Path]]:
    """(step, folder) of every complete training checkpoint under ``ckpt_root``."""
    root = Path(ckpt_root)
    if not root.is_dir():
        return []
    return sorted((int(m.group(1)), p) for p in root.iterdir()
                  if (m := _STEP_DIR.fullmatch(p.name)) and (p / "trainer_state.json").is_file())


def load_training_state(folder: Path, model: HypernetModel, optimizer: torch.optim.Optimizer) -> tuple[int, dict]:
    """Restore weights and optimizer state from ``folder``; returns (step to continue from, extra state)."""
    folder = Path(folder)
    model.load_state_dict(load_file(str(folder / "model.safetensors")))
    meta = json.loads((folder / "trainer_state.json").read_text())
    flat = load_file(str(folder / "optimizer.safetensors"))
    state: dict[int, dict] = {}
    for key, value in flat.items():
        _, idx, name = key.split(".", 2)
        state.setdefault(int(idx), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    return int(meta["step"]), meta.get("extra", {})
