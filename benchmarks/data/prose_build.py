"""Rebuild the prose evaluation set's PDFs and manifest from the Debian packages they come from.

Every document of ``benchmarks/data/prose`` is listed in ``SOURCES``: its Debian package, the
file that package installs, the excerpt taken (first and last headings) and how it becomes a PDF
(HTML and text pages are laid out in a proportional font; real PDFs are copied as installed).
The questions (``questions.jsonl``) were written by reading these PDFs; this script never
touches them. It writes ``manifest.json`` (with word and token counts) and ``holdout.json``
(every package and installed path the set uses, for training to exclude).

  python benchmarks/data/prose_build.py                 # after `apt-get update`
  python benchmarks/data/prose_build.py --only bsd-licence --text   # print a document's text
"""

from __future__ import annotations

import argparse
import functools
import html
import io
import itertools
import json
import re
import shutil
import sys
import tempfile
import unicodedata
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from benchmarks.data.debian import (Block, excerpt, html_blocks, package_root, package_version,  # noqa: E402
                                    read_text, text_blocks)
from converters.files import atomic_write  # noqa: E402

PROSE_DIR = Path(__file__).resolve().parent / "prose"
TOKENIZER_DIR = REPO / "assets" / "smollm2-135m" / "base"
CHUNK_TOKENS = 512  # the smollm2-135m pair's chunk (its hypernet config's chunk_tokens)
GENRES = ("prose", "licence", "specification", "manual", "paper")


@dataclass(frozen=True)
class Source:
    """One document: where its text comes from and what it is."""

    id: str
    title: str
    genre: str
    package: str
    path: str  # as installed (the package's file)
    licence: str
    fmt: str = "text"  # text | html | sphinx (Python's documentation) | pdf (copied as installed)
    start: str | None = None  # the excerpt's first block starts with this (None: the beginning)
    end: str | None = None  # the excerpt stops before the block starting with this (None: the end)
    page_range: tuple[int, int] | None = None  # a real PDF's first and last page kept (1-based; None: all)


_LIC = "/usr/share/common-licenses/"
_SQL = "/usr/share/doc/sqlite3/"
_PY = "/usr/share/doc/python3.11/html/"
_GIT = "/usr/share/doc/git/html/"
_DEB = "/usr/share/doc/debian/"
_POL = "/usr/share/doc/debian-policy/"
_R = "/usr/lib/R/site-library/"
SQLITE_PD = "public domain (SQLite documentation)"
PSF = "PSF License Agreement (Python documentation)"
GIT = "GPL-2 (Git documentation)"
DEBIAN_DOC = "GPL-2+ (doc-debian)"
POLICY = "GPL-2+ (debian-policy)"
VERBATIM = "verbatim copying permitted (licence text)"
ZOO = "GPL-2 | GPL-3 (zoo)"

