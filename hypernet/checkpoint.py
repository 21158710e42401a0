"""Hypernetwork checkpoints: the reference `pytorch_model.bin` and our folder format.

Our format (written by `save_checkpoint`): a folder with `config.json`
(`{"format": "doclora-hypernet", "version": 1, "hypernet": {...HypernetConfig}, "base_model_name_or_path": ...}`)
and `model.safetensors` holding the HypernetModel state dict.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from hypernet.errors import CheckpointFormatError
from converters.files import atomic_write
from hypernet.model import HypernetConfig, HypernetModel
from hypernet.unpickler import load_reference_state

FORMAT_NAME = "doclora-hypernet"
REFERENCE_FILE = "pytorch_model.bin"
_PICKLED_ENTRIES = ("base_model_name_or_path", "hypernet_config", "ctx_encoder_args")


@dataclass
class Checkpoint:
    """A loaded checkpoint: config, tensors, the recorded base model and the checkpoint's identity."""

    config: HypernetConfig
    state_dict: dict[str, torch.Tensor]
    base_model_name_or_path: str
    folder: Path  # relative base paths resolve against this folder
    hypernet_id: str

    def check_fits(self) -> None:
        """CheckpointFormatError unless the tensors' names and shapes are those of the config's model
        (the model is built on the meta device: no memory, no weights copied)."""
        with torch.device("meta"):
            want = {k: tuple(v.shape) for k, v in HypernetModel(self.config).state_dict().items()}
        have = {k: tuple(v.shape) for k, v in self.state_dict.items()}
        if have != want:
            odd = sorted(k for k in want.keys() | have.keys() if want.get(k) != have.get(k))
            raise CheckpointFormatError(
                f"The checkpoint in {self.folder} does not fit its own config ({len(odd)} tensors differ in name or "
                f"shape, e.g. {odd[:3]}); it is damaged or from an unsupported hypernetwork variant."
            )

    def build_model(self) -> HypernetModel:
        """A HypernetModel (float32, CPU) holding these weights."""
        model = HypernetModel(self.config)
        missing, unexpected = model.load_state_dict(self.state_dict, strict=False)
        if missing or unexpected:
            raise CheckpointFormatError(
                f"The checkpoint in {self.folder} does not fit its own config (missing {missing[:3]}, "
                f"unexpected {unexpected[:3]}); it is damaged or from an unsupported hypernetwork variant."
            )
        return model.eval()


def save_checkpoint(out_dir: str | Path, model: HypernetModel, config: HypernetConfig, base_model_name_or_path: str) -> Path:
    """Write `config.json` + `model.safetensors` into `out_dir` (each file atomically); returns out_dir."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in model.state_dict().items()}
    meta = {"format": FORMAT_NAME, "version": 1, "hypernet": config.to_dict(), "base_model_name_or_path": str(base_model_name_or_path)}
    atomic_write(out_dir / "model.safetensors", lambda p: save_file(tensors, str(p)))
    atomic_write(out_dir / "config.json", lambda p: p.write_text(json.dumps(meta, indent=2)))
    return out_dir


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Load a reference `pytorch_model.bin` (file, folder, or folder of checkpoint-N/) or our folder format."""
    path = Path(path).expanduser()
    if not path.exists():
        raise CheckpointFormatError(f"No hypernetwork checkpoint at {path}: check the path.")
    if path.is_dir() and (path / "config.json").is_file() and (path / "model.safetensors").is_file():
        return _load_ours(path)
    return _load_reference(_reference_file(path))


def _reference_file(path: Path) -> Path:
    if path.is_file():
        return path
    if (path / REFERENCE_FILE).is_file():
        return path / REFERENCE_FILE
    steps = sorted(
        (int(m.group(1)), p) for p in path.iterdir() if (m := re.fullmatch(r"checkpoint-(\d+)", p.name)) and (p / REFERENCE_FILE).is_file()
    )
    if steps:
        return steps[-1][1] / REFERENCE_FILE
    raise CheckpointFormatError(
        f"{path} holds no hypernetwork checkpoint (expected config.json + model.safetensors, "
        f"{REFERENCE_FILE}, or checkpoint-N/{REFERENCE_FILE})."
    )


def adapter_scales(path: str | Path) -> dict[str, float]:
    """The scale the adapters of the hypernetwork at ``path`` are applied at, per kind of document
    (``hypernet.doc_kind``): what its recipe's calibration recorded in our folder format's
    ``config.json`` (``adapter_scale`` for every kind, ``adapter_scale_by_kind`` for those that differ;
    numbers from 0 to 1), else 1 (reference checkpoints and folders from before calibration)."""
    from hypernet.doc_kind import KINDS

    config = Path(path) / "config.json"
    if not config.is_file():
        return dict.fromkeys(KINDS, 1.0)
    try:
        meta = json.loads(config.read_text())
        default, by_kind = meta.get("adapter_scale", 1.0), meta.get("adapter_scale_by_kind", {})
    except (OSError, ValueError, AttributeError) as exc:
        raise CheckpointFormatError(f"{config} is not readable JSON ({exc}).") from exc
    if not isinstance(by_kind, dict) or not set(by_kind) <= set(KINDS):
        raise CheckpointFormatError(f"{config} gives adapter_scale_by_kind {by_kind!r}; it must map some of "
                                    f"{', '.join(KINDS)} to numbers.")
    scales = {kind: by_kind.get(kind, default) for kind in KINDS}
    for kind, value in scales.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
            name = "adapter_scale" if kind not in by_kind else f"adapter_scale_by_kind[{kind!r}]"
            raise CheckpointFormatError(f"{config} gives {name} {value!r}; it must be a number from 0 to 1.")
    return {kind: float(value) for kind, value in scales.items()}


