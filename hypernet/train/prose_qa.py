"""The prose task: ordinary installed text (documentation, licences, docstrings) asked extractive questions.

A document is a run of consecutive paragraphs of one source (``corpus.collect_sources``), from one
chunk to a few. Its questions are made from its own sentences, so every gold answer is words of the
document: who wrote or holds it, what a term is, a number or name in a sentence, what follows a
phrase, what the document is about. Question wordings vary (several phrasings per kind), so that the
hypernetwork learns to carry a document's facts, not to answer four templates. Sources are split by
name (``corpus.is_heldout``), and any source the evaluation sets use is excluded (``exclude``).

With ``fresh_share``, a question whose answer is a name or a number gets, on that draw, a made-up value
of the same shape in its place throughout the document ("Ulrich Drepper" -> "Vorsk Bramquel", "2.4.1"
-> "7.0.3"), as the copy stage renames manual pages: no model can know it, so the loss falls only
through the document.
"""

from __future__ import annotations

import json
import random
import re
import unicodedata
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from .corpus import Source, collect_sources, is_heldout
from .data import Example, affix_tokens, chat_prompt, context_chunks, response_ids
from .renamed import made_up_word

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(])")
_DEFINITION = re.compile(r"^(?:The |A |An )?([A-Za-z][\w-]*(?: [\w-]+){0,3}) (is|are|means|refers to|stands for) "
                         r"((?:an? |the )?[^,;:]{6,120}?)(?:[,;:.]|$)")
_BY = re.compile(r"\b(written|developed|created|maintained|designed|published|implemented|authored|"
                 r"copyrighted|released|distributed) by ((?:the )?[A-Z][\w.'-]*(?: (?:[A-Z][\w.'-]*|and|of|de|van))"
                 r"{0,5})")
_COPYRIGHT = re.compile(r"Copyright (?:\(C\)|©)?\s*((?:\d{4}[-, ]*)+)\s*(?:by )?([A-Z][\w.'-]*(?: [A-Z&][\w.'-]*){0,5})")
_VERSION = re.compile(r"\b[Vv]ersion (\d+(?:\.\d+)*[a-z]?)\b")
_NUMBER = re.compile(r"(?<![\w.-])(\d[\d,.]*\d|\d)(?![\w-])")
_NAME = re.compile(r"(?<=[a-z,] )([A-Z][a-zA-Z]+(?: [A-Z][a-zA-Z]+){0,3})")
_NOT_SUBJECTS = {"if", "when", "there", "here", "this", "that", "it", "which", "what", "where", "who", "how", "why",
                 "so", "but", "and", "or", "such", "each", "one", "all", "some", "any", "no", "none", "they", "he",
                 "she", "we", "you", "i", "its", "his", "her", "their", "our", "your", "also", "then", "thus"}
_COMMON_CAPS = {"I", "The", "This", "That", "These", "It", "If", "In", "On", "For", "See", "Note", "You", "We",
                "When", "A", "An", "And", "Or", "But", "As", "To", "Of", "By", "With", "Each", "All", "Any"}

ABOUT = ("What is this document about?", "What is this text about?", "Summarize the document in one sentence.",
         "What does this document describe?", "Give me the gist of this document.")
BY = ("Who {verb} it?", "According to the document, who {verb} it?", "Who is named as having {verb} it?")
COPYRIGHT = ("Who holds the copyright?", "Who is the copyright holder of this text?",
             "Whose copyright is stated in the document?")
YEARS = ("What year is given in the copyright notice?", "When is the copyright dated?")
VERSION = ("Which version does the document mention?", "What version is this about?",
           "What is the version number given in the text?")
DEFINE = ("What is {x}?", "What does the document say {x} is?", "According to the text, what is {x}?",
          "Can you explain what {x} is, according to the document?")
DEFINE_PLURAL = ("What are {x}?", "What does the document say {x} are?", "According to the text, what are {x}?")
MEANS = ("What does {x} mean?", "What does {x} mean in this document?")
BLANK = ("Fill in the blank from the document: \"{s}\"", "In the document, what word or number is missing here: \"{s}\"",
         "Complete this sentence from the text: \"{s}\"")
# The kinds a user asks (not the fill-in-the-blank and what-comes-next drills).
ASKED = frozenset({"about", "by", "copyright", "version", "define"})
# Kinds whose answer is a name or a number: the ones a fresh value can stand in for.
FRESH_KINDS = frozenset({"by", "copyright", "version", "number", "name"})
_KEPT_WORDS = {"the", "and", "of", "de", "van", "Inc", "Inc.", "Ltd", "Ltd.", "Corporation", "Foundation", "Project"}
_NUMERIC = re.compile(r"[\d.,\- ]*\d[\d.,\- ]*")
NEXT = ("In the document, what comes after \"{s}\"?", "How does the document continue after \"{s}\"?",
        "Quote what the text says right after \"{s}\".")


