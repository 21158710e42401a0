"""DocumentAdapter: the combined LoRA of one document, with its identity; PEFT export and our file format."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from hypernet.errors import AdapterFormatError
from converters.files import atomic_write

FORMAT_NAME = "doclora-adapter"
PEFT_PREFIX = "base_model.model."  # PEFT's name of the wrapped model, before each module name
_META_KEY = "doclora_adapter"


@dataclass
class DocumentAdapter:
    """Per-layer A (L, R, d_in) and B (L, R, d_out), float32; y = W x + alpha * (x A^T) B.

    Rank rows: chunk 0 (r rows), chunk 1, ..., then the hypernetwork's bias block.
    """

    A: torch.Tensor
    B: torch.Tensor
    alpha: float
    n_chunks: int
    layer_indices: list[int]
    target_module: str = "down_proj"
    base_model: str = ""
    base_fingerprint: str = ""
    hypernet_id: str = ""
    chunk_rank: int = 8
    extra: dict = field(default_factory=dict)  # free-form provenance (e.g. token counts)

    def __post_init__(self) -> None:
        if self.A.dim() != 3 or self.B.dim() != 3 or self.A.shape[:2] != self.B.shape[:2]:
            raise ValueError(f"A and B must be (L, R, d) with equal L and R; got {tuple(self.A.shape)}, {tuple(self.B.shape)}")
        if len(self.layer_indices) != self.A.shape[0]:
            raise ValueError(f"{len(self.layer_indices)} layer indices for {self.A.shape[0]} LoRA layers")

    @property
    def rank(self) -> int:
        """R: total rank of the combined LoRA (n_chunks * chunk_rank, plus the bias block's rows)."""
        return self.A.shape[1]

    def lora_modules(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """The LoRA of each patched module, by its Hugging Face name ("model.layers.3.mlp.down_proj"):
        (A (R, d_in), B (d_out, R)), alpha folded into B so that the scale is 1."""
        return {
            f"model.layers.{layer}.mlp.{self.target_module}": (
                self.A[slot].float().contiguous(), (self.alpha * self.B[slot].float()).T.contiguous())
            for slot, layer in enumerate(self.layer_indices)
        }

    def lora_tensors(self) -> dict[str, torch.Tensor]:
        """The same as PEFT names them ("base_model.model.<module>.lora_A.weight", ...)."""
        out = {}
        for module, (a, b) in self.lora_modules().items():
            out[f"{PEFT_PREFIX}{module}.lora_A.weight"], out[f"{PEFT_PREFIX}{module}.lora_B.weight"] = a, b
        return out

    def peft_config(self) -> dict:
        """adapter_config.json content: lora_alpha = r, so PEFT's scale lora_alpha / r is 1."""
        config = {
            "peft_type": "LORA", "task_type": "CAUSAL_LM", "base_model_name_or_path": self.base_model,
            "r": self.rank, "lora_alpha": self.rank, "lora_dropout": 0.0, "target_modules": [self.target_module],
            "bias": "none", "fan_in_fan_out": False, "use_rslora": False, "use_dora": False,
            "inference_mode": True, "init_lora_weights": True, "modules_to_save": None,
        }  # fmt: skip
        if self.layer_indices != list(range(len(self.layer_indices))):
            config["layers_to_transform"] = list(self.layer_indices)
        return config

    def save_peft(self, out_dir: str | Path) -> Path:
        """Write adapter_config.json + adapter_model.safetensors (loadable by peft.PeftModel.from_pretrained)."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        tensors = self.lora_tensors()
        atomic_write(out_dir / "adapter_model.safetensors", lambda p: save_file(tensors, p, metadata={"format": "pt"}))
        atomic_write(out_dir / "adapter_config.json", lambda p: p.write_text(json.dumps(self.peft_config(), indent=2)))
        return out_dir

    def metadata(self) -> dict:
        return {
            "format": FORMAT_NAME, "version": 1, "alpha": self.alpha, "n_chunks": self.n_chunks,
            "layer_indices": list(self.layer_indices), "target_module": self.target_module,
            "base_model": self.base_model, "base_fingerprint": self.base_fingerprint,
            "hypernet_id": self.hypernet_id, "chunk_rank": self.chunk_rank, "extra": self.extra,
        }  # fmt: skip

    def save(self, path: str | Path) -> Path:
        """One safetensors file: tensors A and B, everything else as JSON in the metadata."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tensors = {"A": self.A.float().contiguous(), "B": self.B.float().contiguous()}
        atomic_write(path, lambda p: save_file(tensors, p, metadata={_META_KEY: json.dumps(self.metadata())}))
        return path

    @staticmethod
    def read_extra(path: str | Path) -> dict:
        """The ``extra`` metadata of a file written by `save` (no tensor is read)."""
        try:
            with safe_open(str(path), framework="pt") as f:
                return dict(json.loads((f.metadata() or {})[_META_KEY]).get("extra") or {})
        except Exception as exc:
            raise AdapterFormatError(f"{path} is not a readable DocLoRA adapter ({exc}); internalize the document again.") from exc

    @classmethod
    def load(cls, path: str | Path, chunks: list[int] | None = None) -> "DocumentAdapter":
        """Read a file written by `save`; with ``chunks``, only those chunks' rows (and the bias block) are
        read from disk: the adapter of a document made of those chunks alone."""
        try:
            with safe_open(str(path), framework="pt") as f:
                meta = json.loads((f.metadata() or {})[_META_KEY])
                if chunks is None:
                    A, B = f.get_tensor("A"), f.get_tensor("B")
                else:
                    A, B = (_rows(f.get_slice(name), chunks, int(meta["chunk_rank"]), int(meta["n_chunks"]))
                            for name in ("A", "B"))
            if meta.get("format") != FORMAT_NAME:
                raise ValueError(f"format is {meta.get('format')!r}")
        except Exception as exc:
            raise AdapterFormatError(f"{path} is not a readable DocLoRA adapter ({exc}); internalize the document again.") from exc
        if chunks is not None:
            meta["n_chunks"] = len(chunks)
            meta["extra"] = {**(meta.get("extra") or {}), "chunks": list(chunks)}
        return cls(
            A=A, B=B, alpha=float(meta["alpha"]), n_chunks=int(meta["n_chunks"]), layer_indices=list(meta["layer_indices"]),
            target_module=meta["target_module"], base_model=meta["base_model"], base_fingerprint=meta["base_fingerprint"],
            hypernet_id=meta["hypernet_id"], chunk_rank=int(meta["chunk_rank"]), extra=dict(meta.get("extra") or {}),
        )  # fmt: skip



def _rows(tensor_slice, chunks: list[int], rank: int, n_chunks: int) -> torch.Tensor:
    """The rank rows (L, len(chunks) * rank + bias rows, d) of ``chunks`` and of the bias block."""
    if not chunks or any(not 0 <= c < n_chunks for c in chunks):
        raise ValueError(f"chunks must be a non-empty list of indices in 0..{n_chunks - 1}, got {chunks}")
    total = tensor_slice.get_shape()[1]
    parts = [tensor_slice[:, c * rank:(c + 1) * rank] for c in chunks]
    if total > n_chunks * rank:
        parts.append(tensor_slice[:, n_chunks * rank:total])
    return torch.cat(parts, dim=1)
