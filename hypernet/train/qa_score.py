"""Scores of an answer: token F1 and gold recall against a gold answer (SQuAD-style normalisation), and the
invented names it holds (proper-name-like words that neither the document, the question nor the
no-document answer holds)."""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9'-]*")


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


def fold(text: str) -> str:
    """Ligatures, typographic quotes and dashes as plain ASCII (PDF text holds them; answers rarely do)."""
    text = unicodedata.normalize("NFKC", text)
    return text.translate(str.maketrans("\u2018\u2019\u201c\u201d\u2010\u2011\u2012\u2013\u2014", "''\"\"-----"))


def known_words(*texts: str) -> set[str]:
    """The normalised words of some texts (the document, the question, the no-document answer)."""
    return set(normalise(fold(" ".join(texts))))


def invented_names(answer: str, known: set[str]) -> list[str]:
    """Proper-name-like words of the answer that are not ``known``: capitalised words not opening a
    sentence, words in capitals, words with inner capitals or digits ("JDKUX", "Jikere", "x86Foo")."""
    found = []
    for sentence in re.split(r"(?<=[.!?:])\s+|\n+", fold(answer)):
        for n, m in enumerate(_NAME.finditer(sentence)):
            word = m.group(0).strip("'-")
            name_like = ((word[:1].isupper() and n > 0) or word.isupper()
                         or bool(re.search(r"[a-z][A-Z]|[A-Za-z]\d", word)))
            if name_like and len(word) > 2 and not set(normalise(word)) <= known:
                found.append(word)
    return found