@dataclass
class ProseDoc:
    """One training document: its source, its text and its questions ``(kind, question, answer)``."""

    source: str
    text: str
    qas: list[tuple[str, str, str]]


def sentences(text: str) -> list[str]:
    """The sentences of ``text`` (a simple splitter: a full stop, then a capital)."""
    return [s.strip() for s in _SENTENCE.split(text) if len(s.split()) >= 4]


def _words(s: str, n: int) -> str:
    return " ".join(s.split()[:n])


def make_questions(text: str, rng: random.Random, per_kind: int = 3) -> list[tuple[str, str, str]]:
    """Extractive ``(kind, question, answer)`` triples about ``text``; every answer is words of ``text``."""
    sents = sentences(text)
    if not sents:
        return []
    qas = [("about", rng.choice(ABOUT), _words(sents[0], 25))]
    found: dict[str, list[tuple[str, str, str]]] = {k: [] for k in ("by", "copyright", "version", "define",
                                                                   "number", "name", "next")}
    for s in sents:
        if (m := _BY.search(s)):
            found["by"].append(("by", rng.choice(BY).format(verb=m.group(1)), m.group(2).strip()))
        if (m := _COPYRIGHT.search(s)):
            found["copyright"].append(("copyright", rng.choice(COPYRIGHT), m.group(2).strip()))
            found["copyright"].append(("copyright", rng.choice(YEARS), m.group(1).strip(" ,-")))
        if (m := _VERSION.search(s)):
            found["version"].append(("version", rng.choice(VERSION), m.group(1)))
        if (m := _DEFINITION.match(s)) and not _NOT_SUBJECTS & set(m.group(1).lower().split()) and m.group(3)[:1].islower():
            x, verb, rest = m.group(1), m.group(2), m.group(3).strip()
            if verb in ("means", "refers to", "stands for"):
                found["define"].append(("define", rng.choice(MEANS).format(x=x), rest))
            else:
                found["define"].append(("define", rng.choice(DEFINE_PLURAL if verb == "are" else DEFINE).format(x=x), rest))
        words = s.split()
        if len(words) <= 40:
            for pattern, kind in ((_NUMBER, "number"), (_NAME, "name")):
                for m in pattern.finditer(s):
                    if kind == "name" and m.group(1) in _COMMON_CAPS:
                        continue
                    blanked = s[: m.start()] + "___" + s[m.end():]
                    if text.count(s[: m.start()][-30:]) > 1 or "\n" in blanked:
                        continue  # the same context elsewhere in the document: the blank is ambiguous
                    found[kind].append((kind, rng.choice(BLANK).format(s=blanked), m.group(1)))
        if len(words) >= 14:
            cut = rng.randint(5, min(10, len(words) - 6))
            if text.count(" ".join(words[:cut])) == 1:
                    found["next"].append(("next", rng.choice(NEXT).format(s=" ".join(words[:cut])),
                                      " ".join(words[cut: cut + 10]).rstrip(".,;:")))
    for kind, items in found.items():
        qas += rng.sample(items, min(per_kind, len(items)))
    return qas


def fresh_value(answer: str, rng: random.Random) -> str:
    """A made-up value of ``answer``'s shape that differs from it: every digit of a number redrawn (a
    leading digit stays non-zero, a leading 0 stays 0), every capitalised word of a name invented."""
    for _ in range(8):
        if _NUMERIC.fullmatch(answer):
            out, prev = [], ""
            for c in answer:
                out.append(c if not c.isdigit() else
                           "0" if (c == "0" and not prev.isdigit()) else
                           str(rng.randint(0 if prev.isdigit() else 1, 9)))
                prev = c
            new = "".join(out)
        else:
            new = " ".join(_invented(w, rng) for w in answer.split(" "))
        if new != answer:
            return new
    return answer


def _invented(word: str, rng: random.Random) -> str:
    if word in _KEPT_WORDS or not word[:1].isupper():
        return word
    core = made_up_word(rng).capitalize()
    return core + word[len(word.rstrip(".,;:")):]  # keep trailing punctuation


def freshened(text: str, question: str, answer: str, rng: random.Random) -> tuple[str, str, str]:
    """``text``, ``question`` and ``answer`` with every whole occurrence of ``answer`` replaced by one made-up
    value (``fresh_value``)."""
    new = fresh_value(answer, rng)
    pattern = re.compile(r"(?<![\w.-])" + re.escape(answer) + r"(?![\w-]|\.\d)")
    return pattern.sub(lambda _: new, text), pattern.sub(lambda _: new, question), new


