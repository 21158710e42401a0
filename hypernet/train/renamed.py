"""The copy task: manual pages whose command is renamed to a made-up word on every draw.

Context distillation on real pages leaves the hypernetwork one way to lower the loss that needs no
document: a context-free LoRA that answers like the teacher on average. Here the page's command
gets a fresh invented name each time it is drawn ("zarvokctl"), and the questions ask for that name,
or name it, with the page's own gold answers as the response (plain cross-entropy). No base model and
no bias LoRA can know the name, so the loss falls only when the generated LoRA carries the page.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

from .data import Example, affix_tokens, chat_prompt, context_chunks, response_ids
from .manpages import UNNAMED_QUESTIONS, ManPage, read_pages, unnamed_questions

_ONSETS = ["b", "br", "d", "dr", "f", "fl", "g", "gr", "k", "kl", "l", "m", "n", "p", "pl", "qu", "r", "s",
           "sk", "sn", "t", "tr", "v", "w", "z", "zh"]
_VOWELS = ["a", "e", "i", "o", "u", "ai", "ou", "y"]
_CODAS = ["", "", "n", "r", "x", "sk", "m", "l", "nd", "rt"]
_SUFFIXES = ["", "", "", "ctl", "fix", "sync", "d", "map", "dump", "info", "tool", "-gen"]


def made_up_word(rng: random.Random) -> str:
    """A pronounceable word of 2-3 syllables that no model knows ("kloumrt")."""
    return "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS) for _ in range(rng.randint(2, 3)))


def made_up_name(rng: random.Random) -> str:
    """A pronounceable command name that no model has seen as a command ("kloumrtsync")."""
    return made_up_word(rng) + rng.choice(_SUFFIXES)


def rename(text: str, names: list[str], new: str) -> str:
    """``text`` with every whole-word occurrence of ``names`` replaced by ``new`` (upper case kept)."""
    for name in sorted({n for n in names if n}, key=len, reverse=True):
        pattern = re.compile(r"(?<![\w-])" + re.escape(name) + r"(?![\w])", re.IGNORECASE)
        text = pattern.sub(lambda m: new.upper() if m.group(0).isupper() and len(m.group(0)) > 1 else new, text)
    return text


def renamed_qas(page: ManPage, new: str) -> list[tuple[str, str, str]]:
    """(kind, question, answer) of ``page`` with its command called ``new``: the unnamed questions
    (its name, what it does) and the named ones (what it does, its options, its authors)."""
    unnamed = unnamed_questions(page.text)
    if not unnamed:
        return []
    names = _names(page, unnamed[0].answer)
    qas = [(q.kind, q.question, rename(q.answer, names, new)) for q in unnamed]
    qas += [(q.kind, rename(q.question, names, new), rename(q.answer, names, new)) for q in page.questions]
    return qas


def _names(page: ManPage, command: str) -> list[str]:
    """Spellings of a page's command: the NAME line's, its file stem, and their _/space variants."""
    return [command, command.replace(" ", "_"), page.name, page.name.replace("_", " ")]


class RenamedPagesTask:
    """Renamed manual pages in 1..n chunks; the response is the gold answer to one question."""

    def __init__(self, tokenizer, pages_file: str | Path, max_chunk_tokens: int, chunk_probs: list[float],
                 snap_to_sentences: bool = False, name_share: float = 0.4,
                 opening_kinds: list[str] | tuple[str, ...] = ("name", "about", "what"), pair_share: float = 0.0):
        self.tok, self.max_chunk, self.probs, self.snap = tokenizer, max_chunk_tokens, chunk_probs, snap_to_sentences
        self.pages = [p for p in read_pages(Path(pages_file)) if unnamed_questions(p.text)]
        if not self.pages:
            raise ValueError(f"{pages_file} holds no manual page with a NAME line")
        self.spellings = {p.name: _names(p, unnamed_questions(p.text)[0].answer) for p in self.pages}
        self.name_share, self.opening_kinds, self.pair_share = name_share, tuple(opening_kinds), pair_share
        self.affix = affix_tokens(tokenizer)

    def sample(self, rng: random.Random, max_chunk: int | None = None, single: bool = False) -> Example:
        """A page under a fresh name with one question; below ``max_chunk_tokens``, ``max_chunk`` caps the
        context (curriculum): the page's first ``max_chunk`` tokens, asked a question its NAME line answers."""
        opening = max_chunk is not None and max_chunk < self.max_chunk
        if not opening and not single and len(self.pages) > 1 and rng.random() < self.pair_share:
            return self._pair(rng)
        page, new = rng.choice(self.pages), made_up_name(rng)
        qas = renamed_qas(page, new)
        text = rename(page.text, self.spellings[page.name], new)
        if opening:
            qas = [q for q in qas if q[0] in self.opening_kinds]
        named = [q for q in qas if q[0] == "name"]
        kind, question, answer = named[0] if named and rng.random() < self.name_share else rng.choice(qas)
        chunks = context_chunks(self.tok, text, rng, self.max_chunk, self.probs, self.affix, self.snap, max_chunk, single)
        return self._example(chunks, question, answer, text)

    def _pair(self, rng: random.Random) -> Example:
        """Two renamed pages as two documents composed (the chunks of each, one after the other) and a
        question that names one of them: the summed LoRA must answer for the page the question names."""
        pages = rng.sample(self.pages, 2)
        names = [made_up_name(rng) for _ in pages]
        texts = [rename(p.text, self.spellings[p.name], new) for p, new in zip(pages, names)]
        target = rng.randrange(2)  # every page with a NAME line has its "what" question
        # questions about "this manual page" are ambiguous over two pages
        named = [q for q in renamed_qas(pages[target], names[target]) if q[0] not in UNNAMED_QUESTIONS]
        _, question, answer = rng.choice(named)
        chunks = [c for text in texts for c in context_chunks(self.tok, text, rng, self.max_chunk, self.probs,
                                                              self.affix, self.snap)]
        return self._example(chunks, question, answer, "\n\n".join(texts))

    def _example(self, chunks: list[list[int]], question: str, answer: str, context: str) -> Example:
        """The student sees ``chunks`` (as LoRAs) and the question; the teacher reads ``context`` in its prompt."""
        return Example(chunks, chat_prompt(self.tok, question), response_ids(self.tok, question, answer),
                       chat_prompt(self.tok, f"{context}\n\n{question}"))
