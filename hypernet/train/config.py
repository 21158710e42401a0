"""The training configuration of a D2L hypernetwork (stage 2) and its learning-rate schedule."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields

OBJECTIVES = ("needle", "distill", "rename", "prose")


@dataclass
class TrainConfig:
    """Everything one meta-training run needs; stored with every checkpoint."""

    base_model: str  # HF folder (or hub id) of the frozen base model
    out_dir: str  # final checkpoint folder (our format); checkpoints go to out_dir/checkpoints
    objective: str = "needle"  # "needle": answer cross-entropy; "distill": top-k context distillation;
    #                            "rename": cross-entropy on gold answers of renamed manual pages (train_file:
    #                            pages JSONL, hypernet.train.renamed); "prose": cross-entropy on extractive
    #                            answers about ordinary text (train_file: documents JSONL, hypernet.train.prose_qa)
    train_file: str = ""  # needle: corpus file of prose sources; distill: JSONL (context, prompt[, response])
    eval_file: str = ""  # held-out file of the same kind
    teacher_file: str = ""  # distill: precomputed teacher outputs of train_file (hypernet.train.teacher)
    eval_teacher_file: str = ""  # ... and of eval_file
    base_record: str = ""  # base path recorded in the checkpoint ("" -> base_model)
    init_from: str = ""  # a hypernet checkpoint (our folder format) to fine-tune instead of a fresh init
    # hypernetwork geometry (HypernetConfig fields)
    encoder_type: str = "per_layer_activations"
    early_exit_layer: int = 0  # early_exit: base layers the context encoder runs (0: a quarter of them)
    lora_layers: int = 0  # LoRAs on the base's last lora_layers layers only (0: every layer); the
    #                       student's backward pass then stops at the first of them
    rank: int = 8
    lora_alpha: float = 2 * 8**1.5
    latent_size: int = 64
    n_heads: int = 4
    head_dim: int = 32
    n_kv_heads: int = 2
    num_blocks: int = 2
    n_latent_queries: int = 8
    feature_norm: bool = False  # standardize the context features with statistics of training chunks
    center_latents: bool = False  # subtract the latents' mean over documents before the head (LatentCentering)
    copy_slots: int = 0  # extra LoRA rows per layer that point into the chunk (CopyPointer; early_exit only)
    # data
    max_chunk_tokens: int = 256
    record_chunk_tokens: bool = False  # store max_chunk_tokens in the hypernet's config: the app then cuts
    #                                    documents into chunks of at most that size (else up to the window)
    min_chunk_tokens: int = 48
    chunk_probs: list[float] = field(default_factory=lambda: [0.4, 0.2, 0.2, 0.2])  # P(1..n chunks)
    snap_to_sentences: bool = False  # cut chunks at sentence ends, as the app does (hypernet.chunking)
    curriculum_hold: int = 0  # steps of one short chunk per context and no L1 before the chunk cap grows
    curriculum_steps: int = 0  # ... then the cap grows linearly to max_chunk_tokens over these steps
    curriculum_start_tokens: int = 36
    curriculum_kinds: list[str] = field(default_factory=list)  # distill: while the cap is below max_chunk_tokens,
    #                               the context is a record's first `cap` tokens and the questions are of
    #                               these kinds (answered by that opening); empty: any kind
    curriculum_loss: float = 0.0  # >0: adaptive instead; the cap grows x1.2 whenever the loss of the
    #                               last 20 steps is below this (one chunk per context and no L1 until
    #                               the cap reaches half of max_chunk_tokens)
    name_share: float = 0.4  # rename: share of questions that ask for the command's (new) name
    pair_share: float = 0.0  # rename: share of contexts that are two renamed pages composed, asked about one
    #                          by its (new) name (as a selection of two documents is asked)
    manual_file: str = ""  # prose, distill: renamed manual pages (JSONL) mixed in with probability manual_share
    manual_share: float = 0.0
    fresh_share: float = 0.0  # prose: share of name and number questions whose answer is replaced by a made-up
    #                           value throughout the document (training draws only; the eval reads real text)
    top_k: int = 16  # distillation: teacher probabilities kept per position
    max_response_tokens: int = 32  # distill: teacher-generated response length when none is given
    # optimisation
    steps: int = 3000
    batch_size: int = 16  # contexts per micro-batch
    grad_accum: int = 1
    lr: float = 1e-3
    min_lr_ratio: float = 0.1
    warmup: int = 50
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    scaler_lr_mult: float = 1.0  # learning-rate multiple of scaler_B, which starts at 0 (1: like every weight)
    scaler_b_init: float = 0.0  # 0: scaler_B starts at 0 (the reference), and the head's B columns get no
    #                             gradient until it grows; >0: scaler_B starts here and the head's B columns
    #                             at 0 instead, so the head learns B from the first step at this scale
    l1_coef: float = 0.1  # on the mean absolute value of the combined LoRA
    precision: str = "auto"  # "auto" (bf16 on GPU and on CPUs with native bf16, else fp32), "bf16", "fp32"
    seed: int = 0
    threads: int = 2  # CPU threads (torch.set_num_threads)
    # bookkeeping
    eval_every: int = 200
    eval_docs: int = 32
    eval_lengths: list[int] = field(default_factory=lambda: [1024, 2048])  # needle eval, document tokens
    save_every: int = 500
    keep_checkpoints: int = 2
    progress: bool = True

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {self.objective!r}")
        if self.scaler_b_init < 0:
            raise ValueError(f"scaler_b_init must be 0 or more, got {self.scaler_b_init}")
        if abs(sum(self.chunk_probs) - 1) > 1e-6:
            raise ValueError("chunk_probs must sum to 1 (probabilities of 1, 2, ... chunks per context)")

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


def chunk_cap_at(step: int, cfg: TrainConfig) -> int:
    """Largest chunk (tokens) sampled at ``step``: short contexts first, so that the perceiver's
    attention finds the needle before it has to search whole windows (without this curriculum
    the tiny-needle hypernet stayed at chance for 500+ steps)."""
    if step >= cfg.curriculum_hold + cfg.curriculum_steps:
        return cfg.max_chunk_tokens
    start = min(cfg.curriculum_start_tokens, cfg.max_chunk_tokens)
    ramp = max(0, step - cfg.curriculum_hold) / max(1, cfg.curriculum_steps)
    return int(start + (cfg.max_chunk_tokens - start) * ramp)


class AdaptiveCurriculum:
    """Chunk-size cap that grows by 20% each time the recent task loss falls below a threshold."""

    def __init__(self, cfg: TrainConfig, cap: int | None = None):
        self.cfg = cfg
        self.cap = cap or min(cfg.curriculum_start_tokens, cfg.max_chunk_tokens)
        self.recent: list[float] = []

    @property
    def warm(self) -> bool:
        return self.cap < self.cfg.max_chunk_tokens // 2

    def update(self, loss: float) -> None:
        self.recent = (self.recent + [loss])[-20:]
        if len(self.recent) == 20 and sum(self.recent) / 20 < self.cfg.curriculum_loss:
            self.cap = min(self.cfg.max_chunk_tokens, max(self.cap + 4, int(self.cap * 1.2)))
            self.recent = []


def cosine_lr(step: int, total: int, lr: float, warmup: int, min_ratio: float = 0.1) -> float:
    """Linear warmup to ``lr``, then cosine decay to ``min_ratio * lr`` at step ``total``."""
    if step < warmup:
        return lr * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return lr * (min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))



def lr_at(step: int, cfg: TrainConfig) -> float:
    """The learning rate of the hypernetwork's training at ``step``."""
    return cosine_lr(step, cfg.steps, cfg.lr, cfg.warmup, cfg.min_lr_ratio)