def documents(sources: list[Source], rng: random.Random, short_chars: int = 1700, long_chars: int = 6000,
              long_share: float = 0.35) -> list[ProseDoc]:
    """Cut each source into documents of consecutive paragraphs: most of about one chunk
    (``short_chars``), ``long_share`` of them up to ``long_chars`` (several chunks)."""
    docs = []
    for src in sources:
        paras, i = src.paragraphs, 0
        while i < len(paras):
            limit = long_chars if rng.random() < long_share else short_chars
            text, j = paras[i], i + 1
            while j < len(paras) and len(text) + len(paras[j]) + 2 <= limit:
                text, j = text + "\n\n" + paras[j], j + 1
            if len(text) >= 300:
                qas = make_questions(text, rng)
                if len(qas) >= 3:
                    docs.append(ProseDoc(src.name, text[: max(limit, len(paras[i]))], qas))
            i = j
    return docs


@dataclass(frozen=True)
class Holdout:
    """Sources no training may read: names starting with a prefix, or texts holding a fingerprint."""

    prefixes: frozenset[str] = frozenset()
    fingerprints: tuple[str, ...] = ()

    def excludes(self, src: Source) -> bool:
        if any(src.name.startswith(p) for p in self.prefixes):
            return True
        text = _squashed(" ".join(src.paragraphs))
        return any(f in text for f in self._prints)

    @cached_property
    def _prints(self) -> tuple[str, ...]:
        return tuple(_squashed(f) for f in self.fingerprints)


def _squashed(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).split()).lower()


def build_prose_data(out_dir: Path, seed: int = 0, holdout: Holdout = Holdout(), heldout_fraction: float = 0.12,
                     max_docs: int = 6000) -> dict:
    """``train.jsonl`` and ``heldout.jsonl`` of prose documents in ``out_dir`` (split by source); the sources
    ``holdout`` names (the evaluation sets' packages, files and sentences) are left out entirely."""
    from converters.files import atomic_write

    Path(out_dir).mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    sources = [s for s in collect_sources() if not holdout.excludes(s)]
    split = {"train": [s for s in sources if not is_heldout(s.name, heldout_fraction)],
             "heldout": [s for s in sources if is_heldout(s.name, heldout_fraction)]}
    counts = {}
    for part, group in split.items():
        docs = documents(group, rng)
        rng.shuffle(docs)
        docs = docs[:max_docs]
        rows = "".join(json.dumps({"source": d.source, "text": d.text, "qas": d.qas}) + "\n" for d in docs)
        atomic_write(Path(out_dir) / f"{part}.jsonl", lambda tmp: tmp.write_text(rows, encoding="utf-8"))
        counts[part] = {"sources": len(group), "documents": len(docs), "questions": sum(len(d.qas) for d in docs)}
    return counts


def read_docs(path: str | Path) -> list[ProseDoc]:
    rows = [json.loads(ln) for ln in Path(path).read_text(encoding="utf-8").splitlines() if ln.strip()]
    return [ProseDoc(r["source"], r["text"], [tuple(q) for q in r["qas"]]) for r in rows]


class ProseTask:
    """Prose documents in 1..n chunks, one extractive question each; the response is the gold span.

    A question of ``FRESH_KINDS`` whose answer the text holds gets a made-up answer throughout the
    document with probability ``fresh_share``. (Renamed manual pages are mixed in by ``data.MixedTask``.)"""

    def __init__(self, tokenizer, docs_file: str | Path, max_chunk_tokens: int, chunk_probs: list[float],
                 snap_to_sentences: bool = False, fresh_share: float = 0.0):
        self.tok, self.max_chunk, self.probs, self.snap = tokenizer, max_chunk_tokens, chunk_probs, snap_to_sentences
        self.docs = read_docs(docs_file)
        if not self.docs:
            raise ValueError(f"{docs_file} holds no prose documents")
        self.fresh_share = fresh_share
        self.affix = affix_tokens(tokenizer)

    def sample(self, rng: random.Random, max_chunk: int | None = None, single: bool = False,
               kinds: frozenset[str] | None = None) -> Example:
        """One document and one of its questions (of ``kinds`` only, when given)."""
        docs = self.docs if kinds is None else [d for d in self.docs if any(k in kinds for k, _, _ in d.qas)]
        doc = rng.choice(docs)
        offered = sorted({k for k, _, _ in doc.qas if kinds is None or k in kinds})
        kind = rng.choice(offered)  # balanced over kinds, so the plentiful blanks do not drown the rest
        _, question, answer = rng.choice([q for q in doc.qas if q[0] == kind])
        text = doc.text
        if kind in FRESH_KINDS and answer in text and self.fresh_share and rng.random() < self.fresh_share:
            text, question, answer = freshened(text, question, answer, rng)
        chunks = context_chunks(self.tok, text, rng, self.max_chunk, self.probs, self.affix, self.snap, max_chunk,
                                single)
        return Example(chunks, chat_prompt(self.tok, question), response_ids(self.tok, question, answer),
                       chat_prompt(self.tok, f"{text}\n\n{question}"))
