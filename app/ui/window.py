"""The whole window: composes the panels, holds what they share, and wires them.

At 1280x720 everything is one click away: the sidebar's tabs (Library, Several, Settings) and
the chat beside them, which never scrolls out of view.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import gradio as gr

from app.api import DocLoRA
from app.errors import DocLoRAError
from app.ui import chat_panel, library_panel, settings_panel, several_panel, upload_panel
from app.ui.chat_panel import SHOW_LAST_ANSWER, ChatPanel, StopFlags
from app.ui.library_panel import LibraryPanel
from app.ui.settings_panel import SettingsPanel, model_names
from app.ui.several_panel import SeveralPanel
from app.ui.upload_panel import UploadPanel
from app.ui.views import chat_view, document_list, expectation_line, find_document, status_line

BRAND = ("# DocLoRA\nPrivate document chat: every PDF becomes a LoRA adapter, offline.")
OPEN_DOCUMENT_KEY = "doclora-open-document"  # the browser's localStorage key
# Gradio's BrowserState never writes a falsy value, so choosing "No document" (None) would leave
# the previous id stored and a reload would open that document again: the key goes instead.
FORGET_OPEN_DOCUMENT = (f"(doc) => {{ if (doc === null) "
                        f"localStorage.removeItem('{OPEN_DOCUMENT_KEY}'); }}")


@dataclass
class Window:
    core: DocLoRA
    selected: gr.BrowserState  # the open document's id, kept in the browser across reloads
    expect: gr.HTML  # one line: what the active pair can and cannot do, and a stronger one
    status: gr.HTML
    library: LibraryPanel
    uploads: UploadPanel
    chat: ChatPanel
    settings: SettingsPanel
    several: SeveralPanel  # "Several": documents asked together
    several_chat: gr.State  # this session's chat with the ticked documents (not stored)
    stops: StopFlags = field(default_factory=StopFlags)

    @property
    def open_outputs(self) -> list:
        """What changes when a document is opened (order of ``open``'s tuple)."""
        lib = self.library
        return [self.selected, lib.docs, lib.title, *lib.confirm, lib.download,
                self.chat.chatbot, self.status, self.several.picks]

    def open(self, doc_id: int | None, search: str | None, keep_several: bool = False) -> tuple:
        """Open a document (None: the no-document chat) and refresh what shows it; the boxes of
        "Several" are unticked (the chat is about this document now), unless ``keep_several``
        (a refresh while they are asked: the chat and status line stay theirs)."""
        doc = find_document(self.core, doc_id)
        doc_id = doc.id if doc else None
        chat = gr.skip() if keep_several else chat_view(self.core, doc)
        status = gr.skip() if keep_several else status_line(self.core, doc)
        return (doc_id, document_list(self.core, search, doc_id),
                gr.Textbox(value=doc.title if doc else ""), *library_panel.confirm_updates(),
                gr.HTML("", visible="hidden"), chat, status,
                several_panel.choices(self.core, untick=not keep_several))

    def list_only(self, search: str | None, selected: int | None) -> tuple:
        """``open_outputs`` with only the lists redrawn (a document was added): the document
        list and the boxes of "Several", their mark and ticks left as the browser has them."""
        skip = (gr.skip(),) * (len(self.open_outputs) - 3)
        return ((gr.skip(), document_list(self.core, search, selected, keep_mark=True)) + skip
                + (several_panel.choices(self.core, untick=False),))


def build(core: DocLoRA) -> gr.Blocks:
    """The Gradio app for one core (one per process: a desktop window)."""
    # delete_cache: Gradio's copies of uploads and downloads older than a day go, daily and at
    # shutdown (uploads are copied into the library when added, so only queued ones need them).
    with gr.Blocks(title="DocLoRA", analytics_enabled=False,
                   delete_cache=(86400, 86400)) as blocks:
        selected = gr.BrowserState(None, storage_key=OPEN_DOCUMENT_KEY, secret="doclora-local-ui")
        expect = gr.HTML(elem_id="dl-expect")  # across the top: the first thing one reads
        with gr.Row(equal_height=False, elem_id="dl-layout"):
            with gr.Column(scale=1, min_width=320, elem_id="dl-sidebar"):
                gr.Markdown(BRAND, elem_id="dl-brand")
                with gr.Tabs(elem_id="dl-tabs"):
                    with gr.Tab("Library", id="library", elem_id="dl-tab-library",
                                render_children=True):
                        uploads = upload_panel.build()
                        library = library_panel.build()
                    several = several_panel.build()
                    settings = settings_panel.build(core.settings)
            with gr.Column(scale=3, elem_id="dl-main"):
                status = gr.HTML(elem_id="dl-status")
                chat = chat_panel.build()
        win = Window(core, selected, expect, status, library, uploads, chat, settings, several,
                     gr.State([]))
        library_panel.wire(win)
        several_panel.wire(win)
        upload_panel.wire(win)
        chat_panel.wire(win)
        settings_panel.wire(win)

        def on_load(doc_id: int | None, search: str) -> tuple:
            names = model_names(core)
            try:
                active = core.pair.name
            except DocLoRAError:  # the status line says why; the list still offers the others
                active = None
            model = gr.Dropdown(choices=names, value=active)
            return win.open(doc_id, search) + (model, expectation_line(core))

        selected.change(None, selected, None, js=FORGET_OPEN_DOCUMENT)
        blocks.load(on_load, [selected, library.search],
                    win.open_outputs + [settings.model, expect],
                    show_progress="hidden").then(None, js=SHOW_LAST_ANSWER)
    return blocks
