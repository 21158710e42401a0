"""Debian package files for the evaluation sets: download a package without installing it, and
turn its documentation (HTML, plain or gzipped text) into plain paragraphs.

  package_root("sqlite3-doc", cache)   # apt-get download + dpkg -x, once per cache folder
  html_blocks(path)                    # [("h2", "Title"), ("p", "A paragraph."), ("pre", "code")]
"""

from __future__ import annotations

import gzip
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

Block = tuple[str, str]  # (tag, text): tag is h1..h4, p, li or pre
_BLOCK_TAGS = {"h1", "h2", "h3", "h4", "p", "li", "pre", "dt", "dd", "blockquote", "tr", "caption"}
_SKIP_TAGS = {"script", "style", "head", "title", "form", "select"}
_SKIP_CLASSES = {"nosearch", "sphinxsidebar", "related", "footer", "headerlink", "toc", "fancy_toc",
                 "menu", "searchmenu", "navigation"}
_VOID_TAGS = {"br", "img", "hr", "meta", "link", "input", "wbr", "col", "area", "base", "source"}


class DebianError(RuntimeError):
    """A package could not be downloaded or unpacked."""


def package_root(package: str, cache: Path) -> Path:
    """The folder holding ``package``'s files (unpacked from its .deb into ``cache``; never installed)."""
    root = cache / package
    if (root / ".unpacked").exists():
        return root
    cache.mkdir(parents=True, exist_ok=True)
    for old in cache.glob(f"{package}_*.deb"):
        old.unlink()
    got = subprocess.run(["apt-get", "download", package], cwd=cache, capture_output=True, text=True, check=False)
    if got.returncode:  # a fresh machine has no package lists yet: read them once, then try again
        subprocess.run(["apt-get", "update", "-qq"], capture_output=True, check=False)
        got = subprocess.run(["apt-get", "download", package], cwd=cache, capture_output=True, text=True, check=False)
    debs = sorted(cache.glob(f"{package}_*.deb"))
    if got.returncode or not debs:
        raise DebianError(f"apt-get download {package} failed (run apt-get update first?): {got.stderr.strip()}")
    shutil.rmtree(root, ignore_errors=True)
    subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(root)], check=True)
    (root / ".unpacked").write_text(debs[0].name)
    return root


def package_version(package: str, cache: Path) -> str:
    """The version of the .deb that ``package_root`` unpacked (from its file name)."""
    name = (package_root(package, cache) / ".unpacked").read_text()
    return name.split("_")[1].replace("%3a", ":")


def read_text(path: Path) -> str:
    """A text file's contents, gunzipped when it ends in .gz."""
    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    return data.decode("utf-8", errors="replace")


class _Blocks(HTMLParser):
    """Collects the text of block elements outside navigation, scripts and sidebars."""

    def __init__(self, main_class: str | None):
        super().__init__(convert_charrefs=True)
        self.blocks: list[Block] = []
        self.stack: list[tuple[str, bool]] = []  # (tag, skipped) of open elements
        self.main_class = main_class
        self.in_main = main_class is None
        self.main_depth = -1
        self.buf: list[str] = []
        self.tag = "p"

    def _skipping(self) -> bool:
        return not self.in_main or any(skip for _, skip in self.stack)

    def _in_row(self) -> bool:
        return any(t == "tr" for t, _ in self.stack)

    def flush(self) -> None:
        text = "".join(self.buf).replace("\xa0", " ")
        if self.tag == "pre":
            text = text.strip("\n")
        else:  # Sphinx's heading anchors are pilcrows
            text = re.sub(r"\s+", " ", text.replace("\u00b6", "")).strip()
        if text:
            self.blocks.append((self.tag, text))
        self.buf = []

    def handle_starttag(self, tag, attrs):
        classes = set((dict(attrs).get("class") or "").split())
        if tag in _VOID_TAGS:
            if tag == "br" and not self._skipping():
                self.buf.append("\n" if self.tag == "pre" else " ")
            return
        if self.main_class and not self.in_main and self.main_class in classes:
            self.in_main, self.main_depth = True, len(self.stack)
        skip = tag in _SKIP_TAGS or bool(classes & _SKIP_CLASSES)
        self.stack.append((tag, skip))
        if tag in ("td", "th") and "".join(self.buf).strip():
            self.buf.append(" | ")  # a table row is one line, its cells separated by bars
        if tag in _BLOCK_TAGS and not self._skipping() and self.tag != "pre" and not self._in_row():
            self.flush()
            self.tag = tag if tag in ("h1", "h2", "h3", "h4", "li", "pre") else "p"

    def handle_endtag(self, tag):
        if tag in _VOID_TAGS or tag not in (t for t, _ in self.stack):
            return
        while self.stack:  # HTML often leaves <p> and <li> open: close up to the matching tag
            skipping = self._skipping()
            open_tag, _ = self.stack.pop()
            if open_tag in _BLOCK_TAGS and not skipping and not self._in_row():
                self.flush()
                self.tag = "p"
            if self.main_class and self.in_main and len(self.stack) == self.main_depth:
                self.in_main = False
            if open_tag == tag:
                break

    def handle_data(self, data):
        if not self._skipping():
            self.buf.append(data)


