"""The window in a real browser against a real `doclora ui` with the bundled demo pair.

The tests of this module share one server and run in order, like a user's session: add a PDF,
chat, add a second one and switch, rename/export, delete, bad files, restart.
"""

from __future__ import annotations

import base64
import re

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

QUESTION = "What is the special magic number? Reply with only the number."
HARBOR = ("harbor-notes.pdf", "Harbor Notes", "4821", "harbor")
ORCHARD = ("orchard-diary.pdf", "Orchard Diary", "7356", "orchard")
INGEST_TIMEOUT_MS = 240_000
ANSWER_TIMEOUT_MS = 120_000

# Records every text the last answer shows while it streams (to prove it arrives in pieces).
WATCH_ANSWER = """() => {
  window.__dlTexts = [];
  const chat = document.querySelector('#dl-chat');
  const record = () => {
    const bots = chat.querySelectorAll('.bot-row [data-testid=bot]:not(.thought *)');
    const last = bots[bots.length - 1];
    const text = last ? last.innerText.trim() : '';
    if (window.__dlTexts[window.__dlTexts.length - 1] !== text) window.__dlTexts.push(text);
  };
  new MutationObserver(record).observe(chat, {subtree: true, childList: true, characterData: true});
}"""

# Records every status/stage the progress cards show.
WATCH_PROGRESS = """() => {
  window.__dlStages = [];
  new MutationObserver(() => {
    for (const card of document.querySelectorAll('.dl-job')) {
      const state = card.dataset.status + ':' + card.dataset.stage;
      if (!window.__dlStages.includes(state)) window.__dlStages.push(state);
    }
  }).observe(document.body, {subtree: true, childList: true, attributes: true});
}"""


# -- helpers: what a user does -------------------------------------------------------------

def add_with_file_input(page, *paths) -> None:
    page.set_input_files("#dl-drop input[type=file]", [str(p) for p in paths])


def drop_on_window(page, path, shots=None) -> None:
    """Drag a file from the desktop onto the chat area (not onto the upload box)."""
    data = base64.b64encode(path.read_bytes()).decode()
    page.evaluate("""([name, b64]) => {
        const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
        window.__dlDrop = new DataTransfer();
        window.__dlDrop.items.add(new File([bytes], name, {type: 'application/pdf'}));
        document.querySelector('#dl-chat').dispatchEvent(new DragEvent('dragenter',
            {dataTransfer: window.__dlDrop, bubbles: true, cancelable: true}));
    }""", [path.name, data])
    assert page.locator("#dl-drop-overlay").is_visible()
    if shots:
        shots(page, "drag-over-window")
    page.evaluate("""() => {
        const chat = document.querySelector('#dl-chat');
        for (const type of ['dragover', 'drop'])
            chat.dispatchEvent(new DragEvent(type,
                {dataTransfer: window.__dlDrop, bubbles: true, cancelable: true}));
    }""")
    assert not page.locator("#dl-drop-overlay").is_visible()


def job_card(page, file_name: str, status: str):
    return page.locator(f'.dl-job[data-status="{status}"]', has_text=file_name)


def open_document(page, title: str) -> None:
    page.locator("#dl-tab-library-button").click()  # the library is a tab beside the chat
    page.locator("#dl-docs label", has_text=title).click()
    # "Document <title>": the title alone may be in the status line already (several ticked)
    page.locator("#dl-status", has_text=f"Document {title}").wait_for()


def doc_labels(page) -> list[str]:
    return [t.strip() for t in page.locator("#dl-docs label").all_inner_texts()]


def ask(page, question: str) -> tuple[str, str]:
    """Type a question, press Enter, wait for the finished answer; (answer, its sources)."""
    rows = page.locator("#dl-chat .user-row").count()
    page.evaluate(WATCH_ANSWER)
    box = page.locator("#dl-input textarea")
    box.fill(question)
    box.press("Enter")
    page.wait_for_function(
        """(n) => document.querySelector('.toast-body.error')
             || (document.querySelectorAll('#dl-chat .user-row').length > n
                 && !document.querySelector('#dl-input [data-testid=stop-button]')
                 && document.querySelector('#dl-input [data-testid=submit-button]'))""",
        arg=rows, timeout=ANSWER_TIMEOUT_MS)
    error = page.locator(".toast-body.error")
    assert not error.count(), f"the window said: {error.first.inner_text()}"
    last = page.locator("#dl-chat .bot-row").last
    answer = last.locator("[data-testid=bot]").first.inner_text().strip()
    sources = "\n".join(last.locator(".thought").all_inner_texts())
    return answer, sources


