"""Token F1 of an answer against a gold answer (SQuAD-style normalisation)."""

from __future__ import annotations

import string
from collections import Counter


def normalise(text: str) -> list[str]:
    """Answer tokens: lower case, punctuation and articles removed."""
    text = "".join(c for c in text.lower() if c not in string.punctuation)
    return [w for w in text.split() if w not in ("a", "an", "the")]


def token_f1(pred: str, gold: str) -> float:
    """Harmonic mean of token precision and recall (1.0 when both are empty)."""
    p, g = normalise(pred), normalise(gold)
    common = sum((Counter(p) & Counter(g)).values())
    if not p or not g or not common:
        return float(not p and not g)
    prec, rec = common / len(p), common / len(g)
    return 2 * prec * rec / (prec + rec)


def gold_recall(pred: str, gold: str) -> float:
    """The share of the gold answer's distinct words that the prediction contains (1.0 for an empty gold)."""
    g = set(normalise(gold))
    return len(g & set(normalise(pred))) / len(g) if g else 1.0
