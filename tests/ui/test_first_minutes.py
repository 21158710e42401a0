"""What a newcomer meets, second round (issue 32), in a real browser against a real `doclora ui`
with the bundled demo pair, at 1280x720; the tests share one server and run in order."""

from __future__ import annotations

import pytest
from test_window import (  # the user's actions, shared with the main window session
    HARBOR, INGEST_TIMEOUT_MS, ORCHARD, QUESTION, add_with_file_input, ask, job_card,
    open_document)

from app.models.registry import load_specs

pytestmark = [pytest.mark.browser, pytest.mark.slow]

QUAY = ("quay-log.pdf", "Quay Log")  # ordinary prose, no needle
SMALL_SCREEN = {"width": 1280, "height": 720}

# Records any of Gradio's queue or timing text ("queue: 1/1 0.0/0.1s") shown over the chat or
# the status line, from the page's first moment (installed before Gradio's own scripts run).
WATCH_QUEUE_TEXT = """
window.__dlQueueText = [];
new MutationObserver(() => {
  const shown = (el) => el.offsetParent !== null && el.textContent.trim();
  for (const el of document.querySelectorAll(
      '#dl-chat .progress-text, #dl-chat .eta-bar, #dl-chat .meta-text, #dl-chat .meta-text-center,'
      + ' #dl-status .progress-text, #dl-status .meta-text'))
    if (shown(el)) window.__dlQueueText.push(el.textContent.trim());
}).observe(document, {subtree: true, childList: true, characterData: true});
"""


@pytest.fixture
def page(page):
    """The window at 1280x720."""
    page.set_viewport_size(SMALL_SCREEN)
    return page


def in_view(page, selector: str) -> bool:
    """Whether the element is wholly inside the viewport (no scrolling needed to see it)."""
    box = page.locator(selector).first.bounding_box()
    view = page.viewport_size
    return bool(box) and box["x"] >= 0 and box["y"] >= 0 and (
        box["x"] + box["width"] <= view["width"] + 1
        and box["y"] + box["height"] <= view["height"] + 1)


def status(page) -> str:
    return " ".join(page.locator("#dl-status").inner_text().split())


def several_boxes(page):
    return page.locator("#dl-several label")


def tick(page, *titles: str) -> None:
    """Tick (or untick) documents under "Several"."""
    page.locator("#dl-tab-several-button").click()
    for title in titles:
        several_boxes(page).filter(has_text=title).click()


def test_at_1280x720_library_chat_several_and_settings_are_one_click_away(page, shots):
    page.locator("#dl-status", has_text="tiny-needle").wait_for()
    for button, content, name in (("#dl-tab-several-button", "#dl-several", "several"),
                                  ("#dl-settings-button", "#dl-model", "settings"),
                                  ("#dl-tab-library-button", "#dl-drop", "library")):
        assert in_view(page, button), button  # one click away, whatever the tab shown
        page.locator(button).click()
        page.locator(content).wait_for()
        assert in_view(page, content), content
        assert in_view(page, "#dl-input textarea") and in_view(page, "#dl-chat")  # the chat too
        shots(page, f"tab-{name}")
    assert page.evaluate("document.scrollingElement.scrollHeight <= window.innerHeight + 1")


def test_the_first_screen_says_what_the_pair_can_and_cannot_do_and_how_to_get_more(page, shots):
    line = page.locator("#dl-expect .dl-expect")
    line.wait_for()
    text = " ".join(line.inner_text().split())
    size = load_specs()["qwen3-4b"].facts.download_gb
    assert "tiny-needle" in text and "answers nothing else" in text, text
    assert f"doclora models pull qwen3-4b ({size:g} GB download)" in text, text
    assert in_view(page, "#dl-expect .dl-expect")
    assert line.bounding_box()["height"] < 36  # one line
    shots(page, "expectations")


def test_a_drop_of_several_files_opens_the_last_one(page, pdfs, shots):
    add_with_file_input(page, pdfs.needle(HARBOR[0], HARBOR[2], HARBOR[3]))
    job_card(page, HARBOR[0], "done").wait_for(timeout=INGEST_TIMEOUT_MS)
    page.locator("#dl-status", has_text=HARBOR[1]).wait_for()  # nothing was open: it opens
    add_with_file_input(page, pdfs.needle(ORCHARD[0], ORCHARD[2], ORCHARD[3]),
                        pdfs.plain(QUAY[0], "harbor"))
    job_card(page, QUAY[0], "done").wait_for(timeout=INGEST_TIMEOUT_MS)
    job_card(page, ORCHARD[0], "done").wait_for(timeout=INGEST_TIMEOUT_MS)
    page.locator("#dl-status", has_text=QUAY[1]).wait_for()  # the drop's last file, not Harbor
    assert page.locator("#dl-docs input:checked").locator("xpath=..").inner_text().startswith(
        QUAY[1])
    shots(page, "last-of-the-drop")


