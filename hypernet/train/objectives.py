"""Training losses of the hypernetwork (design page section 7)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def answer_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over the masked positions, averaged per context then over the batch.

    logits (B, T, V) predict ``targets`` (B, T) (already shifted); mask (B, T) marks answer tokens.
    """
    ce = F.cross_entropy(logits.float().transpose(1, 2), targets, reduction="none")  # (B, T)
    m = mask.float()
    return ((ce * m).sum(1) / m.sum(1).clamp_min(1)).mean()


def topk_distillation(student_logits: torch.Tensor, teacher_logits: torch.Tensor, mask: torch.Tensor,
                      k: int = 16) -> torch.Tensor:
    """Cross-entropy of the student against the teacher's top-k next-token distribution.

    Both logits (B, T, V) are aligned on the response positions; the teacher's top-k probabilities
    are renormalised. Averaged over the masked positions of each context, then over contexts.
    """
    top_vals, top_idx = teacher_logits.float().topk(k, dim=-1)  # (B, T, k)
    return topk_cross_entropy(student_logits, top_idx, top_vals, mask)


def topk_cross_entropy(student_logits: torch.Tensor, top_idx: torch.Tensor, top_vals: torch.Tensor,
                       mask: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Cross-entropy of the student against a teacher's top-k (ids, logits or log-probs), renormalised.

    ``top_idx``/``top_vals`` (B, T, k) may be precomputed (``hypernet.train.teacher``). ``weights``
    (B, T), when given, weigh the positions (``context_weights``).
    """
    ce = topk_token_ce(student_logits, top_idx, top_vals)  # (B, T)
    m = mask.float() if weights is None else mask.float() * weights
    return ((ce * m).sum(1) / mask.float().sum(1).clamp_min(1)).mean()


def topk_token_ce(logits: torch.Tensor, top_idx: torch.Tensor, top_vals: torch.Tensor) -> torch.Tensor:
    """Per-position cross-entropy (B, T) of ``logits`` against the renormalised teacher top-k."""
    p_teacher = top_vals.float().softmax(-1)
    log_q = logits.float().log_softmax(-1).gather(-1, top_idx)  # (B, T, k)
    return -(p_teacher * log_q).sum(-1)


def context_weights(base_logits: torch.Tensor, top_idx: torch.Tensor, top_logp: torch.Tensor, mask: torch.Tensor,
                    share: float) -> torch.Tensor:
    """Position weights (B, T) that move ``share`` of each context's loss onto the tokens its document decides.

    A position's need is the KL of the teacher from the base without the document (``base_logits``, no
    LoRA) over k + 1 bins: the teacher's top-k tokens (``top_logp``: the teacher's own log-probs) and
    the rest. It is near 0 where the base already answers like the teacher (wording) and large on the
    facts only the document gives. Weights are ``1 - share + share * need / mean need`` over the
    context's masked positions (mean 1, so the loss keeps its scale); a context with no need keeps 1.
    """
    def binned(logp: torch.Tensor) -> torch.Tensor:  # (B, T, k) -> (B, T, k + 1) probabilities
        p = logp.float().exp()
        return torch.cat([p, (1 - p.sum(-1, keepdim=True)).clamp_min(0)], -1).clamp_min(1e-8)

    p = binned(top_logp)
    q = binned(base_logits.float().log_softmax(-1).gather(-1, top_idx))
    need = (p * (p.log() - q.log())).sum(-1).clamp_min(0) * mask.float()
    mean = need.sum(1, keepdim=True) / mask.float().sum(1, keepdim=True).clamp_min(1)
    rel = torch.where(mean > 1e-6, need / mean.clamp_min(1e-6), torch.ones_like(need))
    return (1 - share + share * rel) * mask.float()


def l1_penalty(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """Mean absolute value of the combined LoRA's A and B (zero-padded rows count as zero)."""
    return A.abs().mean() + B.abs().mean()
