"""Chat with several documents at once: a checkbox list of documents and saved collections.

Off by default: with fewer than two boxes ticked the chat uses the document selected in the
library, as before. With two or more, questions go to all of them (their adapters composed).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import TYPE_CHECKING

import gradio as gr

from app.errors import DocLoRAError
from app.ui.errors import user_error
from app.ui.format import document_choice

if TYPE_CHECKING:
    from app.ui.window import Window


@dataclass
class SeveralPanel:
    accordion: gr.Accordion
    picks: gr.CheckboxGroup
    collection: gr.Dropdown
    name: gr.Textbox
    save: gr.Button


def build() -> SeveralPanel:
    """The accordion with the document boxes, the collections and 'Save collection'."""
    with gr.Accordion("Chat with several", open=False, elem_id="dl-several-box") as accordion:
        picks = gr.CheckboxGroup(choices=[], label="Ask these together", elem_id="dl-several",
                                 info="Tick two or more; questions then go to all of them.")
        collection = gr.Dropdown(choices=[], value=None, label="Collections",
                                 elem_id="dl-collections", allow_custom_value=False)
        with gr.Row(equal_height=True):
            name = gr.Textbox(show_label=False, placeholder="Collection name", max_lines=1,
                              elem_id="dl-collection-name", scale=3, container=False)
            save = gr.Button("Save collection", size="sm", elem_id="dl-save-collection",
                             scale=1, min_width=80)
    return SeveralPanel(accordion, picks, collection, name, save)


def refresh(core, picked: list[int] | None = None, collection: str | None = None) -> tuple:
    """The document boxes (keeping ticks on documents that still exist) and the collections."""
    try:
        docs, names = core.documents(), [c.name for c in core.collections()]
    except DocLoRAError as exc:
        raise user_error(exc) from exc
    ids = {d.id for d in docs}
    return (gr.CheckboxGroup(choices=[document_choice(d) for d in docs],
                             value=[i for i in picked or [] if i in ids]),
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

    outputs = [panel.picks, panel.collection]
    panel.accordion.expand(lambda picked: refresh(core, picked), panel.picks, outputs)
    panel.collection.input(on_collection, [panel.collection, panel.picks], outputs)
    panel.save.click(on_save, [panel.name, panel.picks], outputs)
    panel.name.submit(on_save, [panel.name, panel.picks], outputs)