SOURCES: tuple[Source, ...] = (
    # licences and policies
    Source("bsd-licence", "BSD License (University of California)", "licence", "base-files", _LIC + "BSD", VERBATIM),
    Source("cc0", "Creative Commons CC0 1.0 Universal", "licence", "base-files", _LIC + "CC0-1.0",
           "CC0-1.0 (public domain dedication)"),
    Source("mpl-2", "Mozilla Public License Version 2.0", "licence", "base-files", _LIC + "MPL-2.0", VERBATIM),
    Source("artistic", "The \"Artistic License\"", "licence", "base-files", _LIC + "Artistic", VERBATIM),
    Source("lgpl-3", "GNU Lesser General Public License, version 3", "licence", "base-files", _LIC + "LGPL-3",
           VERBATIM),
    Source("social-contract", "Debian Social Contract", "licence", "doc-debian", _DEB + "social-contract.txt.gz",
           DEBIAN_DOC),
    Source("sqlite-copyright", "SQLite Copyright", "licence", "sqlite3-doc", _SQL + "copyright.html", SQLITE_PD,
           "html"),
    Source("sqlite-copyright-release", "SQLite copyright release form", "licence", "sqlite3-doc",
           _SQL + "copyright-release.pdf", SQLITE_PD, "pdf"),
    Source("sqlite-ethics", "SQLite Code of Ethics", "licence", "sqlite3-doc", _SQL + "codeofethics.html",
           SQLITE_PD, "html"),
    Source("python-license", "Python: History and License", "licence", "python3.11-doc", _PY + "license.html",
           PSF, "sphinx", end="Licenses and Acknowledgements for Incorporated Software"),
    Source("debian-constitution", "Constitution for the Debian Project (v1.9)", "licence", "doc-debian",
           _DEB + "constitution.txt.gz", DEBIAN_DOC, end="6. Technical committee"),
    Source("zlib-copyright", "zlib copyright and licence (Debian)", "licence", "zlib1g",
           "/usr/share/doc/zlib1g/copyright", "Zlib", start="Files: *"),
    # specifications and standards
    Source("debconf-namespace", "The debconf namespace", "specification", "debconf-doc",
           "/usr/share/doc/debconf/namespace.txt", "BSD-2-Clause (debconf)"),
    Source("debconf-spec", "The Debconf Specification", "specification", "debian-policy",
           _POL + "debconf_specification.txt.gz", POLICY),
    Source("menu-policy", "The Debian Menu sub-policy", "specification", "debian-policy",
           _POL + "menu-policy.txt.gz", POLICY),
    Source("git-repository-version", "Git repository format versions", "specification", "git-doc",
           _GIT + "technical/repository-version.txt", GIT),
    Source("git-long-running-process", "Long-running process protocol", "specification", "git-doc",
           _GIT + "technical/long-running-process-protocol.txt", GIT),
    Source("git-shallow", "Shallow commits", "specification", "git-doc", _GIT + "technical/shallow.txt", GIT),
    Source("sqlite-datatypes", "Datatypes In SQLite", "specification", "sqlite3-doc", _SQL + "datatype3.html",
           SQLITE_PD, "html", end="4. Comparison Expressions"),
    Source("copyright-format", "Machine-readable debian/copyright file, version 1.0", "specification",
           "debian-policy", _POL + "copyright-format-1.0.txt.gz", POLICY, end="8. Examples"),
    Source("git-bitmap-format", "GIT bitmap v1 format", "specification", "git-doc",
           _GIT + "technical/bitmap-format.txt", GIT),
    # user manuals, READMEs and FAQs
    Source("git-daemon-howto", "How to use git-daemon", "manual", "git-doc", _GIT + "howto/use-git-daemon.txt", GIT,
           start="How to use git-daemon"),
    Source("git-recover-blob", "How to recover a corrupted blob object", "manual", "git-doc",
           _GIT + "howto/recover-corrupted-blob-object.txt", GIT),
    Source("python-argparse", "Argparse Tutorial", "manual", "python3.11-doc", _PY + "howto/argparse.html", PSF,
           "sphinx"),
    Source("python-sorting", "Sorting HOW TO", "manual", "python3.11-doc", _PY + "howto/sorting.html", PSF,
           "sphinx"),
    Source("bug-reporting", "How to report a bug in Debian", "manual", "doc-debian",
           _DEB + "bug-reporting.txt.gz", DEBIAN_DOC),
    Source("bug-log-access", "Accessing the Debian bug tracking system logs", "manual", "doc-debian",
           _DEB + "bug-log-access.txt", DEBIAN_DOC),
    Source("shared-mime-readme", "shared-mime-info README", "manual", "shared-mime-info",
           "/usr/share/doc/shared-mime-info/README.md", "GPL-2+ (shared-mime-info)"),
    Source("etags-readme", "ETAGS.README", "manual", "emacs-common", "/usr/share/emacs/28.2/etc/ETAGS.README",
           "GPL-3+ (Emacs)"),
    Source("debconf-passthrough", "The debconf passthrough frontend", "manual", "debconf-doc",
           "/usr/share/doc/debconf/passthrough.txt.gz", "BSD-2-Clause (debconf)"),
    Source("python-interpreter", "Using the Python Interpreter", "manual", "python3.11-doc",
           _PY + "tutorial/interpreter.html", PSF, "sphinx"),
    Source("python-faq-general", "General Python FAQ", "manual", "python3.11-doc", _PY + "faq/general.html", PSF,
           "sphinx"),
    Source("zoo-faq", "zoo FAQ", "manual", "r-cran-zoo", _R + "zoo/doc/zoo-faq.pdf", ZOO, "pdf", page_range=(1, 7)),
    Source("sqlite-support", "SQLite Support Options", "manual", "sqlite3-doc", _SQL + "support.html", SQLITE_PD,
           "html"),
    Source("python-about", "About these documents", "manual", "python3.11-doc", _PY + "about.html", PSF, "sphinx"),
    Source("source-unpack", "How to unpack a Debian source package", "manual", "doc-debian",
           _DEB + "source-unpack.txt", DEBIAN_DOC),
    # prose: articles and book chapters
    Source("sqlite-crew", "SQLite Developers", "prose", "sqlite3-doc", _SQL + "crew.html", SQLITE_PD, "html"),
    Source("sqlite-zeroconf", "SQLite Is A Zero-Configuration Database", "prose", "sqlite3-doc",
           _SQL + "zeroconf.html", SQLITE_PD, "html"),
    Source("sqlite-selfcontained", "SQLite is a Self Contained System", "prose", "sqlite3-doc",
           _SQL + "selfcontained.html", SQLITE_PD, "html"),
    Source("sqlite-serverless", "SQLite Is Serverless", "prose", "sqlite3-doc", _SQL + "serverless.html",
           SQLITE_PD, "html"),
    Source("sqlite-whyc", "Why Is SQLite Coded In C", "prose", "sqlite3-doc", _SQL + "whyc.html", SQLITE_PD, "html"),
    Source("sqlite-whentouse", "Appropriate Uses For SQLite", "prose", "sqlite3-doc", _SQL + "whentouse.html",
           SQLITE_PD, "html"),
    Source("sqlite-mostdeployed", "Most Widely Deployed SQL Database Engine", "prose", "sqlite3-doc",
           _SQL + "mostdeployed.html", SQLITE_PD, "html"),
    Source("sqlite-hirely", "High Reliability", "prose", "sqlite3-doc", _SQL + "hirely.html",
           SQLITE_PD, "html"),
    Source("debian-manifesto", "The Debian Manifesto", "prose", "doc-debian", _DEB + "debian-manifesto.gz",
           DEBIAN_DOC),
    Source("python-appetite", "Whetting Your Appetite", "prose", "python3.11-doc", _PY + "tutorial/appetite.html",
           PSF, "sphinx"),
    Source("git-racy", "Use of index and Racy Git problem", "prose", "git-doc", _GIT + "technical/racy-git.txt", GIT),
    Source("emacs-future-bug", "Future bug report", "prose", "emacs-common", "/usr/share/emacs/28.2/etc/future-bug",
           "GPL-3+ (Emacs)"),
    # academic-style papers
    Source("zoo-paper", "zoo: An S3 Class and Methods for Indexed Totally Ordered Observations", "paper",
           "r-cran-zoo", _R + "zoo/doc/zoo.pdf", ZOO, "pdf", page_range=(1, 6)),
    Source("zoo-design", "zoo Design", "paper", "r-cran-zoo", _R + "zoo/doc/zoo-design.pdf", ZOO, "pdf"),
    Source("lmtest-intro", "Diagnostic Checking in Regression Relationships", "paper", "r-cran-lmtest",
           _R + "lmtest/doc/lmtest-intro.pdf", "GPL-2 | GPL-3 (lmtest)", "pdf"),
    Source("sandwich-paper", "Econometric Computing with HC and HAC Covariance Matrix Estimators", "paper",
           "r-cran-sandwich", _R + "sandwich/doc/sandwich.pdf", "GPL-2 | GPL-3 (sandwich)", "pdf", page_range=(1, 6)),
    Source("strucchange-intro", "strucchange: An R Package for Testing for Structural Change", "paper",
           "r-cran-strucchange", _R + "strucchange/doc/strucchange-intro.pdf", "GPL-2 | GPL-3 (strucchange)", "pdf",
           page_range=(1, 6)),
    Source("sqlite-fasterthanfs", "35% Faster Than The Filesystem", "paper", "sqlite3-doc", _SQL + "fasterthanfs.html",
           SQLITE_PD, "html"),
    Source("git-hash-transition", "Git hash function transition", "paper", "git-doc",
           _GIT + "technical/hash-function-transition.txt", GIT, end="Loose objects and unreachable objects"),
)

