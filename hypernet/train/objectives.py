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
                       mask: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the student against a teacher's top-k (ids, logits or log-probs), renormalised.

    ``top_idx``/``top_vals`` (B, T, k) may be precomputed (``hypernet.train.teacher``).
    """
    ce = topk_token_ce(student_logits, top_idx, top_vals)  # (B, T)
    m = mask.float()
    return ((ce * m).sum(1) / m.sum(1).clamp_min(1)).mean()


def topk_token_ce(logits: torch.Tensor, top_idx: torch.Tensor, top_vals: torch.Tensor) -> torch.Tensor:
    """Per-position cross-entropy (B, T) of ``logits`` against the renormalised teacher top-k."""
    p_teacher = top_vals.float().softmax(-1)
    log_q = logits.float().log_softmax(-1).gather(-1, top_idx)  # (B, T, k)
    return -(p_teacher * log_q).sum(-1)



def l1_penalty(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """Mean absolute value of the combined LoRA's A and B (zero-padded rows count as zero)."""
    return A.abs().mean() + B.abs().mean()
