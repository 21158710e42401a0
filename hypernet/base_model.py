"""Finding the base model a hypernetwork belongs to, checking that it fits, and fingerprinting it."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from hypernet.errors import BaseModelMismatchError, BaseModelNotFoundError
from hypernet.model import HypernetConfig

# Config fields that decide the shapes and the computation (not names, paths or generation settings).
STRUCTURAL_FIELDS = (
    "model_type", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
    "num_key_value_heads", "head_dim", "vocab_size", "hidden_act", "hidden_activation", "rms_norm_eps",
    "rope_theta", "tie_word_embeddings", "query_pre_attn_scalar", "attn_logit_softcapping", "final_logit_softcapping",
)  # fmt: skip
_DOWNLOAD_PATTERNS = ["*.json", "*.safetensors", "tokenizer.model", "*.tiktoken", "*.txt", "*.jinja"]


def resolve_base_model(recorded: str, checkpoint_folder: Path, override: str | Path | None = None) -> Path:
    """Local folder of the base model: the override (path or hub id), else the recorded name.

    A recorded relative path resolves against the checkpoint's folder; a hub id comes from the local
    Hugging Face cache, or is downloaded unless HF_HUB_OFFLINE is set.
    """
    if override is not None:
        candidate = Path(override).expanduser()
        if candidate.is_dir():
            return candidate.resolve()
        return _from_hub(str(override))
    if not recorded:
        raise BaseModelNotFoundError("The checkpoint records no base model: pass base_model= (a folder or hub id).")
    local = Path(recorded).expanduser()
    local = local if local.is_absolute() else Path(checkpoint_folder) / local
    if local.is_dir():
        return local.resolve()
    if recorded.startswith((".", "/", "~")) or recorded.count("/") > 1:
        raise BaseModelNotFoundError(
            f"The base model folder {local} recorded in the checkpoint does not exist: pass base_model= with its location."
        )
    return _from_hub(recorded)


def _from_hub(repo_id: str) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError

    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")
    try:
        return Path(snapshot_download(repo_id, allow_patterns=_DOWNLOAD_PATTERNS, local_files_only=offline))
    except HFValidationError as exc:
        raise BaseModelNotFoundError(f"{repo_id!r} is neither a model folder nor a Hugging Face model id.") from exc
    except Exception as exc:  # offline and not cached, gated repo, network error, unknown repo
        raise BaseModelNotFoundError(
            f"The base model {repo_id!r} is not in the local Hugging Face cache and could not be downloaded "
            f"({type(exc).__name__}); connect once (without HF_HUB_OFFLINE) or pass base_model= a local folder."
        ) from exc


def read_config(model_dir: Path) -> dict:
    """The base model's config.json as a dict (text config for multimodal wrappers)."""
    try:
        cfg = json.loads((Path(model_dir) / "config.json").read_text())
    except (OSError, ValueError) as exc:
        raise BaseModelNotFoundError(f"{model_dir} has no readable config.json; it is not a transformers model folder.") from exc
    return cfg.get("text_config", cfg)


def check_compatible(config: HypernetConfig, base_config: dict, base_name: str, checkpoint_name: str, recorded: str) -> None:
    """Raise BaseModelMismatchError unless the base has the layer count and sizes the hypernetwork expects."""
    have = (base_config.get("num_hidden_layers"), base_config.get("hidden_size"), base_config.get("intermediate_size"))
    want = (config.n_layers, config.base_hidden_size, config.d_in)
    layers_ok = have[0] is not None and max(config.layer_indices) < have[0]
    if config.layer_to_layer:  # one activation stream per base layer
        layers_ok = layers_ok and config.n_layers == have[0]
    if not layers_ok or have[1] != want[1] or have[2] != want[2] or config.d_out != have[1]:
        layers = want[0] if config.layer_to_layer else f"at least {max(config.layer_indices) + 1}"
        raise BaseModelMismatchError(
            f"The hypernetwork {checkpoint_name} was trained for {recorded or 'another model'} "
            f"({layers} layers, hidden {want[1]}, intermediate {want[2]}) but the base model {base_name} has "
            f"{have[0]} layers, hidden {have[1]}, intermediate {have[2]}: use the base model it was trained for."
        )


def base_fingerprint(model_dir: str | Path) -> str:
    """Short hash of the structural config fields and the weight names/shapes (not the values)."""
    model_dir = Path(model_dir)
    cfg = read_config(model_dir)
    items = {k: cfg.get(k) for k in STRUCTURAL_FIELDS if k in cfg}
    items["weights"] = _weight_shapes(model_dir)
    return hashlib.sha256(json.dumps(items, sort_keys=True).encode()).hexdigest()[:16]


def _weight_shapes(model_dir: Path) -> list:
    """(name, shape) of every tensor in the folder's safetensors files, read from their headers only."""
    from safetensors import safe_open

    shapes = []
    for f in sorted(model_dir.glob("*.safetensors")):
        with safe_open(str(f), framework="pt") as st:
            shapes.extend((k, list(st.get_slice(k).get_shape())) for k in st.keys())
    return sorted(shapes)
