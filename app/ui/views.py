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
from app.ui.format import as_text, chat_messages, document_choice, expectation_html, status_html

EMPTY_LIBRARY = "No documents yet: drop a PDF anywhere in the window."
NO_DOCUMENT_CHAT = ("**Chat with a document**\n\nDrop a PDF anywhere in the window, pick it in "
                    "the library, and ask. Without a document you talk to the base model.")
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


def document_list(core: DocLoRA, search: str | None, selected: int | None,
                  keep_mark: bool = False) -> gr.Radio:
    """The sidebar list (filtered by ``search``), with the selected document marked; with
    ``keep_mark``, the mark is left as the browser has it (a poll that started before the user
    picked a document must not take the pick back when it answers)."""
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
    shown = dict(choices=[document_choice(d) for d in docs], label=f"Documents · {len(docs)}",
                 info=info)
    if keep_mark and selected in ids | {None}:
        return gr.Radio(**shown)
    return gr.Radio(**shown, value=selected if selected in ids else None)


def status_line(core: DocLoRA, doc: Document | None) -> str:
    """The status line for the open document (or the base model)."""
    try:
        return status_html(core.status(doc.id if doc else None), doc)
    except DocLoRAError as exc:
        return status_html(None, None, error=str(exc))


def chat_view(core: DocLoRA, doc: Document | None) -> gr.Chatbot:
    """The chat of ``doc`` (None: the no-document chat). An empty chat with a document shows its
    title and pages and offers three questions drawn from it (clicking one asks it)."""
    history = chat_history(core, doc)
    if doc is None or history:
        return gr.Chatbot(value=history, placeholder=NO_DOCUMENT_CHAT, examples=None)
    try:
        questions = core.suggestions(doc.id)
    except DocLoRAError:
        questions = []  # the document went meanwhile; the placeholder still names it
    pages = f"{doc.pages} page{'s' if doc.pages != 1 else ''}"
    intro = f"**{as_text(doc.title)}** · {pages}\n\n" + (
        "Ask anything about it, or start with one of these:" if questions else
        "Ask anything about it.")
    return gr.Chatbot(value=[], placeholder=intro,
                      examples=[{"text": q} for q in questions] or None)


def single_view(core: DocLoRA, doc_id: int | None) -> tuple:
    """The chat and the status line of the library's document (None: the base model)."""
    doc = find_document(core, doc_id)
    return chat_view(core, doc), status_line(core, doc)


def several_view(core: DocLoRA, docs: list[Document], talk: list[dict] | None) -> tuple:
    """The chat with several documents (this session's, ``talk``) and a status line naming them."""
    titles = ", ".join(as_text(d.title) for d in docs)
    chat = gr.Chatbot(value=list(talk or []), examples=None,
                      placeholder=f"**{len(docs)} documents together**\n\n{titles}\n\n"
                                  "Questions go to all of them.")
    try:
        status = status_html(core.status(), None, several=docs)
    except DocLoRAError as exc:
        status = status_html(None, None, error=str(exc))
    return chat, status


def expectation_line(core: DocLoRA) -> str:
    """What the active pair can and cannot do, and the pair to pull for stronger answers."""
    from app.models import stronger_pair
    try:
        stronger = stronger_pair(core.library, core.pair)
        return expectation_html(core.status(), stronger and (stronger.name,
                                                              stronger.facts.download_gb))
    except DocLoRAError:
        return ""  # the status line says what is wrong with the pair


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
