"""The library sidebar: search, the document list, rename, export and delete (with confirmation)."""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import gradio as gr

from app.errors import DocLoRAError
from app.exports import FORMATS, scale_note
from app.ui.errors import user_error
from app.ui.chat_panel import SHOW_LAST_ANSWER
from app.ui.format import as_text, download_html
from app.ui.upload_panel import progress_updates
from app.ui.views import document_list, export_file, find_document, served_url

if TYPE_CHECKING:
    from app.ui.window import Window

EXPORT_FORMATS = [(label, name) for name, label in FORMATS.items()]


@dataclass
class LibraryPanel:
    search: gr.Textbox
    docs: gr.Radio
    no_document: gr.Button  # back to the no-document chat (the CLI's `ask -`)
    title: gr.Textbox
    rename: gr.Button
    export_format: gr.Dropdown
    export: gr.Button
    download: gr.HTML  # the export card: the file's name as its download link, and its size
    delete: gr.Button
    confirm_text: gr.Markdown
    confirm_delete: gr.Button
    cancel_delete: gr.Button

    @property
    def confirm(self) -> list:
        """The delete confirmation: its question and its two buttons."""
        return [self.confirm_text, self.confirm_delete, self.cancel_delete]


def confirm_updates(question: str | None = None) -> tuple:
    """Show the delete confirmation with ``question``, or hide it (None)."""
    visible = True if question else "hidden"
    return (gr.Markdown(question or "", visible=visible), gr.Button(visible=visible),
            gr.Button(visible=visible))


def build() -> LibraryPanel:
    """The search box, the list, and the selected document's actions."""
    search = gr.Textbox(placeholder="Search titles and text…", show_label=False, container=False,
                        elem_id="dl-search")
    docs = gr.Radio(choices=[], label="Documents", elem_id="dl-docs")
    no_document = gr.Button("No document (chat with the base model)", size="sm",
                            elem_id="dl-no-doc")
    # What appears on demand is a component (not a layout block) that starts as visible="hidden"
    # (in the page, not shown): Gradio 6 applies visibility updates unreliably to a Column and to
    # components created with visible=False.
    with gr.Accordion("Selected document", open=True, elem_id="dl-manage"):
        with gr.Row(equal_height=True):
            title = gr.Textbox(show_label=False, placeholder="Title", elem_id="dl-title",
                               max_lines=1, scale=3, container=False, interactive=False)
            rename = gr.Button("Rename", size="sm", elem_id="dl-rename", scale=1, min_width=80,
                               interactive=False)
        with gr.Row(equal_height=True):
            export_format = gr.Dropdown(EXPORT_FORMATS, value="gguf", show_label=False,
                                        elem_id="dl-export-format", scale=3, container=False)
            export = gr.Button("Export", size="sm", elem_id="dl-export", scale=1, min_width=80,
                               interactive=False)
        download = gr.HTML(visible="hidden", elem_id="dl-download", js_on_load=None)
        delete = gr.Button("Delete…", size="sm", elem_id="dl-delete", interactive=False)
        confirm_text = gr.Markdown(visible="hidden", elem_id="dl-confirm")
        with gr.Row():
            confirm_delete = gr.Button("Delete", variant="stop", size="sm", visible="hidden",
                                       elem_id="dl-confirm-delete")
            cancel_delete = gr.Button("Cancel", size="sm", visible="hidden",
                                      elem_id="dl-cancel-delete")
    return LibraryPanel(search, docs, no_document, title, rename, export_format, export, download, delete,
                        confirm_text, confirm_delete, cancel_delete)


def wire(win: Window) -> None:
    """Search, select, rename, export, delete."""
    core, lib = win.core, win.library

    def on_search(search: str, selected: int | None) -> gr.Radio:
        return document_list(core, search, selected)

    def on_select(doc_id: int | None, search: str) -> tuple:
        return win.open(doc_id, search)

    def on_rename(selected: int | None, title: str, search: str,
                  picked: list[int] | None) -> tuple:
        doc = _require(core, selected)
        try:
            core.rename(doc.id, (title or "").strip())
        except DocLoRAError as exc:
            raise user_error(exc) from exc
        gr.Info(f"Renamed to “{html.escape(title.strip())}”.")  # toasts render HTML
        return win.open(doc.id, search, keep_several=len(picked or []) > 1)

    def on_export(selected: int | None, format: str) -> gr.HTML:
        doc = _require(core, selected)
        try:
            path = Path(export_file(core, doc.id, format))
            note = scale_note(*core.applied_scale(doc.id), Path(path.name)) if format != "markdown" else ""
        except DocLoRAError as exc:
            raise user_error(exc) from exc
        card = download_html(path.name, path.stat().st_size, served_url(lib.download, path), note)
        return gr.HTML(card, visible=True)

    def on_delete(selected: int | None) -> tuple:
        doc = _require(core, selected)
        text = (f"Delete **{as_text(doc.title)}**? Its adapter and its chat are removed too; "
                "this cannot be undone.")
        return confirm_updates(text)

    def on_confirm(selected: int | None, search: str) -> tuple:
        doc = _require(core, selected)
        try:
            core.remove(doc.id)
        except DocLoRAError as exc:
            raise user_error(exc) from exc
        gr.Info(f"Deleted “{html.escape(doc.title)}”.")
        return win.open(None, search)

    def on_selection(doc_id: int | None) -> tuple:  # the actions work only on a selection
        active = doc_id is not None
        return (gr.Textbox(interactive=active), gr.Button(interactive=active),
                gr.Button(interactive=active), gr.Button(interactive=active))

    def progress(dismissed: list[str] | None) -> tuple:  # a deleted document's cards go
        return progress_updates(core.jobs(), dismissed)

    # No event here shows Gradio's progress text ("queue: 1/1 0.0s"): over the chat it flickers.
    quiet = dict(show_progress="hidden")
    lib.docs.change(on_selection, lib.docs, [lib.title, lib.rename, lib.export, lib.delete],
                    **quiet)
    lib.search.change(on_search, [lib.search, win.selected], lib.docs, **quiet)
    lib.docs.input(on_select, [lib.docs, lib.search], win.open_outputs, **quiet).then(
        None, js=SHOW_LAST_ANSWER)
    lib.no_document.click(lambda search: win.open(None, search), lib.search, win.open_outputs,
                          **quiet).then(None, js=SHOW_LAST_ANSWER)
    rename_args = dict(fn=on_rename, outputs=win.open_outputs, **quiet,
                       inputs=[win.selected, lib.title, lib.search, win.several.picks])
    lib.rename.click(**rename_args)
    lib.title.submit(**rename_args)
    lib.export.click(on_export, [win.selected, lib.export_format], lib.download)
    lib.delete.click(on_delete, win.selected, lib.confirm, **quiet)
    lib.cancel_delete.click(confirm_updates, None, lib.confirm, **quiet)
    up = win.uploads
    lib.confirm_delete.click(on_confirm, [win.selected, lib.search], win.open_outputs,
                             **quiet).then(progress, up.dismissed,
                                           [up.progress, up.cancel, up.clear], **quiet)


def _require(core, selected: int | None):
    doc = find_document(core, selected)
    if doc is None:
        raise gr.Error("Select a document in the library first.", title="Error",
                       print_exception=False)
    return doc
