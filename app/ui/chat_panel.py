"""The chat: streaming answers with their supporting pages, stop, regenerate, copy, clear; an
empty chat with a document offers questions drawn from it (``views.chat_view``)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import gradio as gr

from app.api import Selection
from app.errors import DocLoRAError
from app.ui.errors import user_error
from app.ui.format import answer_notes, as_text, sources_messages
from app.ui.theme import INPUT_ID
from app.ui.views import NO_DOCUMENT_CHAT, chat_history, chat_view, find_document, status_line

if TYPE_CHECKING:
    from app.ui.window import Window

THINKING = "…"
# After the chat is drawn anew (a load, another document): the start of the last answer in view.
# Gradio scrolls a new chat to its bottom about 300 ms after drawing it, which hides the start of
# a long answer; then the last question is brought to the top (twice: drawing may take longer).
SHOW_LAST_ANSWER = """() => {
  const place = () => {
    const box = document.querySelector('#dl-chat .bubble-wrap');
    const questions = document.querySelectorAll('#dl-chat .user-row');
    const last = questions[questions.length - 1];
    if (!box || !last) return;
    const top = last.getBoundingClientRect().top - box.getBoundingClientRect().top;
    if (top < 0) box.scrollTop += top - 8;
  };
  setTimeout(place, 600);
  setTimeout(place, 1200);
}"""


@dataclass
class StopFlags:
    """One stop flag per browser session, so Stop ends only that session's answer; whether an
    answer is running in a session (the upload poll opens a new document only between answers)."""

    flags: dict[str, threading.Event] = field(default_factory=dict)
    running: set[str] = field(default_factory=set)

    def start(self, session: str) -> threading.Event:
        """A fresh flag for a new answer."""
        self.flags[session] = threading.Event()
        self.running.add(session)
        return self.flags[session]

    def finish(self, session: str) -> None:
        """The session's answer has ended (done, stopped or failed)."""
        self.running.discard(session)

    def busy(self, session: str) -> bool:
        """Whether an answer is running in this session."""
        return session in self.running

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
    # As tall as a 720-pixel-high window allows with the question box and its buttons below.
    chatbot = gr.Chatbot(elem_id="dl-chat", show_label=False, height="calc(100vh - 290px)",
                         min_height=300,
                         buttons=["copy", "copy_all"], placeholder=NO_DOCUMENT_CHAT,
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
    """What a chat handler yields to leave its outputs (chat, question box, status line, the
    several-documents chat) as they are. A generator that ends without yielding blanks them all:
    Gradio sends None to each."""
    return gr.skip(), gr.skip(), gr.skip(), gr.skip()


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
    """Ask (streaming; also a suggested question's click), stop, regenerate, clear."""
    core, chat = win.core, win.chat

    def answer(question: str, selected: int | None, picked: list[int] | None,
               talk: list[dict] | None, request: gr.Request) -> Iterator[tuple]:
        question = (question or "").strip()
        if not question:
            yield unchanged()
            return
        try:
            selection = chosen(core, selected, picked)
        except DocLoRAError as exc:
            raise user_error(exc) from exc
        yield from ask(question, selection, talk, request)

    def ask(question: str, selection: Selection, talk: list[dict] | None,
            request: gr.Request) -> Iterator[tuple]:
        # one document (or none): its stored chat; several: this session's chat with them
        past = chat_history(core, selection.document) if selection.history else list(talk or [])
        stop = win.stops.start(request.session_hash)
        shown = past + [{"role": "user", "content": as_text(question)},
                        {"role": "assistant", "content": THINKING}]
        yield shown, gr.Textbox(value="", submit_btn=False, stop_btn=True), gr.skip(), gr.skip()
        try:
            for part in core.stream(selection, question, stop=stop):
                shown[-1] = {"role": "assistant", "content": as_text(part.text) or THINKING}
                if part.done:
                    if part.stopped:
                        shown[-1]["content"] = (as_text(part.text) + " *(stopped)*").strip()
                    shown += answer_notes(part) + sources_messages(part.sources, bool(part.documents))
                yield shown, gr.skip(), gr.skip(), gr.skip()
        except Exception as exc:  # put the question back for another try, then say what failed
            yield past, gr.Textbox(value=question, submit_btn=True, stop_btn=False), gr.skip(), \
                gr.skip()
            raise user_error(exc) from exc
        finally:
            win.stops.finish(request.session_hash)
        if selection.history:  # the status line shows the chat's one document (or none)
            yield shown, gr.Textbox(submit_btn=True, stop_btn=False), \
                status_line(core, selection.document), gr.skip()
        else:  # the status line already names the documents; the session keeps their chat
            yield shown, gr.Textbox(submit_btn=True, stop_btn=False), gr.skip(), shown

    def ask_suggestion(selected: int | None, picked: list[int] | None, talk: list[dict] | None,
                       event: gr.SelectData, request: gr.Request) -> Iterator[tuple]:
        value = event.value if isinstance(event.value, dict) else {"text": str(event.value)}
        yield from answer(value.get("text", ""), selected, picked, talk, request)

    def regenerate(selected: int | None, picked: list[int] | None, talk: list[dict] | None,
                   request: gr.Request) -> Iterator[tuple]:
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
        yield from ask(question, selection, talk, request)

    def clear(selected: int | None, picked: list[int] | None) -> tuple:
        try:  # several documents keep no stored chat: the session's chat with them empties
            selection = chosen(core, selected, picked)
            core.clear_history(selection)
        except DocLoRAError as exc:
            raise user_error(exc) from exc
        if not selection.history:
            return [], *clear_confirm_updates(False), []
        return chat_view(core, selection.document), *clear_confirm_updates(False), gr.skip()

    def stop(request: gr.Request) -> None:
        win.stops.stop(request.session_hash)

    outputs = [chat.chatbot, chat.question, win.status, win.several_chat]
    about = [win.selected, win.several.picks, win.several_chat]  # what the chat is about
    # One answer at a time: these handlers share the llama.cpp model.
    chat.question.submit(answer, [chat.question, *about], outputs, show_progress="hidden",
                         concurrency_id="chat")
    chat.chatbot.example_select(ask_suggestion, about, outputs, show_progress="hidden",
                                concurrency_id="chat")
    chat.question.stop(stop, None, None, queue=False)
    for trigger in (chat.regenerate.click, chat.chatbot.retry):
        trigger(regenerate, about, outputs, show_progress="hidden", concurrency_id="chat")

    def keep(selected: int | None, picked: list[int] | None,
             talk: list[dict] | None) -> tuple:  # the chatbot's trash icon empties it at once
        if len(picked or []) > 1:
            return list(talk or []), *clear_confirm_updates(False)
        return chat_view(core, find_document(core, selected)), *clear_confirm_updates(False)

    confirm = [chat.confirm_clear, chat.cancel_clear]
    for trigger in (chat.clear.click, chat.chatbot.clear):
        trigger(lambda: clear_confirm_updates(True), None, confirm, show_progress="hidden")
    chat.cancel_clear.click(keep, about, [chat.chatbot, *confirm], show_progress="hidden")
    chat.confirm_clear.click(clear, [win.selected, win.several.picks],
                             [chat.chatbot, *confirm, win.several_chat], show_progress="hidden")