CSS = """
* {font-family: sans-serif; font-size: 10.5pt; line-height: 1.35;}
h1 {font-size: 17pt; margin-bottom: 10pt;} h2 {font-size: 14pt;} h3 {font-size: 12pt;} h4 {font-size: 11pt;}
h2, h3, h4 {margin-top: 10pt; margin-bottom: 4pt;}
p {margin-top: 0; margin-bottom: 6pt; text-align: justify;}
li {margin-bottom: 3pt;}
pre {font-family: monospace; font-size: 8.5pt; margin-bottom: 6pt;}
"""


def blocks(src: Source, root: Path) -> list[Block]:
    """The document's blocks (text and HTML sources), cut to its excerpt."""
    path = root / src.path.lstrip("/")
    if src.fmt == "html":
        got = html_blocks(path)
    elif src.fmt == "sphinx":
        got = html_blocks(path, main_class="body")
    else:
        got = text_blocks(read_text(path))
    return excerpt(got, src.start, src.end)


def layout_pdf(doc_blocks: list[Block], title: str, path: Path) -> Path:
    """An A4 PDF of the blocks in a proportional font (headings, paragraphs, code), with its title."""
    import pymupdf

    if not any(title.lower() in text.lower() for _, text in doc_blocks[:3]):
        doc_blocks = [("h1", title), *doc_blocks]
    parts = []
    for items, run in itertools.groupby(doc_blocks, key=lambda block: block[0] == "li"):  # a list: one <ul>
        run_html = "".join(f"<{tag}>{html.escape(text)}</{tag}>" for tag, text in run)
        parts.append(f"<ul>{run_html}</ul>" if items else run_html)
    story = pymupdf.Story(html=f"<body>{''.join(parts)}</body>", user_css=CSS)
    draft = io.BytesIO()
    writer = pymupdf.DocumentWriter(draft)
    page, more = pymupdf.paper_rect("a4"), True
    while more:
        dev = writer.begin_page(page)
        more, _ = story.place(page + (60, 60, -60, -60))
        story.draw(dev)
        writer.end_page()
    writer.close()
    with pymupdf.open("pdf", draft.getvalue()) as doc:  # the title a PDF viewer shows, no dates: the same bytes on every build
        doc.set_metadata({"title": title, "producer": "DocLoRA benchmarks/data/prose_build.py"})
        return atomic_write(path, lambda tmp: doc.save(str(tmp), garbage=3, deflate=True, no_new_id=True))