def expect_toast(page, text: str, timeout: int = 30_000) -> None:
    """Wait for a toast that says ``text``. Earlier toasts may still show (an Info stays for
    seconds, and Gradio groups toasts by type), so the last toast need not be the new one."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
    try:
        page.locator(".toast-body", has_text=text).first.wait_for(timeout=timeout)
    except PlaywrightTimeoutError:
        shown = page.locator(".toast-body").all_inner_texts()
        raise AssertionError(f"no toast says {text!r}; showing: {shown}") from None


def restart_and_reopen(page, server) -> None:
    """Restart the server with the window closed, then open it again (same browser storage).

    Reloading the old page instead races Gradio's own reconnect: once the server answers again,
    a page that saw the connection drop reloads itself, aborting the test's navigation."""
    page.goto("about:blank")
    server.restart()
    page.goto(server.url)


# -- the session ---------------------------------------------------------------------------

def test_window_loads_with_local_assets_only(page, shots):
    page.wait_for_function("document.title === 'DocLoRA'")  # set once the config is read
    page.locator("#dl-status", has_text="tiny-needle").wait_for()
    assert "No documents yet" in page.locator("#dl-docs").inner_text()
    font = page.evaluate("getComputedStyle(document.querySelector('.gradio-container')).fontFamily")
    assert font.startswith("system-ui"), font
    shots(page, "empty-window")
    assert page.requests and all(u.startswith("http://127.0.0.1:") or u.startswith("data:")
                                 for u in page.requests), page.requests


def test_add_pdf_shows_progress_until_ready(page, pdfs, shots):
    name, title, _, topic = HARBOR
    page.evaluate(WATCH_PROGRESS)
    add_with_file_input(page, pdfs.needle(name, HARBOR[2], topic))
    page.locator(".dl-job", has_text=name).wait_for()
    shots(page, "progress")
    job_card(page, name, "done").wait_for(timeout=INGEST_TIMEOUT_MS)
    seen = page.evaluate("window.__dlStages")
    assert any(s.startswith(("queued", "running")) for s in seen), seen  # shown while working
    assert "Ready to chat" in job_card(page, name, "done").inner_text()
    assert re.search(rf"{title}\s+1 page · .+ · ready", doc_labels(page)[0])
    page.locator("#dl-status", has_text=title).wait_for()  # opened by itself: nothing was open
    assert re.search(r"Adapter\s*rank \d+ · [\d.]+ [KM]B", page.locator("#dl-status").inner_text())
    shots(page, "ready")
    page.reload()  # progress lives in the core's queue, the open document in the browser
    job_card(page, name, "done").wait_for()
    page.locator("#dl-status", has_text=title).wait_for()
    shots(page, "after-reload")


def test_ask_streams_the_needle_with_its_supporting_page(page, shots):
    _, title, needle, _ = HARBOR
    open_document(page, title)
    answer, sources = ask(page, QUESTION)
    assert needle in answer
    assert "Supporting pages: p. 1" in sources and needle in sources
    texts = page.evaluate("window.__dlTexts")
    partial = [t for t in texts if t and t not in ("…", answer) and answer.startswith(t)]
    assert partial, f"the answer did not stream: {texts}"
    shots(page, "answer")


