"""Which pages support an answer: a page supports it only if one passage of it holds the answer's
own numbers and words (those the question did not already say): every number, and every word of
a short answer or three quarters of the words of a longer one (more than three), within a window
of at least PASSAGE_WORDS words (three per word of a longer answer).
That passage is quoted with those words between ``**`` marks. When no page holds the answer, the
pages that match the question are offered instead, marked as such (``Source.supports`` False)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from app.records import Document, Source
from app.words import NUMBER, STOPWORDS, WORD, number_key, stem

if TYPE_CHECKING:
    from app.library import Library

# Words an answer uses around its facts; they show nothing about where the facts come from.
FILLER = STOPWORDS | frozenset("""about after all also any been before being but can could did
each from had her here him his into more most much must not nor other our over same she should
so some such than then there these they those through under very were will would yes""".split())
PASSAGE_WORDS = 36  # the quoted passage, in words
LEAD_WORDS = 8  # words shown before the passage's first match


@dataclass(frozen=True)
class Claim:
    """What a page must hold to support an answer: its numbers and content words (stems)."""

    numbers: frozenset[str]
    words: frozenset[str]

    def __bool__(self) -> bool:
        return bool(self.numbers or self.words)

    @property
    def window(self) -> int:
        """How many words of a page may hold the claim (and make its quoted passage)."""
        return max(PASSAGE_WORDS, 3 * len(self.words))

    def hits(self, text: str) -> set[str]:
        """The claim's numbers and words that ``text`` holds."""
        numbers, words = _keys(text)
        return (self.numbers & numbers) | (self.words & words)

    def held_by(self, hits: set[str]) -> bool:
        """Whether ``hits`` (of one passage) are every number and every word of the claim, or
        three quarters of its words when it has more than three."""
        held, words = len(self.words & hits), len(self.words)
        enough = held == words or (words > 3 and 4 * held >= 3 * words)
        return self.numbers <= hits and enough


def _keys(text: str) -> tuple[set[str], set[str]]:
    """The comparable numbers and word stems of ``text``."""
    numbers = {number_key(n) for n in NUMBER.findall(text)}
    words = {stem(w) for w in WORD.findall(text)}
    return numbers, words


def claim(answer: str, question: str = "") -> Claim:
    """The answer's numbers and content words that the question does not already contain."""
    asked_numbers, asked_words = _keys(question)
    numbers, words = _keys(answer)
    content = {w for w in words if len(w) > 2 and w not in FILLER}
    return Claim(frozenset(numbers - asked_numbers), frozenset(content - asked_words))


def best_window(found: list[set[str]], size: int) -> tuple[int, set[str]]:
    """The start of the ``size``-token window holding most distinct terms (the first such), and
    those terms; ``found`` lists each token's terms."""
    counts: Counter[str] = Counter()
    best, best_hits = 0, set()
    for end, terms in enumerate(found):
        counts.update(terms)
        if end >= size:
            counts.subtract(found[end - size])
        if len(+counts) > len(best_hits):
            best, best_hits = max(end - size + 1, 0), set(+counts)
    return best, best_hits


def held_passage(text: str, wanted: Claim) -> tuple[int, str] | None:
    """(how many of the claim's terms, the passage quoted) when a passage of ``text`` holds the
    claim; None otherwise."""
    if not wanted.held_by(wanted.hits(text)):  # the whole page falls short: no window can do
        return None
    tokens = re.sub(r"\*{2,}", "*", text).split()  # a page's own ** marks become one *
    found = [wanted.hits(t) for t in tokens]
    start, hits = best_window(found, wanted.window)
    if not wanted.held_by(hits):
        return None
    first = next((i for i in range(start, len(tokens)) if found[i]), start)
    start = max(start, first - LEAD_WORDS)  # little before the first match
    end = min(start + wanted.window, len(tokens))
    shown = [_mark(t, wanted) if found[i] else t for i, t in enumerate(tokens[start:end], start)]
    quoted = ("…" if start else "") + " ".join(shown) + ("…" if end < len(tokens) else "")
    return len(hits), quoted


def _mark(token: str, wanted: Claim) -> str:
    """``token`` with its words and numbers that the claim names between ``**`` marks."""
    def marked(match: re.Match) -> str:
        word = match.group()
        key = number_key(word) if word[0].isdigit() else stem(word)
        return f"**{word}**" if key in wanted.numbers | wanted.words else word
    return re.sub(f"{NUMBER.pattern}|{WORD.pattern}", marked, token)


def supporting_pages(pages: Iterable[tuple[int, str]], answer: str, question: str = "",
                     limit: int = 3) -> list[Source]:
    """The pages (number, text) with a passage that holds the answer, most of its terms first,
    each with that passage; empty when the answer says nothing a page could hold."""
    wanted = claim(answer, question)
    if not wanted:
        return []
    held = [(-count, number, quoted) for number, text in pages
            for count, quoted in [held_passage(text, wanted) or (0, "")] if quoted]
    return [Source(page=number, snippet=quoted, supports=True)
            for _, number, quoted in sorted(held)[:limit]]


def answer_sources(library: Library, docs: list[Document], question: str, answer: str,
                   limit: int = 3) -> list[Source]:
    """The pages of ``docs`` that hold the answer; when none does, the pages that match the
    question (``supports`` False). With several documents each gives at most two, labelled with
    its title."""
    several = len(docs) > 1
    per = 2 if several else limit

    def labelled(doc: Document, sources: list[Source]) -> list[Source]:
        return [replace(s, title=doc.title) for s in sources] if several else sources
    found = [s for d in docs
             for s in labelled(d, supporting_pages(library.pages(d.id), answer, question, per))]
    if found:
        return found
    return [s for d in docs for s in labelled(d, library.search_pages(d.id, question, limit=per))]
