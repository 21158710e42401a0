"""An offline English prose corpus: installed documentation, licence texts, GNU info manuals and
Python standard-library docstrings, cleaned of code-like lines and split by source into a
training and a held-out part.

On disk a corpus file holds one source per block (blocks separated by a blank line) and one
paragraph per line, so that haystacks can be cut from consecutive paragraphs of one source.
"""

from __future__ import annotations

import ast
import gzip
import hashlib
import re
import sysconfig
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from converters.files import atomic_write

DOC_DIRS = (Path("/usr/share/doc"), Path("/usr/share/common-licenses"), Path("/usr/share/info"))
_DOC_NAME = re.compile(r"^(readme|news|faq|changes|copyright|authors|todo|thanks|manual|intro)"
                       r"|\.(txt|md|rst|info|text)(\.gz)?$|\.info(-\d+)?\.gz$", re.I)
_CODE_START = ("<", ">>>", "...", "$ ", "# ", "//", "def ", "class ", "import ", "from ", "return ",
               "if (", "for (", "#include", "@", "{", "}", "File:", "Node:", "-*-", "%")
_SYMBOLS = set("{}[]()<>=;/\\|_$@#%^&*~`+")
_MAX_FILE_CHARS = 300_000


@dataclass
class Source:
    """One cleaned source text: its name and its prose paragraphs."""

    name: str
    paragraphs: list[str]


def is_heldout(name: str, fraction: float = 0.12) -> bool:
    """Deterministic, machine-independent split by source name."""
    digest = hashlib.sha256(name.encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < fraction


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    for a, b in (("\u2018", "'"), ("\u2019", "'"), ("\u201c", '"'), ("\u201d", '"'),
                 ("\u2013", "-"), ("\u2014", "-"), ("``", '"'), ("''", '"'), ("\x1f", "")):
        text = text.replace(a, b)
    return text


def _is_code_like(line: str) -> bool:
    raw = line.rstrip()
    stripped = raw.strip()
    if raw.startswith(("\t", "        ")) or stripped.startswith(_CODE_START):
        return True
    if "://" in stripped or re.search(r"\w\(|\)\s*;|==|->|::|\.\w+\(", stripped):
        return True
    n = max(len(stripped), 1)
    if sum(c in _SYMBOLS for c in stripped) / n > 0.05:
        return True
    if sum(c.isalpha() or c.isspace() for c in stripped) / n < 0.85:
        return True
    return bool(re.fullmatch(r"[-=*~_.\s]+", stripped))


def clean_paragraphs(text: str) -> list[str]:
    """Prose paragraphs of ``text``: code-like lines dropped, lines unwrapped, short bits removed."""
    text = _normalise(text)
    paragraphs = []
    for block in re.split(r"\n\s*\n", text):
        lines = [ln for ln in block.splitlines() if ln.strip()]
        if not lines or sum(_is_code_like(ln) for ln in lines) > len(lines) / 3:
            continue
        words = " ".join(re.sub(r"^\s*([-*+o]|\d+[.)])\s+", "", ln).strip() for ln in lines).split()
        para = " ".join(words)
        letters = sum(c.isalpha() for c in para)
        if len(words) < 8 or letters < 0.7 * len(para) or para.upper() == para:
            continue
        if not re.search(r"[a-z][.!?][\"')]?$", para) or para.count(".") == 0:
            continue
        paragraphs.append(para)
    return paragraphs


def _read_doc_file(path: Path) -> str:
    try:
        raw = gzip.open(path).read(_MAX_FILE_CHARS) if path.suffix == ".gz" else path.read_bytes()[:_MAX_FILE_CHARS]
        return raw.decode("utf-8", errors="ignore")
    except (OSError, EOFError, gzip.BadGzipFile):
        return ""


def _doc_sources(dirs: tuple[Path, ...] = DOC_DIRS) -> list[Source]:
    sources = []
    for root in dirs:
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*")):
            is_licence = root.name == "common-licenses"
            if path.is_file() and not path.is_symlink() and (is_licence or _DOC_NAME.search(path.name)):
                if "changelog" in path.name.lower():
                    continue
                paras = clean_paragraphs(_read_doc_file(path))
                if paras:
                    sources.append(Source(str(path), paras))
    return sources


def _python_sources() -> list[Source]:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    sources = []
    for path in sorted(stdlib.rglob("*.py")):
        rel = path.relative_to(stdlib)
        if rel.parts[0] in ("site-packages", "test", "idlelib", "lib2to3") or "tests" in rel.parts:
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8", errors="ignore"))
        except (SyntaxError, ValueError):
            continue
        docs = [ast.get_docstring(n) for n in ast.walk(tree)
                if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))]
        paras = clean_paragraphs("\n\n".join(d for d in docs if d))
        if paras:
            sources.append(Source("python:" + str(rel), paras))
    return sources


def collect_sources() -> list[Source]:
    """Every prose source found on this machine, paragraphs deduplicated across sources."""
    seen: set[str] = set()
    out = []
    for src in _doc_sources() + _python_sources():
        paras = []
        for p in src.paragraphs:
            key = hashlib.sha1(p.lower().encode()).hexdigest()
            if key not in seen:
                seen.add(key)
                paras.append(p)
        if paras:
            out.append(Source(src.name, paras))
    return out


def write_sources(sources: list[Source], path: Path) -> Path:
    """Write sources in the corpus file format (atomically)."""
    text = "\n\n".join("\n".join(s.paragraphs) for s in sources) + "\n"
    return atomic_write(Path(path), lambda tmp: tmp.write_text(text, encoding="utf-8"))


def read_sources(path: Path) -> list[list[str]]:
    """Read a corpus file: a list of sources, each a list of paragraphs."""
    blocks = Path(path).read_text(encoding="utf-8").split("\n\n")
    return [[p for p in b.split("\n") if p.strip()] for b in blocks if b.strip()]


def build_corpus(out_dir: Path, heldout_fraction: float = 0.12,
                 shipped_heldout: Path | None = None, shipped_chars: int = 300_000) -> dict:
    """Collect, clean and split the corpus into ``train.txt`` and ``heldout.txt`` in ``out_dir``.

    ``shipped_heldout``: also write a small held-out file of Python docstrings only (PSF licence),
    for tests and benchmarks on machines whose installed documentation differs.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sources = collect_sources()
    train = [s for s in sources if not is_heldout(s.name, heldout_fraction)]
    held = [s for s in sources if is_heldout(s.name, heldout_fraction)]
    write_sources(train, out_dir / "train.txt")
    write_sources(held, out_dir / "heldout.txt")
    if shipped_heldout is not None:
        shipped, total = [], 0
        for s in held:
            if s.name.startswith("python:") and total < shipped_chars:
                shipped.append(s)
                total += sum(len(p) + 1 for p in s.paragraphs)
        write_sources(shipped, Path(shipped_heldout))
    chars = lambda group: sum(len(p) for s in group for p in s.paragraphs)  # noqa: E731
    return {"train_sources": len(train), "heldout_sources": len(held),
            "train_chars": chars(train), "heldout_chars": chars(held)}