def test_second_document_and_switching(page, pdfs, shots):
    drop_on_window(page, pdfs.needle(ORCHARD[0], ORCHARD[2], ORCHARD[3]), shots)
    job_card(page, ORCHARD[0], "done").wait_for(timeout=INGEST_TIMEOUT_MS)
    page.locator("#dl-docs label", has_text=ORCHARD[1]).wait_for()
    for (_, title, needle, _), other in ((ORCHARD, HARBOR[2]), (HARBOR, ORCHARD[2])):
        open_document(page, title)
        answer, _ = ask(page, QUESTION)
        assert needle in answer and other not in answer, (title, answer)
        shots(page, f"answer-{title.split()[0].lower()}")
    open_document(page, ORCHARD[1])  # each document keeps its own chat
    chat = page.locator("#dl-chat").inner_text()
    assert ORCHARD[2] in chat and HARBOR[2] not in chat


def test_chat_with_several_documents_and_save_a_collection(page, pdfs, shots):
    """Tick a needle document and a plain one: the selection answers with the needle, and the
    supporting pages name the document. Saved as a collection, it is listed and ticks its
    documents again. The plain document is deleted at the end (later tests count documents)."""
    add_with_file_input(page, pdfs.plain("quay-log.pdf", "harbor"))
    job_card(page, "quay-log.pdf", "done").wait_for(timeout=INGEST_TIMEOUT_MS)
    page.locator("#dl-tab-several-button").click()
    boxes = page.locator("#dl-several label")
    boxes.filter(has_text="Quay Log").wait_for()
    for title in (HARBOR[1], "Quay Log"):
        boxes.filter(has_text=title).click()
    answer, sources = ask(page, QUESTION)
    assert HARBOR[2] in answer, answer
    assert f"{HARBOR[1]}, p. 1" in sources, sources
    page.locator("#dl-collection-name input").fill("Harbor set")
    page.locator("#dl-save-collection").click()
    expect_toast(page, "Saved the collection")
    shots(page, "several-documents")
    status = page.locator("#dl-status").inner_text()
    rows = page.locator("#dl-chat .user-row").count()
    page.locator("#dl-regenerate").click()
    expect_toast(page, "nothing is saved to regenerate")
    page.wait_for_timeout(1500)  # the toast comes before the event ends (and what it returns)
    assert page.locator("#dl-status").inner_text() == status  # the refusal changes nothing
    assert page.locator("#dl-chat .user-row").count() == rows
    for title in (HARBOR[1], "Quay Log"):  # untick, then pick the collection to tick them again
        boxes.filter(has_text=title).click()
    page.locator("#dl-collections input").click()
    page.get_by_role("option", name="Harbor set").click()
    page.wait_for_function("""() => document.querySelectorAll(
        '#dl-several input[type=checkbox]:checked').length === 2""")
    for title in (HARBOR[1], "Quay Log"):  # back to one document: the library's selection
        boxes.filter(has_text=title).click()
    open_document(page, "Quay Log")
    page.locator("#dl-delete").click()
    page.locator("#dl-confirm-delete").click()
    page.locator("#dl-docs label", has_text="Quay Log").wait_for(state="detached")


def test_keyboard_shift_enter_adds_a_line(page):
    box = page.locator("#dl-input textarea")
    box.click()
    box.type("first line")
    box.press("Shift+Enter")
    box.type("second line")
    assert box.input_value() == "first line\nsecond line"
    assert page.locator("#dl-chat .user-row").count() == 0  # nothing was sent


def test_regenerate_and_clear_history(page, shots):
    open_document(page, HARBOR[1])
    before = page.locator("#dl-chat .user-row").count()
    page.locator("#dl-regenerate").click()
    page.wait_for_timeout(500)
    page.wait_for_function("!document.querySelector('#dl-input [data-testid=stop-button]')")
    assert page.locator("#dl-chat .user-row").count() == before  # replaced, not added
    assert HARBOR[2] in page.locator("#dl-chat .bot-row").last.inner_text()
    page.locator("#dl-clear").click()
    page.locator("#dl-confirm-clear").click()
    page.wait_for_function("document.querySelectorAll('#dl-chat .user-row').length === 0")
    page.reload()
    page.locator("#dl-status", has_text=HARBOR[1]).wait_for()
    assert page.locator("#dl-chat .user-row").count() == 0  # cleared in the library too
    answer, _ = ask(page, QUESTION)  # history for the restart test
    assert HARBOR[2] in answer


