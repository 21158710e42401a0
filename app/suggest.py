"""Questions to suggest for a document, drawn from its own text: the terms it defines ("X means",
"X (ABC)", "The X is ..."), its headings, then the words it uses most."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator

from app.support import FILLER
from app.words import WORD

MAX_TERM = 48  # characters of a term or heading that a suggestion quotes
SCANNED_PAGES = 30  # suggestions come from a document's opening pages
GENERIC_HEADINGS = frozenset(h.strip() for h in """abstract, acknowledgements, acknowledgments,
appendix, attributes, author, authors, availability, bibliography, bugs, commands, conclusion,
conclusions, conforming to, contact, contents, copyright, description, environment, errors,
example, examples, exit status, files, history, index, introduction, library, name, notes,
options, overview,
preface, references, reporting bugs, return value, see also, standards, summary, synopsis,
table of contents, versions""".split(","))
GENERIC_TERMS = frozenset({"--help", "--usage", "--version"})  # every command has them

_DEFINITIONS = [  # (pattern with a group "term", the question asked about the term)
    (re.compile(r"^[ \t]*(?:-\w,\s*)?(?P<term>--[a-z][\w-]+)\b", re.M),
     "What does the {} option do?"),
    (re.compile(r"[\"“](?P<term>[^\"”\n]{2,40})[\"”]\s+(?:means|refers to|is defined as)\b"),
     "What does “{}” mean?"),
    (re.compile(r"\b[A-Z][\w-]*(?: [A-Za-z][\w-]*){0,4} \((?P<term>[A-Z]{2,8})\)"),
     "What does {} stand for?"),
    (re.compile(r"(?:^|[.!?]\s+)(?P<term>[A-Z][\w-]*(?: [\w-]+){0,3}) (?:is defined as|refers to"
                r"|means)\b"), "What is {}?"),
    (re.compile(r"(?:^|[.!?]\s+)The (?P<term>[a-z][\w-]*(?: [a-z][\w-]*){0,3}) (?P<verb>is|are"
                r"|was|were) (?!\w+ly\b)"), "What {verb} the {}?"),
]
_AFTER_ARTICLE = re.compile(
    r"\b(?:[Tt]he|[Aa]n?|[Ii]ts|[Tt]heir|[Tt]his|[Tt]hese)\s+([^\W\d_]{4,})")
_HEADING = re.compile(  # an optional "#", "2.1" or "IV." before the heading's text
    r"^(?:#{1,6}\s+|(?:\d+(?:\.\d+)*\.?|[IVX]+\.)\s+)?(?P<text>[A-Z][^\n]{2,60})$")


def _clean(term: str) -> str:
    return " ".join(term.split()).rstrip(" -–—:;,").lstrip(" –—:;,")


def definitions(text: str) -> Iterator[str]:
    """Questions about the terms ``text`` defines, in the order they appear."""
    found = []
    for pattern, question in _DEFINITIONS:
        for match in pattern.finditer(text):
            term = _clean(match.group("term"))
            if 1 < len(term) <= MAX_TERM and term.lower() not in FILLER | GENERIC_TERMS:
                verb = match.groupdict().get("verb")
                found.append((match.start(), question.format(term, verb=verb)))
    yield from (q for _, q in sorted(found))


def headings(text: str) -> Iterator[str]:
    """Questions about the headings of ``text``: short lines that open a block (after a blank
    line), start with a capital (after a number or a Markdown '#'), hold no comma or address, do
    not end like a sentence, an introduction or a cut line, and are not a generic section name."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        match = _HEADING.match(line.strip())
        if not match or (i and lines[i - 1].strip()) or line.rstrip().endswith(":"):
            continue
        heading = _clean(match.group("text"))
        words = WORD.findall(heading)
        if (not 1 <= len(words) <= 8 or heading.endswith((".", "?", "!"))
                or any(c in heading for c in ",<>@")
                or words[-1].lower() in FILLER or heading.lower() in GENERIC_HEADINGS
                or len(heading) > MAX_TERM
                or sum(c.isalpha() for c in heading) < 0.6 * len(heading)):
            continue
        if heading.isupper() and (len(words) > 1 or len(heading) > 5):  # "MODULE TYPES"
            heading = heading.lower()
        yield f"What does it say about {_lower_first(heading)}?"


def _lower_first(text: str) -> str:
    """'Safety rules' -> 'safety rules' (a second capital, as in 'GPU memory', is kept)."""
    first = text.split(" ", 1)[0]
    return text if any(c.isupper() for c in first[1:]) else text[:1].lower() + text[1:]


def frequent_words(text: str, count: int = 3) -> Iterator[str]:
    """Questions about the words ``text`` uses most (at least twice) right after an article or a
    possessive, where nouns stand ("the harbor", "its pickers")."""
    words = Counter(w.lower() for w in _AFTER_ARTICLE.findall(text) if w.lower() not in FILLER)
    for word, n in words.most_common(count):
        if n > 1:
            yield f"What does it say about “{word}”?"


def suggested_questions(pages: Iterable[tuple[int, str]], limit: int = 3) -> list[str]:
    """Up to ``limit`` different questions about a document (its pages as (number, text)), taken
    in turn from its defined terms, its headings and its most used words."""
    text = "\n".join(t for _, (_, t) in zip(range(SCANNED_PAGES), pages))
    sources = [definitions(text), headings(text), frequent_words(text, limit)]
    out: list[str] = []
    while sources and len(out) < limit:
        for source in list(sources):
            question = next((q for q in source if q.lower() not in {o.lower() for o in out}), None)
            if question is None:
                sources.remove(source)
            elif len(out) < limit:
                out.append(question)
    return out