def test_an_empty_chat_offers_questions_drawn_from_the_document(page, shots):
    open_document(page, ORCHARD[1])
    chat = page.locator("#dl-chat")
    chat.get_by_text(f"{ORCHARD[1]} · 1 page").wait_for()
    examples = chat.locator(".example")
    assert examples.count() == 3
    suggested = [" ".join(t.split()) for t in examples.all_inner_texts()]
    assert suggested[0] == "What is the special magic number?", suggested
    assert all(q.endswith("?") for q in suggested)
    shots(page, "suggested-questions")
    examples.first.click()  # asks it
    page.locator("#dl-chat .user-row", has_text="What is the special magic number?").wait_for()
    page.locator("#dl-chat .bot-row .thought", has_text="Supporting pages").wait_for()  # done
    assert ORCHARD[2] in chat.locator(".bot-row").first.inner_text()
    shots(page, "suggested-question-asked")


def test_only_a_page_that_holds_the_answer_supports_it(page, shots):
    open_document(page, HARBOR[1])
    answer, sources = ask(page, QUESTION)
    assert HARBOR[2] in answer
    assert sources.startswith("Supporting pages: p. 1"), sources
    page.locator("#dl-chat .bot-row mark", has_text=HARBOR[2]).last.wait_for()  # quoted, marked
    shots(page, "supporting-page-quoted")
    open_document(page, QUAY[1])  # no needle: whatever number it says, no page holds it
    answer, sources = ask(page, "What is the special magic number of the harbor office?")
    last = page.locator("#dl-chat .bot-row").last.inner_text()
    assert "No page contains this answer." in last, last
    assert "Pages matching your question: p. 1" in sources, sources
    assert "Supporting pages" not in page.locator("#dl-chat").inner_text()
    shots(page, "no-page-holds-the-answer")


def test_several_ticked_documents_are_named_in_the_header_and_keep_their_turns(page, shots):
    open_document(page, HARBOR[1])
    tick(page, HARBOR[1], ORCHARD[1])
    page.locator("#dl-status", has_text="2 documents together").wait_for()
    assert HARBOR[1] in status(page) and ORCHARD[1] in status(page)
    assert "No document" not in status(page)
    ask(page, QUESTION)
    answer, _ = ask(page, "And the number once more?")
    chat = page.locator("#dl-chat")
    assert chat.locator(".user-row").count() == 2  # the earlier turn stays in view
    assert QUESTION in chat.inner_text()
    shots(page, "several-documents-chat")
    tick(page, ORCHARD[1])  # one left: the library's document again
    page.locator("#dl-status", has_text=f"Document {HARBOR[1]}").wait_for()
    tick(page, ORCHARD[1])  # both again: their chat of this session comes back
    page.locator("#dl-status", has_text="2 documents together").wait_for()
    assert chat.locator(".user-row").count() == 2


def test_a_deleted_document_leaves_several_and_its_card_goes_at_once(page, shots):
    tick(page, HARBOR[1], QUAY[1])
    page.locator("#dl-status", has_text="2 documents together").wait_for()
    open_document(page, QUAY[1])  # opening one document unticks the others
    page.wait_for_function("!document.querySelector('#dl-delete').disabled")
    page.locator("#dl-delete").click()
    page.locator("#dl-confirm", has_text=QUAY[1]).wait_for()
    page.locator("#dl-confirm-delete").click()
    page.locator("#dl-docs label", has_text=QUAY[1]).wait_for(state="detached")
    page.locator(".dl-job", has_text=QUAY[0]).wait_for(state="detached")  # no reload needed
    page.locator("#dl-tab-several-button").click()
    several_boxes(page).filter(has_text=HARBOR[1]).wait_for()
    assert several_boxes(page).filter(has_text=QUAY[1]).count() == 0
    assert page.locator("#dl-several input:checked").count() == 0
    tick(page, HARBOR[1], ORCHARD[1])
    answer, _ = ask(page, QUESTION)  # asserts that no error toast showed
    assert answer
    assert page.get_by_text("Error", exact=True).count() == 0  # no bare red badges
    shots(page, "deleted-document-gone-from-several")


def test_a_long_answer_is_in_view_after_a_reload_without_queue_text(page, ui_server, shots,
                                                                     monkeypatch):
    from app.library import Library
    from app.records import Source
    long_answer = "\n\n".join(f"Paragraph {i} of a long answer about the harbor office."
                              for i in range(1, 41))
    monkeypatch.setenv("DOCLORA_HOME", str(ui_server.home))  # the window's library
    lib = Library.open()
    try:
        doc = next(d for d in lib.documents("tiny-needle") if d.title == HARBOR[1])
        lib.add_exchange(doc.id, "Tell me everything.", long_answer,
                         [Source(page=1, snippet="The **harbor** **office**", supports=True)])
    finally:
        lib.close()
    page.add_init_script(WATCH_QUEUE_TEXT)
    open_document(page, HARBOR[1])
    page.reload()
    page.locator("#dl-status", has_text=HARBOR[1]).wait_for()
    page.locator("#dl-chat .user-row", has_text="Tell me everything.").wait_for()
    page.wait_for_timeout(1500)  # the scroll runs after the chat is drawn
    chat_box = page.locator("#dl-chat .bubble-wrap").bounding_box()
    question = page.locator("#dl-chat .user-row", has_text="Tell me everything.").bounding_box()
    assert chat_box["y"] <= question["y"] < chat_box["y"] + chat_box["height"], (chat_box, question)
    shots(page, "long-answer-after-reload")
    open_document(page, ORCHARD[1])  # selecting and asking show no queue text either
    open_document(page, HARBOR[1])
    ask(page, QUESTION)
    assert page.evaluate("window.__dlQueueText") == []
