"""Real documents with questions and gold answers: the manual pages installed on this machine.

Each page is rendered to plain text with ``man`` (groff), cut at its section headings, and asked
templated questions whose answers the page itself states:

- ``what``: "What does NAME do?" -> the NAME line's description;
- ``option``: "What does the --flag option of NAME do?" -> that option's first sentence;
- ``author``: "Who wrote NAME?" -> the names in the AUTHOR(S) section;
- ``summary`` (training only, no gold): "Summarize the document in one sentence."

Pages are split into training and held-out sets by their command name (``is_heldout``), so that
no held-out page, nor another section of it, is seen in training.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

from converters.files import atomic_write

MAN_DIRS = tuple(Path(f"/usr/share/man/man{n}") for n in (1, 3, 5, 7, 8))
_HEADING = re.compile(r"^([A-Z][A-Z0-9 /&-]{1,40})$")
_OPTION = re.compile(r"^(--?[A-Za-z0-9][\w-]*)(?:,\s*(--[A-Za-z0-9][\w-]*))?")  # "-q, --quiet": the long name
_GENERIC_FLAGS = {"--help", "-help", "--version", "-version", "--usage", "-?"}
_WRITTEN_BY = re.compile(r"(?:written|created|developed|maintained|implemented|authored)\s+by\s+(.+)", re.I)


@dataclass
class QA:
    """One question about a document, with its gold answer ('' when there is none)."""

    kind: str
    question: str
    answer: str


@dataclass
class ManPage:
    """A rendered manual page: its command name, plain text and questions."""

    name: str
    path: str
    text: str
    questions: list[QA] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, line: str) -> "ManPage":
        d = json.loads(line)
        return cls(d["name"], d["path"], d["text"], [QA(**q) for q in d["questions"]])


def is_heldout(name: str, fraction: float = 0.15) -> bool:
    """Deterministic split by command name (machine-independent)."""
    digest = hashlib.sha256(("man:" + name).encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < fraction


def render(path: Path, width: int = 80) -> str:
    """Plain text of a manual page file ('' when it cannot be rendered)."""
    env = {**os.environ, "MANWIDTH": str(width), "MAN_KEEP_FORMATTING": "0", "LC_ALL": "C.UTF-8"}
    try:
        out = subprocess.run(["man", "--nh", "--nj", "-E", "UTF-8", "-l", str(path)], capture_output=True, env=env,
                             timeout=20, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""
    text = re.sub(r".\x08", "", out.decode("utf-8", errors="ignore"))  # overstrike bold/underline
    lines = text.splitlines()
    if len(lines) > 2:  # drop the running header and footer lines
        lines = lines[1:-1]
    return "\n".join(ln.rstrip() for ln in lines).strip("\n").replace("\u2010", "-").replace("\u2212", "-")


def sections(text: str) -> dict[str, list[str]]:
    """Section heading -> its lines (indentation kept), in page order."""
    out: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        m = _HEADING.match(line)
        if m:
            current = m.group(1).strip()
            out.setdefault(current, [])
        elif current is not None:
            out[current].append(line)
    return out


def _join(lines: list[str]) -> str:
    return re.sub(r"\s+", " ", " ".join(ln.strip() for ln in lines)).strip()


def _first_sentence(text: str, max_words: int = 30) -> str:
    m = re.match(r"(.+?[.!?])(\s|$)", text)
    sentence = m.group(1) if m else text
    words = sentence.split()
    return " ".join(words[:max_words]).rstrip(",;:")


def _what(name_lines: list[str]) -> tuple[str, str] | None:
    line = _join(name_lines)
    m = re.match(r"(.+?)\s+[-\u2013\u2014]+\s+(.+)", line)
    if not m:
        return None
    names = [n.strip() for n in m.group(1).split(",") if n.strip()]
    desc = m.group(2).strip().rstrip(".")
    if not names or len(desc.split()) < 2:
        return None
    return names[0], desc


def _options(lines: list[str]) -> list[tuple[str, str]]:
    """(flag, first sentence of its description) for option entries of a section."""
    found, i = [], 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        m = _OPTION.match(stripped)
        if m and 4 <= indent <= 10:
            flag = m.group(2) or m.group(1)
            rest = stripped[len(m.group(0)):]
            desc_lines = []
            # the description follows on the same line (after 2+ spaces) or on deeper-indented lines
            same = re.split(r"\s{2,}", rest, maxsplit=1)
            if len(same) == 2 and same[1].strip():
                desc_lines.append(same[1])
            j = i + 1
            while j < len(lines) and lines[j].strip() and len(lines[j]) - len(lines[j].lstrip()) > indent:
                desc_lines.append(lines[j])
                j += 1
            desc = _first_sentence(_join(desc_lines))
            if len(desc.split()) >= 3 and flag not in _GENERIC_FLAGS:
                found.append((flag, desc))
            i = max(j, i + 1)
        else:
            i += 1
    return found


def _authors(secs: dict[str, list[str]]) -> str:
    for key in ("AUTHOR", "AUTHORS"):
        body = _join(secs.get(key, []))
        if not body:
            continue
        m = _WRITTEN_BY.search(body)
        text = m.group(1) if m else body
        text = re.sub(r"<[^>]*>|\([^)]*@[^)]*\)|\S+@\S+", "", text)  # e-mail addresses
        text = _first_sentence(text, max_words=16).rstrip(".")
        if 1 <= len(text.split()) <= 16 and re.search(r"[A-Z][a-z]+", text):
            return text
    return ""


def questions(text: str) -> list[QA]:
    """The templated questions a page answers, with their gold answers."""
    secs = sections(text)
    what = _what(secs.get("NAME", []))
    if what is None:
        return []
    name, desc = what
    qas = [QA("what", f"What does {name} do?", desc)]
    seen = set()
    for flag, desc in _options(secs.get("OPTIONS", []) + secs.get("DESCRIPTION", [])):
        if flag in seen:
            continue
        seen.add(flag)
        qas.append(QA("option", f"What does the {flag} option of {name} do?", desc))
    authors = _authors(secs)
    if authors:
        qas.append(QA("author", f"Who wrote {name}?", authors))
    return qas


# Questions that do not name the page: only the document (or its LoRA) can tell the answer. Asked
# of a named page, a question's own words identify the page, so a context-free LoRA can learn its
# answer by heart (which is what two runs of named questions alone learned).
UNNAMED_QUESTIONS = {"name": "What is the name of the command this manual page describes?",
                     "about": "What does the command this manual page describes do?"}


def unnamed_questions(text: str) -> list[QA]:
    """The UNNAMED_QUESTIONS with their gold answers (the NAME line's command and description)."""
    what = _what(sections(text).get("NAME", []))
    if what is None:
        return []
    return [QA("name", UNNAMED_QUESTIONS["name"], what[0]), QA("about", UNNAMED_QUESTIONS["about"], what[1])]


# Evaluation only: benchmarks/docqa.py also asks each templated question in one of these phrasings,
# a user's own words. No training recipe may read them: they measure more than the training templates.
FREE_PHRASINGS = {
    "what": ("What is {name} used for?", "Can you tell me what the {name} command is for?",
             "What's the purpose of {name}?"),
    "option": ("What happens when I pass {flag} to {name}?", "In {name}, what is the {flag} flag for?",
               "Explain the {flag} switch of {name}."),
    "author": ("Who is the author of {name}?", "Who created {name}?", "Which people wrote the {name} program?"),
    "name": ("Which command does this manual page document?", "What is the program documented here called?"),
    "about": ("What is the program documented here for?", "In short, what does the documented program do?"),
}
_TEMPLATED = {"what": r"What does (?P<name>.+) do\?", "author": r"Who wrote (?P<name>.+)\?",
              "option": r"What does the (?P<flag>\S+) option of (?P<name>.+) do\?"}


def free_phrasing(qa: QA, seed: int = 0) -> QA:
    """The question in one of its FREE_PHRASINGS (picked by the question and ``seed``), same gold answer."""
    m = re.fullmatch(_TEMPLATED[qa.kind], qa.question) if qa.kind in _TEMPLATED else None
    if qa.kind in _TEMPLATED and m is None:
        raise ValueError(f"not a templated {qa.kind!r} question: {qa.question!r}")
    choices = FREE_PHRASINGS[qa.kind]
    pick = int.from_bytes(hashlib.sha256(f"{seed}:{qa.question}".encode()).digest()[:4], "big") % len(choices)
    return QA(qa.kind, choices[pick].format(**(m.groupdict() if m else {})), qa.answer)


def collect(heldout: bool, limit: int, seed: int = 0, max_chars: int = 12_000, min_chars: int = 600,
            per_family: int = 3, dirs: tuple[Path, ...] = MAN_DIRS,
            exclude: frozenset[str] = frozenset()) -> list[ManPage]:
    """Up to ``limit`` rendered pages of one split (held-out or training), in a seeded random order.

    One page per command name (the first file found) and at most ``per_family`` pages per family
    (the name's first word: ``gcloud_*`` alone has thousands); pages without a NAME line are skipped,
    and so are the commands named in ``exclude``.
    """
    files: dict[str, Path] = {}
    for d in dirs:
        if d.is_dir():
            for p in sorted(d.iterdir()):
                name = p.name.split(".")[0]
                # a compressed file larger than max_chars renders to more text: skip without rendering
                if name and name not in files and is_heldout(name) == heldout and p.stat().st_size <= max_chars:
                    files[name] = p
    names = sorted(files)
    random.Random(seed).shuffle(names)
    pages, seen_text, families = [], set(), {}
    for name in names:
        if len(pages) >= limit:
            break
        if name in exclude:
            continue
        family = re.split(r"[-_.]", name)[0]
        if families.get(family, 0) >= per_family:
            continue
        text = render(files[name])
        if not (min_chars <= len(text) <= max_chars):
            continue
        key = hashlib.sha1(text.encode()).hexdigest()
        qas = questions(text)
        if key in seen_text or not qas:
            continue
        seen_text.add(key)
        families[family] = families.get(family, 0) + 1
        pages.append(ManPage(name, str(files[name]), text, qas))
    return pages


def write_pages(pages: list[ManPage], path: Path) -> Path:
    """JSONL of pages, written atomically."""
    text = "".join(p.to_json() + "\n" for p in pages)
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def read_pages(path: Path) -> list[ManPage]:
    return [ManPage.from_json(ln) for ln in Path(path).read_text(encoding="utf-8").splitlines() if ln.strip()]
