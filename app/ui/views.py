"""What several panels refresh after an event: the document list, the open chat, the status line.

Each function reads the core and returns Gradio updates; errors become inline text or gr.Error.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import gradio as gr

from app.api import DocLoRA, Document
from app.errors import DocLoRAError, DocumentNotFoundError
from app.ui.errors import user_error
from app.ui.format import chat_messages, document_choice, status_html

EMPTY_LIBRARY = "No documents yet: drop a PDF anywhere in the window."
EXPORT_PREFIX = "doclora-export-"
# Gradio copies a returned file into its own cache at once; older export folders are leftovers.
EXPORT_MAX_AGE_S = 3600


def find_document(core: DocLoRA, doc_id: int | None) -> Document | None:
    """The selected document, or None when none is selected or it was removed."""
    if doc_id is None:
        return None
    try:
        return core.get(doc_id)  # an int, or text a client made up: resolved either way
    except DocumentNotFoundError:
        return None


def document_list(core: DocLoRA, search: str | None, selected: int | None) -> gr.Radio:
    """The sidebar list (filtered by ``search``), with the selected document marked."""
    try:
        docs = core.documents((search or "").strip() or None)
    except DocLoRAError as exc:
        return gr.Radio(choices=[], value=None, label="Documents", info=str(exc))
    ids = {d.id for d in docs}
    if docs:
        info = None
    elif (search or "").strip():
        info = "No document matches the search."
    else:
        info = EMPTY_LIBRARY
    return gr.Radio(choices=[document_choice(d) for d in docs],
                    value=selected if selected in ids else None,
                    label=f"Documents · {len(docs)}", info=info)


def status_line(core: DocLoRA, doc: Document | None) -> str:
    """The status line for the open document (or the base model)."""
    try:
        return status_html(core.status(doc.id if doc else None), doc)
    except DocLoRAError as exc:
        return status_html(None, None, error=str(exc))


def chat_history(core: DocLoRA, doc: Document | None) -> list[dict]:
    """The open document's stored chat as chatbot messages."""
    try:
        return chat_messages(core.history(doc.id if doc else None), doc is not None)
    except DocLoRAError as exc:
        raise user_error(exc) from exc


def export_file(core: DocLoRA, doc_id: int, format: str) -> str:
    """Export to a fresh temp folder (where Gradio may serve it); a PEFT folder is zipped.

    Export folders older than EXPORT_MAX_AGE_S are removed first, and a failed export's at once.
    """
    remove_old_exports()
    out = Path(tempfile.mkdtemp(prefix=EXPORT_PREFIX))
    try:
        path = core.export(doc_id, format, out)
        if path.is_dir():
            path = Path(shutil.make_archive(str(path), "zip", root_dir=path))
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    return str(path)


def served_url(block: gr.components.Component, path: str | Path) -> str:
    """A URL (relative to the window's page) at which the window serves a copy of ``path``:
    the copy is in ``block``'s Gradio cache, which Gradio cleans like its other files."""
    cached = block.move_resource_to_block_cache(str(path))
    return f"gradio_api/file={quote(cached)}"


def remove_old_exports(max_age_s: float = EXPORT_MAX_AGE_S) -> None:
    """Delete this app's temporary export folders older than ``max_age_s``."""
    cutoff = time.time() - max_age_s
    for folder in Path(tempfile.gettempdir()).glob(EXPORT_PREFIX + "*"):
        try:
            old = folder.is_dir() and folder.stat().st_mtime < cutoff
        except OSError:
            continue  # removed meanwhile by another window
        if old:
            shutil.rmtree(folder, ignore_errors=True)
