"""Whether an answer stays with its document, and the passage to answer from when it does not.

A small hypernetwork's adapter can answer with names the document never mentions (an invented
command, author or version), where the same model with no document would have said something
true. So an answer given under a document's adapter is checked: a word that looks like a name or a
number (capitalised inside a sentence, in capitals, with inner capitals or digits) and that neither
the document nor the question holds makes it unfounded, and the question is answered again with the
document's best passages in the prompt (``DocLoRA`` with the ``grounding`` setting). When that
answer names such things too, the reply is the document's sentence that best matches the question,
quoted: words of the document, never invented ones.

A document whose adapter the pair does not apply (its kind's scale is 0: on held-out documents of that
kind the adapters did not help) would otherwise be answered by the base alone, without it: with the
setting on, its questions are answered from its best passages from the start, checked the same way.
"""

from __future__ import annotations

import re
import unicodedata

from app.chunks import bm25

_TOKEN = re.compile(r"[^\W_]+(?:[-'.][^\W_]+)*")
_SENTENCE = re.compile(r"(?<=[.!?:])\s+|\n+")
PASSAGE_WORDS = 120
MIN_PASSAGE_WORDS = 40  # a window with less room than this for passages keeps the adapter's answer
REVISED_NOTE = "That answer named things the document does not mention; answered again from its best passages"
QUOTED_NOTE = ("That answer too named things the document does not mention; here is the passage that best "
               "matches your question")
PASSAGES_NOTE = ("This model's adapters do not help on this kind of document yet, so this answer comes from "
                 "the document's best passages")
QUOTE_WORDS = 60


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def _known(*texts: str) -> set[str]:
    return {w.lower() for t in texts for w in _TOKEN.findall(_fold(t))}


def unfounded(answer: str, document: str, question: str) -> list[str]:
    """The name- or number-like words of ``answer`` found in neither ``document`` nor ``question``."""
    known = _known(document, question)
    found = []
    for sentence in _SENTENCE.split(_fold(answer)):
        for n, word in enumerate(_TOKEN.findall(sentence)):
            name_like = ((word[:1].isupper() and n > 0) or (word.isupper() and len(word) > 1)
                         or bool(re.search(r"[a-z][A-Z]|[A-Za-z]\d|\d", word)))
            parts = {p.lower() for p in re.split(r"[-'.]", word) if p}
            # a name joined from known words passes ("Debian-based"); a number must be there whole
            # (a version "2.1.2" is not founded by a document that holds "2" and "1")
            joined = parts <= known and not any(c.isdigit() for c in word)
            if name_like and word.lower() not in known and not joined:
                found.append(word)
    return found


def best_passages(text: str, question: str, k: int = 2, words: int = PASSAGE_WORDS) -> str:
    """The ``k`` passages of about ``words`` words of ``text`` that best match ``question`` (BM25), in
    document order; the opening passage when no word matches."""
    tokens = text.split()
    passages = [" ".join(tokens[i:i + words]) for i in range(0, len(tokens), words)] or [""]
    scores = bm25(passages, question)
    ranked = sorted(range(len(passages)), key=lambda i: (-scores[i], i))[:k]
    if not any(scores[i] > 0 for i in ranked):
        ranked = [0]
    return "\n\n".join(passages[i] for i in sorted(ranked))


def best_quote(text: str, question: str, words: int = QUOTE_WORDS) -> str:
    """The sentence of ``text`` that best matches ``question`` (BM25; the opening one when no word
    matches), cut to about ``words`` words, in quotation marks."""
    sentences = [" ".join(s.split()) for s in _SENTENCE.split(_fold(text)) if s.strip()] or [""]
    scores = bm25(sentences, question)
    best = max(range(len(sentences)), key=lambda i: (scores[i], -i))
    tokens = sentences[best if scores[best] > 0 else 0].split()
    cut = " ".join(tokens[:words]) + (" \u2026" if len(tokens) > words else "")
    return f"\u201c{cut}\u201d"