def _load_ours(folder: Path) -> Checkpoint:
    try:
        meta = json.loads((folder / "config.json").read_text())
        if meta.get("format") != FORMAT_NAME:
            raise ValueError(f"format is {meta.get('format')!r}")
        config = HypernetConfig.from_dict(meta["hypernet"])
        state = load_file(str(folder / "model.safetensors"))
    except Exception as exc:
        raise CheckpointFormatError(
            f"{folder} is not a readable DocLoRA hypernetwork folder ({exc}); re-save it with save_checkpoint."
        ) from exc
    digest = _sha256([folder / "config.json", folder / "model.safetensors"])
    return Checkpoint(config, state, meta.get("base_model_name_or_path", ""), folder, digest[:16])


def _load_reference(file: Path) -> Checkpoint:
    raw = load_reference_state(file)
    if not isinstance(raw, dict) or any(k not in raw for k in _PICKLED_ENTRIES):
        raise CheckpointFormatError(
            f"{file} is a torch file but not a Doc-to-LoRA checkpoint (it lacks {', '.join(_PICKLED_ENTRIES)})."
        )
    state = {k.removeprefix("_orig_mod."): v for k, v in raw.items() if isinstance(v, torch.Tensor)}
    names = {k.removeprefix("_orig_mod.") for k in raw}
    config = _config_from_reference(raw["hypernet_config"], raw["ctx_encoder_args"], state, file)
    if names - set(state) - set(_PICKLED_ENTRIES):
        raise CheckpointFormatError(f"{file} holds unexpected non-tensor entries: {sorted(names - set(state))[:5]}.")
    return Checkpoint(config, state, str(raw["base_model_name_or_path"]), file.parent, _sha256([file])[:16])


def _config_from_reference(hc, enc, state: dict, file: Path) -> HypernetConfig:
    """Translate the pickled HypernetConfig / AggregatorConfig / CtxEncoderArguments to ours."""
    try:
        agg, lora = hc.aggregator_config, hc.lora_config
        d_in, d_out = hc.feature_sizes
        targets = sorted(lora.target_modules)
        unsupported = {
            "aggregator_type != perceiver": agg.aggregator_type != "perceiver",
            "num_self_attn_per_block > 0": agg.num_self_attn_per_block != 0,
            "per_rank_gen off": not hc.per_rank_gen,
            "per_layer_processing off": not hc.per_layer_processing,
            "light-weight LoRA": getattr(hc, "use_light_weight_lora", False),
            "token mixing": getattr(hc, "use_token_mixing", False),
            "extra modules": bool(getattr(hc, "extra_modules", None)),
            "per-rank bias": getattr(hc, "use_per_rank_bias", False),
            "target modules other than down_proj": targets != ["down_proj"],
            "context encoder type": enc.ctx_encoder_type not in ("per_layer_activations", "early_exit"),
            "ctx_encoder_last_layer": getattr(enc, "ctx_encoder_last_layer", None) is not None,
        }
        bad = [k for k, v in unsupported.items() if v]
        if bad:
            raise CheckpointFormatError(f"{file} uses hypernetwork options DocLoRA does not support: {', '.join(bad)}.")
        layer_indices = [int(i) for i in torch.as_tensor(hc.layer_indices).tolist()]
        n_pre_head = len({k.split(".")[1] for k in state if k.startswith("layers.")})
        return HypernetConfig(
            n_layers=len(layer_indices),
            base_hidden_size=int(agg.feature_size),
            d_in=int(d_in["down_proj"]),
            d_out=int(d_out["down_proj"]),
            encoder_type=enc.ctx_encoder_type,
            early_exit_layer=int(enc.layer_idx) if enc.ctx_encoder_type == "early_exit" else None,
            rank=int(lora.r),
            lora_alpha=float(lora.lora_alpha),
            latent_size=int(hc.latent_size),
            n_latent_queries=int(agg.n_latent_queries),
            num_blocks=int(agg.num_blocks),
            num_pre_head_layers=n_pre_head,
            use_bias=bool(getattr(hc, "use_bias", True)),
            layer_indices=layer_indices,
            quantize_encoder=bool(getattr(enc, "quantize_ctx_encoder", False)),
        )
    except CheckpointFormatError:
        raise
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise CheckpointFormatError(f"{file} has an unreadable hypernetwork config ({exc}).") from exc


def _sha256(files: list[Path]) -> str:
    h = hashlib.sha256()
    for f in files:
        with open(f, "rb") as fh:
            while block := fh.read(1 << 24):
                h.update(block)
    return h.hexdigest()