def copy_pdf(source: Path, target: Path, pages: tuple[int, int] | None) -> Path:
    """The installed PDF as it is, or only its pages ``pages`` (first, last; 1-based)."""
    import pymupdf

    if pages is None:
        return atomic_write(target, lambda tmp: shutil.copyfile(source, tmp))
    with pymupdf.open(source) as doc:
        doc.select(list(range(pages[0] - 1, pages[1])))
        return atomic_write(target, lambda tmp: doc.save(str(tmp), garbage=3, deflate=True, no_new_id=True))


def document_text(path: Path) -> str:
    """The text the product extracts from the PDF (what the questions are asked about)."""
    from converters.pdf import pdf_to_text

    return pdf_to_text(path).text


@functools.cache
def _tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(TOKENIZER_DIR)


def counts(text: str) -> dict:
    """Words, tokens and the product's 512-token chunks (the smollm2-135m pair's tokenizer), when it is built."""
    out = {"words": len(text.split()), "tokens": None, "chunks": None}
    if not (TOKENIZER_DIR / "tokenizer.json").exists():
        return out
    from hypernet.chunking import chunk_text

    tokenizer = _tokenizer()
    out["tokens"] = len(tokenizer(text, add_special_tokens=False)["input_ids"])
    out["chunks"] = len(chunk_text(tokenizer, text, CHUNK_TOKENS))
    return out


