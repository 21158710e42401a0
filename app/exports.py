"""Exports of a document: its adapter as GGUF or PEFT, or its chat as Markdown."""

from __future__ import annotations

import os
import re
from pathlib import Path

from app.errors import DiskFullError, DocumentNotReadyError, ExportError, is_disk_full
from app.library import Library
from app.paths import home_dir
from app.records import MATCHES_TITLE, NO_SUPPORT, SUPPORT_TITLE, Document
from converters.files import atomic_write

# The export formats, with what the window calls them (it offers the PEFT folder as a zip).
FORMATS = {"gguf": "GGUF adapter", "peft": "PEFT adapter (zip)", "markdown": "Chat as Markdown"}


def default_name(doc: Document, format: str) -> str:
    """File (or folder, for peft) name for an export of ``doc``."""
    stem = re.sub(r"[^\w.-]+", "_", doc.title).strip("_") or f"document-{doc.id}"
    return {"gguf": f"{stem}.lora.gguf", "peft": f"{stem}-peft", "markdown": f"{stem}.chat.md"}[format]


def target_path(doc: Document, format: str, out: str | Path | None, force: bool = False) -> Path:
    """Where an export goes: ``out`` itself, or its default name inside ``out`` when that is a
    folder or ends with a slash (created if missing). Never inside the library's folder, and never
    over an existing file unless ``force``."""
    text = str(out) if out is not None else ""
    folder_meant = not text or text.endswith(("/", os.sep)) or Path(text).is_dir()
    base = Path(text).expanduser() if text else Path.cwd()
    target = base / default_name(doc, format) if folder_meant else base
    home = home_dir().resolve()
    where = target.parent.resolve() / target.name
    if where == home or home in where.parents:
        raise ExportError(f"{target} is inside the library folder {home}; export somewhere else.")
    if folder_meant and text:
        try:
            base.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ExportError(f"The folder {base} cannot be created ({exc.strerror}); "
                              "pick another.") from exc
    if not target.parent.is_dir():
        raise ExportError(f"The folder {target.parent} does not exist; create it or pick another.")
    exists = target.exists() or target.is_symlink()
    if exists and target.is_dir() and format != "peft":
        raise ExportError(f"{target} is a folder; remove it or choose another name.")
    if exists and (format == "peft" or not force):
        hint = "remove it or choose another name" if format == "peft" else \
            "add --force to overwrite it, or choose another name"
        raise ExportError(f"{target} already exists; {hint}.")
    return target


def export(library: Library, doc: Document, format: str, out: str | Path | None,
           force: bool = False) -> Path:
    """Write the export to ``out`` (see ``target_path``; default: the current folder)."""
    if format not in FORMATS:
        raise ExportError(f"Unknown export format '{format}'; use one of {', '.join(FORMATS)}.")
    target = target_path(doc, format, out, force)
    if format == "markdown":
        text = chat_markdown(library, doc)
        return _write_atomic(target, lambda tmp: tmp.write_bytes(text.encode()), force)
    if doc.adapter is None or not Path(doc.adapter.file).is_file():
        raise DocumentNotReadyError(f"'{doc.title}' has no adapter for the active model to export; "
                                    "add the file again first.")
    if format == "gguf":
        data = Path(doc.adapter.file).read_bytes()
        return _write_atomic(target, lambda tmp: tmp.write_bytes(data), force)
    return _export_peft(doc, target)


def scale_note(kind: str, scale: float, path: Path) -> str:
    """How to use an exported adapter as DocLoRA does ("" when its document's kind is applied at 1)."""
    if scale == 1.0:
        return ""
    reads = f"its document reads as {'' if kind == 'prose' else 'a '}{kind}"
    if scale == 0.0:
        return (f"Note: DocLoRA does not apply this adapter ({reads}, where the model's adapters do not help); "
                "its answers come from the model alone, checked against the document's pages.")
    how = f"; with llama.cpp: --lora-scaled {path} {scale:g}" if path.suffix == ".gguf" else ""
    return f"Note: DocLoRA applies this adapter at scale {scale:g} ({reads}){how}."


def chat_markdown(library: Library, doc: Document) -> str:
    """The document's chat as Markdown, with the pages that hold each answer (or, when none does,
    a sentence saying so and the pages that match the question)."""
    lines = [f"# {doc.title}", "", f"Chat with `{doc.file_name}` ({doc.pages} pages).", ""]
    for m in library.history(doc.id):
        who = "**You:**" if m.role == "user" else "**DocLoRA:**"
        lines += [f"{who} {m.content}", ""]
        if m.role != "assistant":
            continue
        held = [s for s in m.sources if s.supports]
        if not held:
            lines.append(f"> {NO_SUPPORT}")
        if m.sources:
            lines.append(f"> {SUPPORT_TITLE if held else MATCHES_TITLE}:")
        lines += [f"> p. {s.page}: {s.snippet}" for s in held or m.sources]
        lines.append("")
    return "\n".join(lines)


def _export_peft(doc: Document, target: Path) -> Path:
    from hypernet import DocumentAdapter
    adapter = DocumentAdapter.load(doc.adapter.peft_file)
    return _write_atomic(target, adapter.save_peft, force=False,
                         hint="remove it or choose another folder")


def _write_atomic(target: Path, write, force: bool,
                  hint: str = "add --force to overwrite it, or choose another name") -> Path:
    """``write(tmp)`` beside ``target``, then into place; without ``force`` it never replaces a
    file that appeared meanwhile."""
    try:
        return atomic_write(target, write, replace=force)
    except FileExistsError as exc:
        raise ExportError(f"{target} already exists; {hint}.") from exc
    except OSError as exc:
        if is_disk_full(exc):
            raise DiskFullError(f"The disk holding {target.parent} is full; nothing was exported. "
                                "Free some space and try again.") from exc
        raise ExportError(f"{target} cannot be written ({exc.strerror or exc}); "
                          "pick another place.") from exc
