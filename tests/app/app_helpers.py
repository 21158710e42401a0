"""Helpers of the app-core tests: PDFs, needle text, the library's state (tests/app is on
pytest's ``pythonpath``; the scripted engine and stand-in documents are in tests/conftest.py)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pymupdf

from app.library import Library
from app.paths import REPO_ROOT, demo_pair_dir, home_dir, library_db_path

QUESTION = "What is the special magic number? Reply with only the number."

# Ordinary prose written for these tests (so the demo model never saw it in training).
PROSE = [
    "The harbour town woke slowly on winter mornings. Fishermen checked their nets by lamplight "
    "while the bakery on the corner filled the street with the smell of warm bread.",
    "Most visitors came for the lighthouse, although few of them climbed all the way to the top. "
    "The keeper kept a small notebook of the ships that passed and the weather each day.",
    "In the afternoon the wind turned and the boats returned early. Children ran along the pier "
    "and the old men argued about the price of coal and the state of the roads.",
    "The library opened only on Tuesdays and Saturdays, and its single room smelled of dust and "
    "varnish. Nobody minded, because the librarian knew every book by heart.",
]


def needle_text(number: str, position: int = 2) -> str:
    """Prose with the needle sentence inserted after paragraph ``position``."""
    paragraphs = list(PROSE)
    paragraphs.insert(position, f"The special magic number is {number}.")
    return " ".join(paragraphs)


def make_pdf(path: Path, pages: list[str], password: str | None = None,
             title: str | None = None) -> Path:
    """A text PDF with one page per string (encrypted with ``password`` if given)."""
    doc = pymupdf.open()
    for text in pages:
        page = doc.new_page(width=595, height=842)
        page.insert_textbox(pymupdf.Rect(56, 56, 540, 800), text, fontsize=11)
    if title:
        doc.set_metadata({"title": title})
    options = {}
    if password:
        options = {"encryption": pymupdf.PDF_ENCRYPT_AES_256, "user_pw": password,
                   "owner_pw": password}
    doc.save(str(path), **options)
    doc.close()
    return path


def raw_pdf(path: Path, objects: list[str]) -> Path:
    """A PDF written byte by byte: object N+1 is ``objects[N]``, object 1 the catalog; for
    structures pymupdf would never write (a page tree with a cycle)."""
    data = b"%PDF-1.7\n"
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(data))
        data += f"{number} 0 obj\n{body}\nendobj\n".encode()
    xref = len(data)
    data += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    data += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    data += (f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n"
             "%%EOF\n").encode()
    path.write_bytes(data)
    return path


def one_line_pdf(path: Path, text: str, size: float = 12, kids: str = "3 0 R") -> Path:
    """A one-page PDF drawing ``text`` (ASCII) as one line in ``size`` point Helvetica;
    ``kids``: its page tree's kids."""
    stream = f"BT /F1 {size} Tf 20 720 Td ({text}) Tj ET"
    return raw_pdf(path, [
        "<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        "/Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"])


def make_cyclic_pdf(path: Path) -> Path:
    """A PDF with text whose page tree lists itself among its kids."""
    return one_line_pdf(path, "Hello cycle", kids="2 0 R 3 0 R")


def make_image_pdf(path: Path) -> Path:
    """A PDF whose only page is a drawing (no extractable text, like a scan)."""
    doc = pymupdf.open()
    page = doc.new_page()
    page.draw_rect(pymupdf.Rect(100, 100, 400, 400), color=(0, 0, 0), fill=(0.5, 0.5, 0.5))
    doc.save(str(path))
    doc.close()
    return path


def library_state() -> dict:
    """Everything a failed operation must leave unchanged: row counts, FTS rows, files."""
    Library.open().close()  # an empty home gets its (empty) schema first
    conn = sqlite3.connect(library_db_path())
    try:
        tables = ["documents", "pages", "pages_fts", "adapters", "chats", "messages", "models"]
        counts = {t: conn.execute(f"SELECT count(*) FROM [{t}]").fetchone()[0] for t in tables}
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
        fts = conn.execute("INSERT INTO pages_fts(pages_fts, rank) VALUES('integrity-check', 1)")
        fts.fetchall()
    finally:
        conn.close()
    files = sorted(str(p.relative_to(home_dir())) for p in home_dir().rglob("*")
                   if p.is_file() and not p.name.startswith("library.db"))
    return {"counts": counts, "integrity": integrity, "files": files}


def demo_ready() -> bool:
    """Whether the bundled demo pair has been built (assets/tiny-needle)."""
    root = demo_pair_dir()
    return (root / "model.gguf").is_file() and (root / "hypernet").exists()


def make_scanned_pdf(path: Path, text: str) -> Path:
    """A one-page PDF whose page is only a picture of ``text`` (a scan: no text layer)."""
    source = pymupdf.open()
    page = source.new_page(width=595, height=842)
    page.insert_textbox(pymupdf.Rect(56, 56, 540, 800), text, fontsize=14)
    picture = page.get_pixmap(dpi=200)
    source.close()
    doc = pymupdf.open()
    doc.new_page(width=595, height=842).insert_image(pymupdf.Rect(0, 0, 595, 842), pixmap=picture)
    doc.save(str(path))
    doc.close()
    return path


def doclora(*args: str, prelude: str = "", timeout: float = 300) -> subprocess.CompletedProcess:
    """``doclora ARGS`` in a process of its own on this test's library; ``prelude`` is Python
    it runs first (e.g. to kill itself at a chosen moment)."""
    code = f"{prelude}\nfrom app.cli import main\nmain()"
    return subprocess.run([sys.executable, "-c", code, *args], env=dict(os.environ),
                          capture_output=True, text=True, timeout=timeout, cwd=REPO_ROOT)


# Kills the process at its first file deletion outside a staging folder: for `rm`, right after
# its database commit, before any of the document's files (or compositions) are deleted.
KILL_AT_FIRST_DELETE = """
import os, pathlib, signal
_unlink = pathlib.Path.unlink
def _unlink_or_die(self, missing_ok=False):
    if ".staging" not in self.parts:
        os.kill(os.getpid(), signal.SIGKILL)
    return _unlink(self, missing_ok)
pathlib.Path.unlink = _unlink_or_die
"""


def unowned_files() -> list[str]:
    """The library's files (documents and adapters, compositions aside) that no row references
    and no running write has listed: what a race or a kill must never leave behind."""
    library = Library.open()
    try:
        owned = library.referenced_files()
    finally:
        library.close()
    home = home_dir()
    return sorted(str(p.relative_to(home)) for base in ("adapters", "documents")
                  for p in (home / base).rglob("*")
                  if p.is_file() and p not in owned and not {".staging", "composed"} & set(p.parts))