def build(sources: tuple[Source, ...], out: Path, cache: Path) -> list[dict]:
    """Every source's PDF in ``out``; returns the manifest entries."""
    import pymupdf

    entries = []
    for src in sources:
        root = package_root(src.package, cache)
        target = out / f"{src.id}.pdf"
        if src.fmt == "pdf":
            copy_pdf(root / src.path.lstrip("/"), target, src.page_range)
        else:
            layout_pdf(blocks(src, root), src.title, target)
        with pymupdf.open(target) as doc:
            pages = doc.page_count
        entry = {**asdict(src), "file": target.name, "version": package_version(src.package, cache),
                 "pages": pages, **counts(document_text(target))}
        entries.append(entry)
        print(f"{src.id:28s} {src.genre:13s} {entry['words']:6d} words {entry['tokens'] or '?':>6} tokens "
              f"{entry['chunks'] or '?':>3} chunks", flush=True)
    return entries


def write_json(path: Path, data) -> None:
    text = json.dumps(data, indent=1, ensure_ascii=False) + "\n"
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=PROSE_DIR)
    p.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "doclora-debian-packages")
    p.add_argument("--only", default=None, help="comma-separated document ids (no manifest is written)")
    p.add_argument("--text", action="store_true", help="print the documents' blocks instead of building")
    args = p.parse_args(argv)
    chosen = tuple(s for s in SOURCES if not args.only or s.id in args.only.split(","))
    if args.text:
        for src in chosen:
            root = package_root(src.package, args.cache)
            if src.fmt == "pdf":
                print(document_text(root / src.path.lstrip("/")))
                continue
            for tag, text in blocks(src, root):
                print(f"[{tag}] {text}")
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    entries = build(chosen, args.out, args.cache)
    if not args.only:
        write_json(args.out / "manifest.json", entries)
        write_json(args.out / "holdout.json", holdout(entries, args.out))
    return 0


def fingerprints(text: str, n: int = 3) -> list[str]:
    """Up to ``n`` sentences of 12-40 words from across the text (NFKC, whitespace collapsed): a copy of
    the text elsewhere (a licence quoted in another package's copyright file) contains them."""
    sentences = [" ".join(s.split()) for line in unicodedata.normalize("NFKC", text).splitlines()
                 for s in re.split(r"(?<=[.!?]) ", line)]  # within one line: a heading never joins a sentence
    sentences = [s for s in sentences if 12 <= len(s.split()) <= 40 and not re.search(r"\d{3}|://", s)
                 and not s.isupper()]  # capitals: a disclaimer that many licences share
    if len(sentences) <= n:
        return sentences
    return [sentences[round(i * (len(sentences) - 1) / (n - 1))] for i in range(n)]


# Held out besides the sources the sets use (training reads these keys, hypernet.train.docqa_recipe):
# packages that hold the same text or the facts asked (libtasn1-bin's asn1Parser manual page, the
# libtasn1 library package, the Debian FAQ and GNU standards downloaded alongside), every licence
# text, and Python's docstrings ("python:" sources), whose text Python's documentation repeats.
EXTRA_HOLDOUT = {"packages": ["debian-faq", "gnu-standards", "libtasn1-6", "libtasn1-bin"],
                 "paths": ["/usr/share/common-licenses/", "python:"]}


def holdout(entries: list[dict], out: Path) -> dict:
    """Every Debian package and installed path the evaluation sets use (prose and trio), and fingerprints
    of each document's text."""
    from benchmarks.data.trio import TRIO

    return {"about": "Training must read nothing from these Debian packages or installed paths, nor any text that "
                     "contains one of a document's fingerprints (compare after NFKC normalisation and collapsing "
                     "whitespace): they are the evaluation sets benchmarks/data/prose and benchmarks/data/trio.json.",
            "packages": sorted({e["package"] for e in entries} | {t.package for t in TRIO}
                               | set(EXTRA_HOLDOUT["packages"])),
            "paths": sorted({e["path"] for e in entries} | {t.path for t in TRIO} | set(EXTRA_HOLDOUT["paths"])),
            "fingerprints": {e["id"]: fingerprints(document_text(out / e["file"])) for e in entries}}


if __name__ == "__main__":
    sys.exit(main())
