"""The chat: streaming answers with their supporting pages, stop, regenerate, copy, clear."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import gradio as gr

from app.api import Selection
from app.errors import DocLoRAError
from app.ui.errors import user_error
from app.ui.format import as_text, sources_message
from app.ui.theme import INPUT_ID
from app.ui.views import chat_history, find_document, status_line

if TYPE_CHECKING:
    from app.ui.window import Window

PLACEHOLDER = ("**Chat with a document**\n\nDrop a PDF anywhere in the window, pick it in the "
               "library, and ask. Without a document you talk to the base model.")
THINKING = "…"


@dataclass
class StopFlags:
    """One stop flag per browser session, so Stop ends only that session's answer."""

    flags: dict[str, threading.Event] = field(default_factory=dict)

    def start(self, session: str) -> threading.Event:
        """A fresh flag for a new answer."""
        self.flags[session] = threading.Event()
        return self.flags[session]

    def stop(self, session: str) -> None:
        """Ask the running answer of this session to stop (no-op when none runs)."""
        if session in self.flags:
            self.flags[session].set()


@dataclass
class ChatPanel:
    chatbot: gr.Chatbot
    question: gr.Textbox
    regenerate: gr.Button
    clear: gr.Button
    confirm_clear: gr.Button  # shown by Clear history: the chat goes only after this
    cancel_clear: gr.Button


def build() -> ChatPanel:
    """The conversation, the question box and the chat's buttons.

    The box has ``lines=1`` (growing to 8) on purpose: Gradio's one-line box sends on Enter and
    lets Shift+Enter add a line; a multi-line box does the opposite.
    """
    chatbot = gr.Chatbot(elem_id="dl-chat", show_label=False, height="62vh", min_height=320,
                         buttons=["copy", "copy_all"], placeholder=PLACEHOLDER,
                         feedback_options=None, layout="bubble")
    # A short placeholder (it must fit an 800 px window); the keys are named under the box.
    question = gr.Textbox(placeholder="Ask about the document…", lines=1, max_lines=8,
                          show_label=False,
                          submit_btn=True, stop_btn=False, elem_id=INPUT_ID, autofocus=True)
    gr.Markdown("Enter sends · Shift+Enter new line · Esc stops", elem_id="dl-keys")
    with gr.Row(elem_id="dl-chat-actions"):
        regenerate = gr.Button("↻ Regenerate", size="sm", elem_id="dl-regenerate", scale=0,
                               min_width=130)
        clear = gr.Button("Clear history", size="sm", elem_id="dl-clear", scale=0,
                          min_width=130)
        confirm_clear = gr.Button("Delete this chat", variant="stop", size="sm", scale=0,
                                  min_width=130, visible="hidden", elem_id="dl-confirm-clear")
        cancel_clear = gr.Button("Keep it", size="sm", scale=0, min_width=90,
                                 visible="hidden", elem_id="dl-cancel-clear")
    return ChatPanel(chatbot, question, regenerate, clear, confirm_clear, cancel_clear)


def unchanged() -> tuple:
    """What a chat handler yields to leave its outputs (chat, question box, status line) as they
    are. A generator that ends without yielding blanks them all: Gradio sends None to each."""
    return gr.skip(), gr.skip(), gr.skip()


def clear_confirm_updates(show: bool) -> tuple:
    """Show (or hide) the two buttons that confirm or cancel clearing the chat."""
    visible = True if show else "hidden"
    return gr.Button(visible=visible), gr.Button(visible=visible)


def chosen(core, selected: int | None, picked: list[int] | None) -> Selection:
    """What the chat asks: the ticked documents when two or more are, else the open one (none:
    the base model)."""
    if len(picked or []) > 1:
        return core.selection(list(picked))
    doc = find_document(core, selected)
    return core.selection(doc.id if doc else None)


def wire(win: Window) -> None:
    """Ask (streaming), stop, regenerate, clear."""
    core, chat = win.core, win.chat

    def answer(question: str, selected: int | None, request: gr.Request,
               picked: list[int] | None = None) -> Iterator[tuple]:
        question = (question or "").strip()
        if not question:
            yield unchanged()
            return
        try:
            selection = chosen(core, selected, picked)
        except DocLoRAError as exc:
            raise user_error(exc) from exc
        yield from ask(question, selection, request)

    def ask(question: str, selection: Selection, request: gr.Request) -> Iterator[tuple]:
        past = chat_history(core, selection.document) if selection.history else []
        stop = win.stops.start(request.session_hash)
        shown = past + [{"role": "user", "content": as_text(question)},
                        {"role": "assistant", "content": THINKING}]
        yield shown, gr.Textbox(value="", submit_btn=False, stop_btn=True), gr.skip()
        try:
            for part in core.stream(selection, question, stop=stop):
                shown[-1] = {"role": "assistant", "content": as_text(part.text) or THINKING}
                if part.done:
                    if part.stopped:
                        shown[-1]["content"] = (as_text(part.text) + " *(stopped)*").strip()
                    block = sources_message(part.sources, bool(part.documents))
                    if block:
                        shown.append(block)
                yield shown, gr.skip(), gr.skip()
        except Exception as exc:  # put the question back for another try, then say what failed
            yield past, gr.Textbox(value=question, submit_btn=True, stop_btn=False), gr.skip()
            raise user_error(exc) from exc
        # The status line shows the chat's one document (or the base model).
        status = status_line(core, selection.document) if selection.history else gr.skip()
        yield shown, gr.Textbox(submit_btn=True, stop_btn=False), status

    def regenerate(selected: int | None, request: gr.Request,
                   picked: list[int] | None = None) -> Iterator[tuple]:
        try:
            selection = chosen(core, selected, picked)
            question = core.pop_exchange(selection)
        except DocLoRAError as exc:
            raise user_error(exc) from exc
        if question is None:
            gr.Warning("There is no answer to regenerate yet." if selection.history else
                       "With several documents ticked nothing is saved to regenerate; ask the "
                       "question again.")
            yield unchanged()
            return
        yield from ask(question, selection, request)

    def clear(selected: int | None, picked: list[int] | None = None) -> tuple:
        try:  # several documents keep no chat: only the view empties
            core.clear_history(chosen(core, selected, picked))
        except DocLoRAError as exc:
            raise user_error(exc) from exc
        return [], *clear_confirm_updates(False)

    def stop(request: gr.Request) -> None:
        win.stops.stop(request.session_hash)

    outputs = [chat.chatbot, chat.question, win.status]
    # One answer at a time: both handlers share the llama.cpp model.
    picks = [win.several.picks] if win.several else []
    chat.question.submit(answer, [chat.question, win.selected, *picks], outputs,
                         show_progress="hidden", concurrency_id="chat")
    chat.question.stop(stop, None, None, queue=False)
    for trigger in (chat.regenerate.click, chat.chatbot.retry):
        trigger(regenerate, [win.selected, *picks], outputs, show_progress="hidden",
                concurrency_id="chat")

    def keep(selected: int | None) -> tuple:  # the chatbot's own trash icon empties it at once
        return chat_history(core, find_document(core, selected)), *clear_confirm_updates(False)

    confirm = [chat.confirm_clear, chat.cancel_clear]
    for trigger in (chat.clear.click, chat.chatbot.clear):
        trigger(lambda: clear_confirm_updates(True), None, confirm)
    chat.cancel_clear.click(keep, win.selected, [chat.chatbot, *confirm])
    chat.confirm_clear.click(clear, [win.selected, *picks], [chat.chatbot, *confirm])
