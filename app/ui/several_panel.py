"""Chat with several documents at once: a tab with a checkbox list of documents and saved
collections.

Off by default: with fewer than two boxes ticked the chat uses the document selected in the
library. With two or more, questions go to all of them (their adapters composed), the status line
names them, and the chat shows this session's conversation with them. Opening a document in the
library unticks them (``Window.open``).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import TYPE_CHECKING

import gradio as gr

from app.api import DocLoRA, Document
from app.errors import DocLoRAError
from app.ui.errors import user_error
from app.ui.format import document_choice
from app.ui.views import several_view, single_view

if TYPE_CHECKING:
    from app.ui.window import Window


@dataclass
class SeveralPanel:
    tab: gr.Tab
    picks: gr.CheckboxGroup
    collection: gr.Dropdown
    name: gr.Textbox
    save: gr.Button


def build() -> SeveralPanel:
    """The tab with the document boxes, the collections and 'Save collection'."""
    with gr.Tab("Several", id="several", elem_id="dl-tab-several", render_children=True) as tab:
        picks = gr.CheckboxGroup(choices=[], label="Ask these together", elem_id="dl-several",
                                 info="Tick two or more; questions then go to all of them.")
        collection = gr.Dropdown(choices=[], value=None, label="Collections",
                                 elem_id="dl-collections", allow_custom_value=False)
        with gr.Row(equal_height=True):
            name = gr.Textbox(show_label=False, placeholder="Collection name", max_lines=1,
                              elem_id="dl-collection-name", scale=3, container=False)
            save = gr.Button("Save collection", size="sm", elem_id="dl-save-collection",
                             scale=1, min_width=80)
    return SeveralPanel(tab, picks, collection, name, save)


def choices(core: DocLoRA, untick: bool) -> gr.CheckboxGroup:
    """The document boxes of the library as it is now, all unticked or (``untick`` False) with
    the ticks the browser holds."""
    try:
        docs = core.documents()
    except DocLoRAError as exc:
        raise user_error(exc) from exc
    boxes = [document_choice(d) for d in docs]
    return gr.CheckboxGroup(choices=boxes, value=[]) if untick else gr.CheckboxGroup(choices=boxes)


def ticked(core: DocLoRA, picked: list[int] | None) -> list[Document]:
    """The ticked documents that still exist, in the order of the list."""
    return [d for d in core.documents() if d.id in set(picked or [])]


def refresh(core, picked: list[int] | None = None, collection: str | None = None,
            tick: bool = True) -> tuple:
    """The document boxes and the collections: ``picked`` ticked (those that still exist), or
    with ``tick`` False the ticks left as the browser has them, unless one of them is gone (a
    box ticked meanwhile would otherwise be unticked by this late answer)."""
    try:
        docs, names = core.documents(), [c.name for c in core.collections()]
    except DocLoRAError as exc:
        raise user_error(exc) from exc
    ids = {d.id for d in docs}
    kept = [i for i in picked or [] if i in ids]
    boxes = [document_choice(d) for d in docs]
    return (gr.CheckboxGroup(choices=boxes, value=kept) if tick or kept != list(picked or [])
            else gr.CheckboxGroup(choices=boxes),
            gr.Dropdown(choices=names, value=collection if collection in names else None))


def wire(win: Window) -> None:
    """Open: refresh the lists; pick a collection: tick its documents; save the ticked ones."""
    core, panel = win.core, win.several

    def on_collection(name: str | None, picked: list[int]) -> tuple:
        if not name:
            return refresh(core, picked)
        try:
            members = core.collection(name).documents
        except DocLoRAError as exc:
            raise user_error(exc) from exc
        return refresh(core, members, name)

    def on_save(name: str, picked: list[int]) -> tuple:
        try:
            saved = core.save_collection((name or "").strip(), list(picked or []))
        except DocLoRAError as exc:
            raise user_error(exc) from exc
        gr.Info(f"Saved the collection “{html.escape(saved.name)}”.")
        return refresh(core, saved.documents, saved.name)

    def on_picks(picked: list[int] | None, selected: int | None, talk: list[dict] | None) -> tuple:
        """Two or more ticked: the chat with them and a status line naming them; else the
        library's document again."""
        try:
            docs = ticked(core, picked)
        except DocLoRAError as exc:
            raise user_error(exc) from exc
        return several_view(core, docs, talk) if len(docs) > 1 else single_view(core, selected)

    outputs = [panel.picks, panel.collection]
    panel.tab.select(lambda picked: refresh(core, picked, tick=False), panel.picks, outputs,
                     show_progress="hidden")
    panel.picks.change(on_picks, [panel.picks, win.selected, win.several_chat],
                       [win.chat.chatbot, win.status], show_progress="hidden")
    panel.collection.input(on_collection, [panel.collection, panel.picks], outputs)
    panel.save.click(on_save, [panel.name, panel.picks], outputs)
    panel.name.submit(on_save, [panel.name, panel.picks], outputs)