def html_blocks(path: Path, main_class: str | None = None) -> list[Block]:
    """The headings, paragraphs, list items and preformatted blocks of an HTML page, in order.

    ``main_class``: only the element with this class counts (Sphinx's "body"); navigation, scripts
    and sidebars are skipped either way.
    """
    parser = _Blocks(main_class)
    parser.feed(read_text(path))
    parser.close()
    parser.flush()
    return parser.blocks


_ITEM = re.compile(r"^(\d+[.)]|[ivx]{1,5}\.|[a-h]\.|[-*o\u2022]|\(?[a-z0-9]{1,3}\))\s+\S")
# a line ending in one of these words goes on in the next line: it is no heading
_GLUE = {"a", "an", "the", "of", "in", "on", "to", "and", "or", "for", "with", "by", "as", "at", "from", "that",
         "is", "are", "be", "its", "their", "this", "these", "not", "than", "which", "when", "if", "into", "do",
         "like", "run"}


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _heading(head: str, body: str, width: int) -> bool:
    """Whether an item's first line is its heading: it stops well short of the text's width, ends no
    sentence nor clause, and its deeper-indented body starts a new sentence."""
    return (len(head) < 0.8 * width and _indent(body) > _indent(head) and body.lstrip()[0].isupper()
            and not head.endswith((".", ",", ";", ":")) and head.count("(") == head.count(")")
            and head.split()[-1].lower() not in _GLUE)


def _items(lines: list[str]) -> list[Block]:
    """A paragraph's blocks: cut where a numbered or bulleted item starts at the items' margin."""
    marks = [_indent(ln) for ln in lines if _ITEM.match(ln.lstrip())]
    margin = min(marks) if marks else -1
    items: list[list[str]] = []
    for ln in lines:
        if not items or (_ITEM.match(ln.lstrip()) and _indent(ln) <= margin + 3):  # "10.", "iv." right-aligned
            items.append([ln])
        else:
            items[-1].append(ln)
    width = max(len(ln) for ln in lines)
    blocks: list[Block] = []
    for item in items:
        if len(item) > 1 and _heading(item[0], item[1], width):
            blocks.append(("h4", item[0].strip()))
            item = item[1:]
        blocks.append(("p", " ".join(ln.strip() for ln in item)))
    return blocks


def _preformatted(lines: list[str], margin: int) -> bool:
    """Code, tables and mail headers: aligned columns, indented code, or "Key: value" lines."""
    return (any(re.search(r"\S {3,}\S", ln) for ln in lines)
            or (margin >= 4 and any(re.search(r"[{};=<>$]", ln) for ln in lines))
            or (len(lines) > 1 and all(re.match(r"[A-Z][\w-]*: ", ln) for ln in lines)))


def _title(line: str) -> bool:
    """A one-line paragraph that is a heading: capitals, a numbered title, or a few words ending no sentence."""
    if len(line) >= 70 or line.endswith((".", ",", ";", ":", "!", "?")):
        return False
    return (line.isupper() or bool(re.match(r"^(\d+(\.\d+)*\.?|[A-Z]\.)\s+[A-Z]", line))
            or (bool(re.match(r"^\.?[A-Z][^.,:;]*$", line)) and len(line.split()) <= 8  # ".Title": AsciiDoc
                and line.split()[-1].lower() not in _GLUE))


def text_blocks(text: str) -> list[Block]:
    """Paragraphs of a plain text (also Markdown and AsciiDoc): blank-line separated; headings, list items,
    and preformatted code and tables."""
    blocks: list[Block] = []
    text = re.sub(r"(?m)^\s*[_=*~-]{4,}\s*$", "", text.replace("\f", "\n").replace("\xa0", " ").expandtabs())
    for para in re.split(r"\n\s*\n", text):
        lines = [ln.rstrip() for ln in para.splitlines() if ln.strip()]
        if not lines:
            continue
        margin = min(_indent(ln) for ln in lines)
        lines = [ln[margin:] for ln in lines]
        if lines[0].startswith("```"):  # Markdown code
            blocks.append(("pre", "\n".join(ln for ln in lines if not ln.startswith("```"))))
        elif len(lines) == 1 and re.match(r"(#{1,4}|={1,5}) ", lines[0]):  # Markdown or AsciiDoc heading
            mark = lines[0].split()[0]
            blocks.append((f"h{min(len(mark) + (mark[0] == '#'), 4)}", lines[0][len(mark):].strip()))
        elif _preformatted(lines, margin):
            blocks.append(("pre", "\n".join(lines)))
        elif len(lines) == 1 and _title(lines[0]):
            blocks.append(("h3", lines[0].removeprefix(".")))
        else:
            blocks.extend(_items(lines))
    return blocks


def excerpt(blocks: list[Block], start: str | None = None, end: str | None = None) -> list[Block]:
    """The blocks from the first whose text starts with ``start`` up to (not including) the last whose text
    starts with ``end``."""
    i = next((n for n, (_, t) in enumerate(blocks) if t.startswith(start)), None) if start else 0
    if i is None:
        raise ValueError(f"no block starts with {start!r}")
    # the last match: a table of contents lists the same heading earlier
    ends = [n for n, (_, t) in enumerate(blocks) if n > i and end and t.startswith(end)]
    j = (ends[-1] if ends else None) if end else len(blocks)
    if j is None:
        raise ValueError(f"no block after {start!r} starts with {end!r}")
    return blocks[i:j]
