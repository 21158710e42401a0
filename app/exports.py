"""Exports of a document: its adapter as GGUF or PEFT, or its chat as Markdown."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

from app.errors import DocumentNotReadyError, ExportError
from app.library import Library
from app.records import Document

FORMATS = ("gguf", "peft", "markdown")


def default_name(doc: Document, format: str) -> str:
    """File (or folder, for peft) name for an export of ``doc``."""
    stem = re.sub(r"[^\w.-]+", "_", doc.title).strip("_") or f"document-{doc.id}"
    return {"gguf": f"{stem}.lora.gguf", "peft": f"{stem}-peft", "markdown": f"{stem}.chat.md"}[format]


def export(library: Library, doc: Document, format: str, out: Path | None) -> Path:
    """Write the export to ``out`` (a folder or a path; default: the current folder)."""
    if format not in FORMATS:
        raise ExportError(f"Unknown export format '{format}'; use one of {', '.join(FORMATS)}.")
    target = Path(out) if out is not None else Path.cwd()
    if target.is_dir():
        target = target / default_name(doc, format)
    if not target.parent.is_dir():
        raise ExportError(f"The folder {target.parent} does not exist; create it or pick another.")
    if format == "markdown":
        _write_atomic(target, chat_markdown(library, doc).encode())
        return target
    if doc.adapter is None or not Path(doc.adapter.file).is_file():
        raise DocumentNotReadyError(f"'{doc.title}' has no adapter for the active model to export; "
                                    "add the file again first.")
    if format == "gguf":
        _write_atomic(target, Path(doc.adapter.file).read_bytes())
        return target
    return _export_peft(doc, target)


def chat_markdown(library: Library, doc: Document) -> str:
    """The document's chat as Markdown, with each answer's supporting pages."""
    lines = [f"# {doc.title}", "", f"Chat with `{doc.file_name}` ({doc.pages} pages).", ""]
    for m in library.history(doc.id):
        who = "**You:**" if m.role == "user" else "**DocLoRA:**"
        lines += [f"{who} {m.content}", ""]
        for s in m.sources:
            lines.append(f"> p. {s.page}: {s.snippet}")
        if m.sources:
            lines.append("")
    return "\n".join(lines)


def _export_peft(doc: Document, target: Path) -> Path:
    from hypernet import DocumentAdapter
    if target.exists():
        raise ExportError(f"{target} already exists; remove it or choose another folder.")
    tmp = Path(tempfile.mkdtemp(prefix=".peft-", dir=target.parent))
    try:
        DocumentAdapter.load(doc.adapter.peft_file).save_peft(tmp)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _write_atomic(target: Path, data: bytes) -> None:
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
