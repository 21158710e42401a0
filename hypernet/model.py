"""The D2L hypernetwork: perceiver aggregator + per-layer head -> per-chunk LoRA for mlp.down_proj.

Submodules are named after the reference checkpoint keys (`aggregator.perceiver.*`, `layers.0.*`,
`head.weight`, `bias_A.down_proj`, ...), so a reference state dict loads with no renames.
Shapes: L base layers, H base hidden size, h latent size, r rank per chunk.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields

import torch
import torch.nn.functional as F
from torch import nn

ENCODER_TYPES = ("per_layer_activations", "early_exit")


@dataclass
class HypernetConfig:
    """Everything needed to build the hypernetwork; defaults are the reference's main recipe."""

    n_layers: int  # L: LoRA layers (every decoder layer of the base, or the len(layer_indices) it names)
    base_hidden_size: int  # H: width of the context features
    d_in: int  # down_proj input size (the base's intermediate size)
    d_out: int  # down_proj output size (the base's hidden size)
    encoder_type: str = "per_layer_activations"  # or "early_exit"
    early_exit_layer: int | None = None  # layers kept by early_exit (None: L // 4)
    rank: int = 8  # r: LoRA rank per chunk
    lora_alpha: float = 2 * 8**1.5  # the scale applied as-is (not alpha / r)
    latent_size: int = 512
    n_latent_queries: int = 8  # encoder resampler latents (needle recipe: 208)
    num_blocks: int = 9  # encoder cross-attention layers (needle recipe: 8)
    n_heads: int = 16
    head_dim: int = 128
    n_kv_heads: int = 4
    num_pre_head_layers: int = 1
    use_bias: bool = True  # append the learned context-independent bias LoRA
    target_module: str = "down_proj"
    layer_indices: list[int] = field(default_factory=list)  # the base's layers that get a LoRA (empty: 0..L-1)
    quantize_encoder: bool = False  # the released main recipe ran a 4-bit encoder
    chunk_tokens: int | None = None  # longest chunk it was trained on (None: up to the base's window)
    feature_norm: bool = False  # ours: standardize each feature dimension with stored corpus statistics
    center_latents: bool = False  # ours: subtract the latents' mean over documents before the head (LatentCentering)
    copy_slots: int = 0  # ours: rank rows per layer and chunk read straight off the context (CopyPointer)

    def __post_init__(self) -> None:
        if self.encoder_type not in ENCODER_TYPES:
            raise ValueError(f"encoder_type must be one of {ENCODER_TYPES}, got {self.encoder_type!r}")
        if self.n_heads % self.n_kv_heads:
            raise ValueError("n_heads must be a multiple of n_kv_heads")
        if not self.layer_indices:
            self.layer_indices = list(range(self.n_layers))
        if len(self.layer_indices) != self.n_layers or sorted(set(self.layer_indices)) != list(self.layer_indices):
            raise ValueError(f"layer_indices must name n_layers={self.n_layers} distinct layers in order, got {self.layer_indices}")
        if self.layer_to_layer and self.layer_indices != list(range(self.n_layers)):
            raise ValueError("per_layer_activations reads every layer's activations: it needs a LoRA on every layer")
        if self.layer_to_layer and self.copy_slots:
            raise ValueError("copy_slots reads one feature stream per chunk: use encoder_type='early_exit'")
        if self.early_exit_layer is None and self.encoder_type == "early_exit":
            self.early_exit_layer = max(1, self.n_layers // 4)

    @property
    def layer_to_layer(self) -> bool:
        """Main recipe: each layer's activation stream is its own perceiver sequence."""
        return self.encoder_type == "per_layer_activations"

    @property
    def chunk_rank(self) -> int:
        """Rank of one chunk's LoRA: the head's r rows, then the copy slots."""
        return self.rank + self.copy_slots

    @property
    def n_out(self) -> int:
        """Decoder-resampler queries per sequence: r (layer to layer) or L * r."""
        return self.rank if self.layer_to_layer else self.n_layers * self.rank

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "HypernetConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


class RMSNorm(nn.Module):
    """`weight * x / sqrt(mean(x^2) + eps)` computed in float32 (weight multiplies directly)."""

    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x32 = x.float()
        x32 = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x32.to(x.dtype)


class GatedMLP(nn.Module):
    """`down(silu(gate(x)) * up(x))`, no biases."""

    def __init__(self, d_in: int, hidden: int, d_out: int):
        super().__init__()
        self.gate_proj = nn.Linear(d_in, hidden, bias=False)
        self.up_proj = nn.Linear(d_in, hidden, bias=False)
        self.down_proj = nn.Linear(hidden, d_out, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class CrossAttention(nn.Module):
    """Latents attend to the context only: grouped heads, no positions, not causal, padding masked."""

    def __init__(self, cfg: HypernetConfig):
        super().__init__()
        h, hd = cfg.latent_size, cfg.head_dim
        self.n_heads, self.n_kv_heads, self.head_dim = cfg.n_heads, cfg.n_kv_heads, hd
        self.q_proj = nn.Linear(h, cfg.n_heads * hd, bias=False)
        self.k_proj = nn.Linear(h, cfg.n_kv_heads * hd, bias=False)
        self.v_proj = nn.Linear(h, cfg.n_kv_heads * hd, bias=False)
        self.o_proj = nn.Linear(cfg.n_heads * hd, h, bias=False)

    def forward(self, z: torch.Tensor, c: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        b, n, _ = z.shape
        t = c.shape[1]
        q = self.q_proj(z).view(b, n, self.n_heads, self.head_dim).transpose(1, 2)  # (b, heads, n, hd)
        k = self.k_proj(c).view(b, t, self.n_kv_heads, self.head_dim).transpose(1, 2)  # (b, kv, t, hd)
        v = self.v_proj(c).view(b, t, self.n_kv_heads, self.head_dim).transpose(1, 2)
        groups = self.n_heads // self.n_kv_heads  # query head j reads kv head j // groups
        k, v = k.repeat_interleave(groups, dim=1), v.repeat_interleave(groups, dim=1)
        attn_mask = None if mask is None else mask[:, None, None, :].bool()  # (b, 1, 1, t)
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)  # scale 1/sqrt(hd)
        return self.o_proj(a.transpose(1, 2).reshape(b, n, self.n_heads * self.head_dim))


class PerceiverLayer(nn.Module):
    """One cross-attention block with sandwich RMSNorms and a gated MLP of width 4h."""

    def __init__(self, cfg: HypernetConfig):
        super().__init__()
        h = cfg.latent_size
        self.input_latents_layernorm = RMSNorm(h)
        self.input_context_layernorm = RMSNorm(h)
        self.self_attn = CrossAttention(cfg)
        self.post_attention_layernorm = RMSNorm(h)
        self.pre_ff_layernorm = RMSNorm(h)
        self.post_ff_layernorm = RMSNorm(h)
        self.mlp = GatedMLP(h, 4 * h, h)

    def forward(self, z: torch.Tensor, c: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        a = self.self_attn(self.input_latents_layernorm(z), self.input_context_layernorm(c), mask)
        z = z + self.post_attention_layernorm(a)
        return z + self.post_ff_layernorm(self.mlp(self.pre_ff_layernorm(z)))


class Resampler(nn.Module):
    """Learned latents read a context through `n_layers` cross-attention layers, then RMSNorm."""

    def __init__(self, cfg: HypernetConfig, n_latents: int, n_layers: int):
        super().__init__()
        self.latents_q = nn.Parameter(torch.randn(n_latents, cfg.latent_size))
        self.layers = nn.ModuleList(PerceiverLayer(cfg) for _ in range(n_layers))
        self.layernorm = RMSNorm(cfg.latent_size)

    def forward(self, c: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        z = self.latents_q.to(c.dtype).unsqueeze(0).expand(c.shape[0], -1, -1)  # (rows, n, h)
        for layer in self.layers:
            z = layer(z, c, mask)
        return self.layernorm(z)


class FeatureNorm(nn.Module):
    """``(x - shift) * scale`` per feature dimension, with statistics of the training corpus.

    The base's hidden states share a large component across every token and document (here 65% of a
    token's norm, one dimension at half of it), so mean-pooled cross-attention sees nearly the same
    input for every document and the perceiver's output is document-independent to 1e-5 (cosine);
    standardized, the documents' mean features are near orthogonal. Identity until ``fit``.
    """

    def __init__(self, shape: tuple[int, ...]):
        super().__init__()
        self.register_buffer("shift", torch.zeros(shape))
        self.register_buffer("scale", torch.ones(shape))

    @torch.no_grad()
    def fit(self, features: torch.Tensor, mask: torch.Tensor) -> None:
        """Statistics of the valid tokens of ``features`` (chunks, [L,] T, H) under ``mask`` (chunks, T)."""
        x = features.float()
        x = (x if x.dim() == 3 else x.transpose(1, 2))[mask.bool()]  # (valid tokens, [L,] H)
        mean, std = x.mean(0), x.std(0)
        floor = 1e-2 * float(std.median())  # dimensions that never move are not blown up
        self.shift.copy_(mean.view(self.shift.shape))
        self.scale.copy_((1.0 / std.clamp_min(floor)).view(self.scale.shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.shift.to(x.dtype)) * self.scale.to(x.dtype)


class LatentCentering(nn.Module):
    """``x - mean``, the mean over the chunks of the batch in training and a running mean otherwise.

    The generated LoRA is ``head(x / |x|)``: a component of ``x`` that every document shares (it learns
    the answer format, as the bias LoRA does) grows until the document's part is a rounding error of
    the unit vector (cosine 0.99996 between pages after 250 steps) and its gradient vanishes with it.
    Centred before the normalisation, no shared part can grow; centred again after it, the part of the
    loss's gradient that every document shares cancels exactly in the head's gradient, which then
    follows only what differs between documents. What they share is the bias LoRA's alone.
    """

    def __init__(self, shape: tuple[int, ...], momentum: float = 0.02):
        super().__init__()
        self.momentum = momentum
        self.register_buffer("mean", torch.zeros(shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and x.shape[0] > 1:
            mean = x.mean(0, keepdim=True)
            with torch.no_grad():
                self.mean.lerp_(mean.squeeze(0).detach().float(), self.momentum)
            return x - mean
        return x - self.mean.to(x.dtype)


class CopyPointer(nn.Module):
    """Ours: ``copy_slots`` rank rows per layer that point into the chunk instead of summarising it.

    Each (layer, slot) has a learned query that attends over the chunk's positions; the attended
    feature makes the row's A (through a low-rank map to the target module's input, plus a learned
    per-slot vector) and the feature of the position after it makes its B. A row thus stores "after
    this, that" for the document's own tokens: a made-up name reaches the LoRA directly, where the
    perceiver has to carry it through its latent bottleneck. B starts at a small learned scale.
    """

    def __init__(self, cfg: HypernetConfig, key_size: int = 64, a_rank: int = 128, scale: float = 1e-3):
        super().__init__()
        H, L, p = cfg.base_hidden_size, cfg.n_layers, cfg.copy_slots
        self.query = nn.Parameter(torch.randn(L, p, key_size) / math.sqrt(key_size))
        self.key = nn.Linear(H, key_size, bias=False)
        self.a_in = nn.Linear(H, a_rank, bias=False)
        self.a_out = nn.Parameter(torch.randn(L, a_rank, cfg.d_in) / math.sqrt(a_rank))
        self.a_slot = nn.Parameter(torch.zeros(L, p, cfg.d_in))
        self.value = nn.Linear(H, cfg.d_out, bias=False)
        self.scale = nn.Parameter(torch.full((L, 1, 1), scale))

    def forward(self, features: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(chunks, T, H) features and (chunks, T) mask -> A (chunks, L, p, d_in), B (chunks, L, p, d_out)."""
        nxt = F.pad(features[:, 1:], (0, 0, 0, 1))  # the feature of the position after each one
        has_next = F.pad(mask[:, 1:], (0, 1)).bool() & mask.bool()
        scores = torch.einsum("lpk,ctk->clpt", self.query.to(features.dtype), self.key(features))
        scores = scores / math.sqrt(self.query.shape[-1])
        weights = scores.masked_fill(~has_next[:, None, None, :], float("-inf")).softmax(-1).nan_to_num()
        here = torch.einsum("clpt,cth->clph", weights, features)
        after = torch.einsum("clpt,cth->clph", weights, nxt)
        A = torch.einsum("clpk,lki->clpi", self.a_in(here), self.a_out.to(here.dtype)) + self.a_slot.to(here.dtype)
        A = A / A.norm(dim=-1, keepdim=True).clamp_min(1e-6)
        return A, self.value(after) * self.scale.to(after.dtype)


class Perceiver(nn.Module):
    """Modality projection H -> 4H -> h, encoder resampler, decoder resampler."""

    def __init__(self, cfg: HypernetConfig):
        super().__init__()
        H = cfg.base_hidden_size
        self.modality_projection = GatedMLP(H, 4 * H, cfg.latent_size)
        self.encoder = Resampler(cfg, cfg.n_latent_queries, cfg.num_blocks)
        self.decoder = Resampler(cfg, cfg.n_out, 1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        c = self.modality_projection(x)  # (rows, T, h)
        return self.decoder(self.encoder(c, mask), None)  # (rows, n_out, h)


class Aggregator(nn.Module):
    """Runs the perceiver over chunks and regroups to (chunks, L, 1 module, r, h)."""

    def __init__(self, cfg: HypernetConfig):
        super().__init__()
        self.cfg = cfg
        self.perceiver = Perceiver(cfg)

    def forward(self, features: torch.Tensor, mask: torch.Tensor, max_rows: int | None = None) -> torch.Tensor:
        cfg = self.cfg
        n_chunks = features.shape[0]
        if cfg.layer_to_layer:  # (chunks, L, T, H) -> layer-major rows (L * chunks, T, H)
            rows = features.transpose(0, 1).reshape(-1, *features.shape[2:])
            row_mask = mask.repeat(cfg.n_layers, 1)
        else:  # (chunks, T, H): one row per chunk
            rows, row_mask = features, mask
        step = max_rows or rows.shape[0]
        out = torch.cat([self.perceiver(rows[i : i + step], row_mask[i : i + step]) for i in range(0, rows.shape[0], step)])
        if cfg.layer_to_layer:  # (L * chunks, r, h) -> (chunks, L, r, h)
            out = out.view(cfg.n_layers, n_chunks, cfg.rank, -1).transpose(0, 1)
        else:  # (chunks, L * r, h), queries ordered (layer, rank)
            out = out.view(n_chunks, cfg.n_layers, cfg.rank, -1)
        return out.unsqueeze(2)  # (chunks, L, 1, r, h)


class PerLayerLinear(nn.Module):
    """A separate Linear per layer: einsum('blmri,lio->blmro'); bias stored as (1, L, 1, 1, out)."""

    def __init__(self, n_layers: int, d_in: int, d_out: int, bias: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_layers, d_in, d_out) / math.sqrt(d_in))
        self.bias = nn.Parameter(torch.zeros(1, n_layers, 1, 1, d_out)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.einsum("blmri,lio->blmro", x, self.weight.to(x.dtype))
        return y if self.bias is None else y + self.bias.to(x.dtype)


class ResMLPBlock(nn.Module):
    """`x + LN(Mix2(silu(Mix1(LN(x)))))` with per-layer mixes (keys layers.{i}.layers.{0,1,3,4})."""

    def __init__(self, cfg: HypernetConfig):
        super().__init__()
        h, L = cfg.latent_size, cfg.n_layers
        self.layers = nn.Sequential(
            nn.LayerNorm(h, eps=1e-5), PerLayerLinear(L, h, 4 * h), nn.SiLU(), PerLayerLinear(L, 4 * h, h), nn.LayerNorm(h, eps=1e-5)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.layers(x)


class HypernetModel(nn.Module):
    """Context features of chunks -> per-chunk LoRA (A, B) for `target_module` of every layer."""

    def __init__(self, cfg: HypernetConfig):
        super().__init__()
        self.cfg = cfg
        L, r, m = cfg.n_layers, cfg.rank, cfg.target_module
        self.aggregator = Aggregator(cfg)
        if cfg.feature_norm:  # (H,) for one feature stream, (L, 1, H) for per-layer streams
            shape = (L, 1, cfg.base_hidden_size) if cfg.layer_to_layer else (cfg.base_hidden_size,)
            self.feature_norm = FeatureNorm(shape)
        self.layers = nn.ModuleList(ResMLPBlock(cfg) for _ in range(cfg.num_pre_head_layers))
        if cfg.center_latents:
            self.center = LatentCentering((L, 1, r, cfg.latent_size))  # before the L2 normalisation
            self.center_unit = LatentCentering((L, 1, r, cfg.latent_size))  # and after it
        self.head = PerLayerLinear(L, cfg.latent_size, cfg.d_in + cfg.d_out, bias=False)
        if cfg.copy_slots:
            self.copy = CopyPointer(cfg)
        self.scaler_A = nn.ParameterDict({m: nn.Parameter(torch.ones(1, L, r, 1))})
        self.scaler_B = nn.ParameterDict({m: nn.Parameter(torch.zeros(1, L, r, 1))})
        self.bias_A = nn.ParameterDict({m: nn.Parameter(torch.randn(L, r, cfg.d_in) / math.sqrt(cfg.d_in))})
        self.bias_B = nn.ParameterDict({m: nn.Parameter(torch.zeros(L, r, cfg.d_out))})

    def generate_loras(
        self, features: torch.Tensor, attention_mask: torch.Tensor, max_rows: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-chunk LoRA: A (chunks, L, chunk_rank, d_in), B (chunks, L, chunk_rank, d_out). Differentiable."""
        m = self.cfg.target_module
        if self.cfg.feature_norm:
            features = self.feature_norm(features)
        if self.cfg.center_latents:
            # what tells documents apart is ~1/2000 of the latents: bf16 would round it away
            with torch.autocast(features.device.type, enabled=False):
                x = self.center(self._latents(features.to(self.head.weight.dtype), attention_mask, max_rows))
            # a chunk drawn twice in one batch centres to 0: keep it finite
            e = self.center_unit(x / x.norm(dim=-1, keepdim=True).clamp_min(1e-6))
        else:
            x = self._latents(features, attention_mask, max_rows)
            e = x / x.norm(dim=-1, keepdim=True)  # L2-normalise, no epsilon (as the reference)
        flat = self.head(e).squeeze(2)  # (chunks, L, r, d_in + d_out)
        A = flat[..., : self.cfg.d_in] * self.scaler_A[m].to(flat.dtype)
        B = flat[..., self.cfg.d_in :] * self.scaler_B[m].to(flat.dtype)
        if self.cfg.copy_slots:
            copy_A, copy_B = self.copy(features, attention_mask)
            A, B = torch.cat([A, copy_A.to(A.dtype)], dim=2), torch.cat([B, copy_B.to(B.dtype)], dim=2)
        return A, B

    def _latents(self, features: torch.Tensor, attention_mask: torch.Tensor, max_rows: int | None) -> torch.Tensor:
        x = self.aggregator(features, attention_mask, max_rows)  # (chunks, L, 1, r, h)
        for block in self.layers:
            x = block(x)
        return x

    def bias_lora(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The learned context-independent block (L, r, d), or None when the recipe has none."""
        m = self.cfg.target_module
        return (self.bias_A[m], self.bias_B[m]) if self.cfg.use_bias else None

    def forward(
        self, features: torch.Tensor, attention_mask: torch.Tensor, n_chunks_per_doc: list[int] | torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Chunks of several documents -> combined LoRA per document (docs, L, R, d)."""
        A, B = self.generate_loras(features, attention_mask)
        return combine(A, B, n_chunks_per_doc, self.bias_lora())


def combine(
    A: torch.Tensor,
    B: torch.Tensor,
    n_chunks_per_doc: list[int] | torch.Tensor,
    bias: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Concatenate each document's chunk LoRAs along the rank, then its bias block.

    A: (chunks, L, r, d_in), chunks of consecutive documents in order. Returns
    (docs, L, (max_n [+ 1]) * r, d); rows after a shorter document's own block are zero.
    """
    counts = [int(n) for n in n_chunks_per_doc]
    if sum(counts) != A.shape[0]:
        raise ValueError(f"n_chunks_per_doc sums to {sum(counts)} but {A.shape[0]} chunks were given")
    rank = A.shape[2]  # a chunk's rank (the bias block's may be smaller: copy slots are per chunk)
    width = max(counts) * rank + (bias[0].shape[1] if bias is not None else 0)
    docs_A, docs_B, start = [], [], 0
    for n in counts:
        parts = []
        for X, bias_X in ((A, None if bias is None else bias[0]), (B, None if bias is None else bias[1])):
            own = X[start : start + n].transpose(0, 1).reshape(X.shape[1], n * rank, X.shape[3])  # (L, n*r, d)
            blocks = [own] + ([bias_X.to(X.dtype)] if bias_X is not None else [])
            doc = torch.cat(blocks, dim=1)
            parts.append(F.pad(doc, (0, 0, 0, width - doc.shape[1])))
        docs_A.append(parts[0])
        docs_B.append(parts[1])
        start += n
    return torch.stack(docs_A), torch.stack(docs_B)
