"""`load_hypernet` and `Hypernet`: document text -> token chunks -> features -> LoRA -> DocumentAdapter."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from hypernet.adapter import DocumentAdapter
from hypernet.base_model import base_fingerprint, check_compatible, read_config, resolve_base_model
from hypernet.checkpoint import load_checkpoint
from hypernet.chunking import DEFAULT_MAX_CHUNK_TOKENS, chunk_spans, chunk_text
from hypernet.device import encoder_quantization, quantization_config, select_device
from hypernet.encoder import ContextEncoder
from hypernet.errors import ChunkingError
from hypernet.model import HypernetConfig, HypernetModel, combine
from hypernet.nf4 import nf4_roundtrip_linears_

Progress = Callable[[str, int, int], None]
# Elements of the perceiver's widest activation (rows x T x 4H) per step: bounds its memory.
_PERCEIVER_ELEMENTS = 1 << 26


class Hypernet:
    """A loaded D2L hypernetwork with its context encoder and the base model's tokenizer."""

    def __init__(self, model: HypernetModel, encoder: ContextEncoder, tokenizer, *, base_model_path: Path,
                 base_model: str, base_fingerprint: str, hypernet_id: str, max_chunk_tokens: int,
                 max_batch_tokens: int, cpu_bf16: bool = False, encoder_quantization: str | None = None,
                 trained_on: str = "") -> None:  # fmt: skip
        self.model, self.encoder, self.tokenizer = model, encoder, tokenizer
        self.config: HypernetConfig = model.cfg
        self.base_model_path, self.base_model = base_model_path, base_model
        self.base_fingerprint, self.hypernet_id = base_fingerprint, hypernet_id
        self.max_chunk_tokens = max_chunk_tokens
        self.max_batch_tokens = max_batch_tokens  # tokens per encoder batch (chunks run in groups)
        self.cpu_bf16 = cpu_bf16  # context encoder under bf16 autocast on CPU (the LoRA math stays fp32)
        self.encoder_quantization = encoder_quantization  # "bitsandbytes", "nf4" (plain torch) or None
        self.trained_on = trained_on  # the base name the checkpoint records: picks the context format

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    def chunk_text(self, text: str, max_chunk_tokens: int | None = None,
                   snap_to_sentences: bool = False) -> list[list[int]]:
        """Templated token-id chunks of a document (cuts after sentence ends with `snap_to_sentences`)."""
        if self.tokenizer is None:
            raise ChunkingError(f"The base model {self.base_model} has no tokenizer; pass token ids to internalize_ids.")
        return chunk_text(self.tokenizer, text, max_chunk_tokens or self.max_chunk_tokens, snap_to_sentences,
                          trained_on=self.trained_on)

    def chunk_spans(self, text: str, chunks: list[list[int]]) -> list[tuple[int, int]]:
        """Each chunk's character span in ``text`` (the chunks ``chunk_text(text)`` returned)."""
        return chunk_spans(self.tokenizer, text, chunks, trained_on=self.trained_on)

    def internalize(self, text: str, max_chunk_tokens: int | None = None, progress: Progress | None = None,
                    snap_to_sentences: bool = False) -> DocumentAdapter:
        """Turn a document into its combined LoRA (`snap_to_sentences`: see `chunking.chunk_text`)."""
        if progress:
            progress("tokenize", 0, 1)
        chunks = self.chunk_text(text, max_chunk_tokens, snap_to_sentences)
        if progress:
            progress("tokenize", 1, 1)
        return self.internalize_ids(chunks, progress=progress)

    @torch.no_grad()
    def internalize_ids(self, chunks: Sequence[Sequence[int]], progress: Progress | None = None) -> DocumentAdapter:
        """Chunks of already templated token ids -> DocumentAdapter (chunk LoRAs in order, then the bias)."""
        chunks = [list(map(int, c)) for c in chunks]
        if not chunks or any(len(c) == 0 for c in chunks):
            raise ChunkingError("internalize_ids needs at least one chunk and no empty chunk.")
        As, Bs = [], []
        groups = _groups(chunks, self.max_batch_tokens)
        for done, group in enumerate(groups):
            if progress:
                progress("encode", done, len(groups))
            ids, mask = _right_padded(group)
            A, B = self.lora_for_batch(ids, mask)
            As.append(A.float().cpu())
            Bs.append(B.float().cpu())
        if progress:
            progress("encode", len(groups), len(groups))
        bias = self.model.bias_lora()
        bias = None if bias is None else (bias[0].float().cpu(), bias[1].float().cpu())
        A, B = combine(torch.cat(As), torch.cat(Bs), [len(chunks)], bias)
        return DocumentAdapter(
            A=A[0], B=B[0], alpha=self.config.lora_alpha, n_chunks=len(chunks), layer_indices=list(self.config.layer_indices),
            target_module=self.config.target_module, base_model=self.base_model, base_fingerprint=self.base_fingerprint,
            hypernet_id=self.hypernet_id, chunk_rank=self.config.chunk_rank, extra={"chunk_tokens": [len(c) for c in chunks]},
        )  # fmt: skip

    def lora_for_batch(self, ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-chunk LoRAs (chunks, L, r, d) of one right-padded batch of chunks."""
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.cpu_bf16 and self.device.type == "cpu"):
            features = self.encoder(ids, mask)
        features = features.to(self.dtype)
        mask = mask.to(features.device)
        rows = max(1, _PERCEIVER_ELEMENTS // (ids.shape[1] * 4 * self.config.base_hidden_size))
        return self.model.generate_loras(features.to(self.device), mask.to(self.device), max_rows=rows)


def _groups(chunks: list[list[int]], max_batch_tokens: int) -> list[list[list[int]]]:
    """Consecutive chunks in groups whose padded size stays within max_batch_tokens (at least one each)."""
    groups, current = [], []
    for c in chunks:
        if current and (len(current) + 1) * max(len(c), *map(len, current)) > max_batch_tokens:
            groups.append(current)
            current = []
        current.append(c)
    return groups + [current]


def _right_padded(chunks: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """(chunks, T) ids right-padded with 0 and the matching attention mask."""
    width = max(map(len, chunks))
    ids = torch.zeros(len(chunks), width, dtype=torch.long)
    mask = torch.zeros(len(chunks), width, dtype=torch.long)
    for i, c in enumerate(chunks):
        ids[i, : len(c)] = torch.tensor(c)
        mask[i, : len(c)] = 1
    return ids, mask


def load_hypernet(
    checkpoint: str | Path,
    base_model: str | Path | None = None,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
    *,
    quantize_encoder: bool | None = None,
    max_batch_tokens: int | None = None,
    cpu_bf16: bool = False,
) -> Hypernet:
    """Load a hypernetwork (reference `pytorch_model.bin` or our folder) with its base model's encoder.

    base_model overrides the recorded base (folder or hub id). The base must have the layer count
    and sizes the hypernetwork was trained for (BaseModelMismatchError otherwise). ``cpu_bf16``
    runs the encoder under bf16 autocast on CPU (2-6x faster where the CPU has native bf16,
    see ``hypernet.device.cpu_has_native_bf16``); weights and the hypernetwork stay float32.
    ``quantize_encoder`` None follows the checkpoint's recipe (the released ones encode with a 4-bit
    NF4 copy of the base): bitsandbytes on CUDA when installed, else the same NF4 values in plain
    torch (``hypernet.nf4``); True or False overrides the recipe.
    """
    ckpt = load_checkpoint(checkpoint)
    cfg = ckpt.config
    base_dir = resolve_base_model(ckpt.base_model_name_or_path, ckpt.folder, base_model)
    base_cfg = read_config(base_dir)
    base_name = str(base_model) if base_model is not None else ckpt.base_model_name_or_path
    check_compatible(cfg, base_cfg, f"{base_name} ({base_dir})", str(checkpoint), ckpt.base_model_name_or_path)
    dev, dt = select_device(device, dtype)
    quant = encoder_quantization(quantize_encoder, cfg.quantize_encoder, dev)
    encoder = ContextEncoder(_load_decoder(base_dir, base_cfg, dev, dt, quant == "bitsandbytes"), cfg.encoder_type,
                             cfg.early_exit_layer)  # fmt: skip
    if quant == "nf4":  # the recipe's 4-bit weights without bitsandbytes: only the layers the encoder runs
        nf4_roundtrip_linears_(encoder.decoder)
    model = ckpt.build_model().to(dev, dt)
    window = int(base_cfg.get("max_position_embeddings") or DEFAULT_MAX_CHUNK_TOKENS)
    max_chunk = min(DEFAULT_MAX_CHUNK_TOKENS, window, cfg.chunk_tokens or window)
    return Hypernet(
        model, encoder, _load_tokenizer(base_dir), base_model_path=base_dir, base_model=base_name,
        base_fingerprint=base_fingerprint(base_dir), hypernet_id=ckpt.hypernet_id, max_chunk_tokens=max_chunk,
        max_batch_tokens=max_batch_tokens or (4 * max_chunk if dev.type == "cuda" else max_chunk),
        cpu_bf16=cpu_bf16 and dt == torch.float32, encoder_quantization=quant, trained_on=ckpt.base_model_name_or_path,
    )  # fmt: skip


def _load_decoder(base_dir: Path, base_cfg: dict, device: torch.device, dtype: torch.dtype, four_bit: bool):
    """The base model without its LM head, frozen, in eval mode (eager attention where softcapping needs it)."""
    from transformers import AutoModel

    kwargs = {"dtype": dtype}
    if base_cfg.get("attn_logit_softcapping"):  # SDPA ignores Gemma 2's attention soft-capping
        kwargs["attn_implementation"] = "eager"
    if four_bit:
        kwargs.update(quantization_config=quantization_config(), device_map={"": device.index or 0})
    model = AutoModel.from_pretrained(base_dir, **kwargs)
    if not four_bit:
        model = model.to(device)
    return model.eval().requires_grad_(False)


def _load_tokenizer(base_dir: Path):
    """The base model's tokenizer, or None when the folder has none (e.g. test models)."""
    from transformers import AutoTokenizer

    has_files = any((base_dir / f).exists() for f in ("tokenizer.json", "tokenizer.model", "tokenizer_config.json", "vocab.json"))
    return AutoTokenizer.from_pretrained(base_dir) if has_files else None
