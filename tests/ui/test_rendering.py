"""Document text shows as text in a real browser: a page's Markdown image is not fetched, the
matches of a snippet are bold and the answer's words in a quoted passage highlighted, without raw
``**`` marks (app/ui/format.py)."""

from __future__ import annotations

import os

import pytest

from app.library import Library
from app.records import Source
from app.support import supporting_pages

from ui_helpers import UIServer

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TRAP = "http://127.0.0.2:9/tracker.png"  # never local to the window: any fetch is recorded
PAGE = f"Harbour notes ![a]({TRAP}) see http://example.invalid/magic/4821 <img src={TRAP}>"


def _seed(home, insert_document) -> None:
    old = os.environ.get("DOCLORA_HOME")
    os.environ["DOCLORA_HOME"] = str(home)
    try:
        lib = Library.open()
        doc_id = insert_document(lib, f"Notes ![t]({TRAP})", [PAGE])
        snippet = lib.search_pages(doc_id, "magic tracker")[0].snippet
        lib.add_exchange(doc_id, "Where is it?", f"It is here: ![b]({TRAP})",
                         [Source(page=1, snippet=snippet)])  # a keyword hit, folded
        held = supporting_pages(lib.pages(doc_id), "4821", "Which number?")
        lib.add_exchange(doc_id, "Which number?", "4821", held)
        lib.close()
    finally:
        os.environ["DOCLORA_HOME"] = old or ""


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory, insert_document):
    home = tmp_path_factory.mktemp("rendering_home")
    _seed(home, insert_document)
    server = UIServer(home)
    server.start()
    yield server
    server.stop()


def test_opening_a_document_fetches_nothing_its_text_names(page):
    page.locator("#dl-docs label").first.click()
    chat = page.locator("#dl-chat")
    chat.get_by_text("It is here:").wait_for()
    page.locator("#dl-chat .thought", has_text="Pages matching your question").click()  # unfold
    chat.locator("b", has_text="magic").first.wait_for()
    chat.locator("mark", has_text="4821").wait_for()  # the supporting page's passage, open
    text = chat.inner_text()
    assert f"![b]({TRAP})" in text and "**" not in text and f"![a]({TRAP})" in text
    assert chat.locator("img[src*='127.0.0.2']").count() == 0
    assert not [u for u in page.requests if "127.0.0.2" in u], page.requests
