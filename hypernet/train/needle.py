"""The needle-in-a-haystack task: real prose haystacks with one hidden 4-digit number.

Shared by training, the tests and ``benchmarks/needle.py``, so that all of them draw documents
the same way: consecutive paragraphs of one source, a random layout (paragraph breaks, sometimes
PDF-like line wrapping), and the needle at a uniformly random sentence boundary.
"""

from __future__ import annotations

import random
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

from .corpus import read_sources

NEEDLE = "The special magic number is {}."
QUESTION = "What is the special magic number? Reply with only the number."
_SENTENCE_START = re.compile(r"(?:(?<=[.!?] )|(?<=[.!?]\" )|(?<=\n))(?=[A-Z\"'(])")


@dataclass
class NeedleDoc:
    """A haystack with the needle inside, and the 4 digits it hides."""

    text: str
    answer: str


def extract_answer(reply: str) -> str:
    """The first run of digits in a model reply ('' if none): what 'exact 4 digits' compares."""
    m = re.search(r"\d+", reply)
    return m.group(0) if m else ""


def _layout(paragraphs: list[str], rng: random.Random) -> str:
    """Join paragraphs like a real document would: blank lines, newlines, or PDF-like wrapping."""
    style = rng.random()
    if style < 0.25:
        width = rng.randint(50, 100)
        return "\n\n".join(textwrap.fill(p, width) for p in paragraphs)
    sep = "\n\n" if style < 0.55 else ("\n" if style < 0.8 else " ")
    return sep.join(paragraphs)


class Haystacks:
    """Draws needle documents of a given token length from a corpus of prose sources."""

    def __init__(self, sources: list[list[str]], tokenizer):
        self.sources = [s for s in sources if s]
        if not self.sources:
            raise ValueError("the haystack corpus is empty; build it with hypernet.train.corpus first")
        self.tokenizer = tokenizer
        self.weights = [sum(len(p) for p in s) for s in self.sources]
        self.needle_tokens = len(self._ids(" " + NEEDLE.format("0000")))

    @classmethod
    def from_file(cls, path: Path, tokenizer) -> "Haystacks":
        """Load a corpus file (one source per block, one paragraph per line)."""
        return cls(read_sources(Path(path)), tokenizer)

    def _ids(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def haystack(self, rng: random.Random, n_tokens: int) -> str:
        """About ``n_tokens`` tokens of prose (cut at a word boundary, never more)."""
        paragraphs: list[str] = []
        budget = n_tokens * 8 + 200
        while sum(len(p) for p in paragraphs) < budget:
            src = rng.choices(self.sources, weights=self.weights)[0]
            start = rng.randrange(len(src))
            paragraphs.extend(src[start:start + 200])
        text = _layout(paragraphs, rng)[: budget * 2]
        enc = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        if len(enc["input_ids"]) > n_tokens:
            cut = enc["offset_mapping"][n_tokens][0]
            text = text[:cut]
            space = max(text.rfind(" "), text.rfind("\n"))
            text = text[:space] if space > 0 else text
        return text.rstrip()

    def document(self, rng: random.Random, n_tokens: int, answer: str | None = None) -> NeedleDoc:
        """A document of about ``n_tokens`` tokens with the needle at a uniform random depth."""
        answer = answer if answer is not None else f"{rng.randrange(10000):04d}"
        text = self.haystack(rng, max(n_tokens - self.needle_tokens, 1))
        needle = NEEDLE.format(answer)
        starts = [0] + [m.start() for m in _SENTENCE_START.finditer(text)] + [len(text)]
        target = rng.random() * len(text)
        pos = min(starts, key=lambda s: abs(s - target))
        if pos >= len(text):
            text = f"{text} {needle}" if text else needle
        else:
            text = f"{text[:pos]}{needle} {text[pos:]}"
        return NeedleDoc(text=text, answer=answer)