def test_settings_apply_and_the_next_answer_uses_them(page, shots):
    open_document(page, HARBOR[1])
    page.locator("#dl-settings-button").click()
    assert page.locator("#dl-model input").input_value() == page.evaluate(
        "document.querySelector('#dl-status').innerText.match(/Model\\s+(\\S+)/)[1]")
    page.locator("#dl-threads input[type=number]").fill("1")
    page.locator("#dl-max-tokens input[type=number]").fill("32")
    page.locator("#dl-apply").click()
    expect_toast(page, "Settings applied.")
    shots(page, "settings")
    answer, _ = ask(page, QUESTION)  # the engine was rebuilt for the new thread count
    assert HARBOR[2] in answer


def test_rename_and_export(page, shots):
    open_document(page, ORCHARD[1])
    page.locator("#dl-title input").fill("")
    page.locator("#dl-rename").click()
    expect_toast(page, "title is empty")
    page.locator("#dl-title input").fill("Orchard journal")
    page.locator("#dl-rename").click()
    page.locator("#dl-docs label", has_text="Orchard journal").wait_for()
    page.locator("#dl-status", has_text="Orchard journal").wait_for()
    page.locator("#dl-export").click()
    link = page.locator("#dl-download a").first
    link.wait_for()
    with page.expect_download() as info:
        link.click()
    assert info.value.path().read_bytes()[:4] == b"GGUF"
    shots(page, "renamed-exported")


def test_delete_after_confirming(page, shots):
    open_document(page, "Orchard journal")
    page.locator("#dl-delete").click()
    page.locator("#dl-confirm", has_text="Orchard journal").wait_for()
    shots(page, "confirm-delete")
    page.locator("#dl-cancel-delete").click()
    page.locator("#dl-confirm").wait_for(state="hidden")
    assert any("Orchard journal" in t for t in doc_labels(page))
    page.locator("#dl-delete").click()
    page.locator("#dl-confirm-delete").click()
    page.locator("#dl-docs label", has_text="Orchard journal").wait_for(state="detached")
    page.locator("#dl-status", has_text="No document").wait_for()
    assert len(doc_labels(page)) == 1
    shots(page, "deleted")


def test_bad_pdfs_show_their_messages_and_a_password_opens_the_locked_one(page, pdfs, shots):
    locked, broken = pdfs.encrypted(), pdfs.corrupt()
    add_with_file_input(page, locked, broken)
    job_card(page, locked.name, "failed").wait_for(timeout=INGEST_TIMEOUT_MS)
    job_card(page, broken.name, "failed").wait_for(timeout=INGEST_TIMEOUT_MS)
    locked_text = job_card(page, locked.name, "failed").inner_text()
    assert "password-protected" in locked_text and "Password-protected PDF?" in locked_text
    assert "damaged PDF" in job_card(page, broken.name, "failed").inner_text()
    assert "Traceback" not in page.locator("body").inner_text()
    assert len(doc_labels(page)) == 1
    shots(page, "bad-pdfs")
    page.locator("#dl-password-box").get_by_text("Password-protected PDF?").click()
    page.locator("#dl-password input").fill(pdfs.PASSWORD)
    add_with_file_input(page, locked)
    job_card(page, locked.name, "done").wait_for(timeout=INGEST_TIMEOUT_MS)
    page.wait_for_function("document.querySelectorAll('#dl-docs label').length === 2")
    shots(page, "unlocked")


def test_restart_keeps_library_and_chat(page, ui_server, shots):
    restart_and_reopen(page, ui_server)
    page.locator("#dl-docs label", has_text=HARBOR[1]).wait_for(timeout=ANSWER_TIMEOUT_MS)  # a fresh server is slow to answer first
    assert len(doc_labels(page)) == 2  # Harbor Notes and the unlocked PDF
    open_document(page, HARBOR[1])
    chat = page.locator("#dl-chat")
    assert QUESTION in chat.inner_text() and HARBOR[2] in chat.inner_text()
    assert "Supporting pages: p. 1" in chat.inner_text()
    shots(page, "after-restart")
