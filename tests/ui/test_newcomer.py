"""What a newcomer meets in the window (issue 16), in a real browser against a real `doclora ui`
with the bundled demo pair; the tests share one server and run in order."""

from __future__ import annotations

import subprocess

import pytest
from test_window import (  # the user's actions, shared with the main window session
    HARBOR, INGEST_TIMEOUT_MS, QUESTION, add_with_file_input, ask, doc_labels, expect_toast,
    job_card, open_document, restart_and_reopen)
from ui_helpers import REPO_ROOT, doclora_command

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_the_status_line_says_what_the_demo_pair_can_do(page, shots):
    status = page.locator("#dl-status", has_text="tiny-needle")
    status.wait_for()
    assert "needle" in page.locator("#dl-expect").inner_text()
    for action in ("#dl-rename", "#dl-export", "#dl-delete"):  # nothing to act on yet
        assert page.locator(action).is_disabled(), action
    assert page.locator("#dl-title input").is_disabled()
    shots(page, "demo-limits")


def test_no_document_is_a_choice_again_once_one_is_open(page, pdfs, shots):
    name, title, needle, topic = HARBOR
    add_with_file_input(page, pdfs.needle(name, needle, topic))
    job_card(page, name, "done").wait_for(timeout=INGEST_TIMEOUT_MS)
    page.locator("#dl-status", has_text=title).wait_for()  # opened by itself
    page.wait_for_function("!document.querySelector('#dl-delete').disabled")
    page.locator("#dl-no-doc").click()
    page.locator("#dl-status", has_text="No document").wait_for()
    assert page.locator("#dl-docs input:checked").count() == 0
    page.wait_for_function("document.querySelector('#dl-delete').disabled")
    shots(page, "back-to-no-document")


def test_adding_a_file_already_there_says_so_and_selects_it(page, pdfs, shots):
    name, title, needle, topic = HARBOR
    page.locator("#dl-status", has_text="No document").wait_for()
    add_with_file_input(page, pdfs.folder / name)
    card = page.locator('.dl-job[data-status="done"][data-stage="known"]', has_text=name)
    card.wait_for(timeout=INGEST_TIMEOUT_MS)
    assert "Already in the library" in card.inner_text()
    page.locator("#dl-status", has_text=title).wait_for()
    assert len(doc_labels(page)) == 1
    shots(page, "already-there")


def test_an_answer_no_page_supports_says_so(page, shots):
    _, title, needle, _ = HARBOR
    open_document(page, title)
    answer, sources = ask(page, QUESTION)
    assert needle in answer and "Supporting pages: p. 1" in sources
    ask(page, "Who wrote the preface?")
    last = page.locator("#dl-chat .bot-row").last.inner_text()
    assert "No page contains this answer." in last
    shots(page, "no-supporting-page")


def test_clear_history_asks_first(page, shots):
    open_document(page, HARBOR[1])
    rows = page.locator("#dl-chat .user-row").count()
    assert rows == 2
    page.locator('#dl-chat button[aria-label="Clear"]').click()  # the chat's own trash icon
    page.locator("#dl-confirm-clear").wait_for()
    page.locator("#dl-cancel-clear").click()
    page.wait_for_function(f"document.querySelectorAll('#dl-chat .user-row').length === {rows}")
    page.locator("#dl-clear").click()
    page.locator("#dl-confirm-clear").wait_for()
    shots(page, "confirm-clear")
    page.locator("#dl-cancel-clear").click()
    page.locator("#dl-confirm-clear").wait_for(state="hidden")
    assert page.locator("#dl-chat .user-row").count() == rows  # kept
    page.locator("#dl-clear").click()
    page.locator("#dl-confirm-clear").click()
    page.wait_for_function("document.querySelectorAll('#dl-chat .user-row').length === 0")
    page.locator("#dl-confirm-clear").wait_for(state="hidden")
    page.reload()
    page.locator("#dl-status", has_text=HARBOR[1]).wait_for()
    assert page.locator("#dl-chat .user-row").count() == 0
    shots(page, "cleared")


# Whether the question box's placeholder fits its box (measured in the box's own font).
PLACEHOLDER_FITS = """() => {
  const box = document.querySelector('#dl-input textarea');
  const style = getComputedStyle(box);
  const ctx = document.createElement('canvas').getContext('2d');
  ctx.font = style.font;
  const room = box.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  return [ctx.measureText(box.placeholder).width, room];
}"""


def test_at_800_px_the_question_placeholder_fits(page, shots):
    page.set_viewport_size({"width": 800, "height": 700})
    page.locator("#dl-status", has_text="tiny-needle").wait_for()
    page.locator("#dl-input textarea").wait_for()
    text, room = page.evaluate(PLACEHOLDER_FITS)
    assert 0 < text <= room, (text, room)
    keys = page.locator("#dl-keys")
    assert "Shift+Enter new line" in keys.inner_text()
    assert keys.bounding_box()["height"] < 30  # on one line
    shots(page, "800px")


def test_gpu_without_one_says_why_and_settings_survive_a_restart(page, ui_server, shots):
    page.locator("#dl-settings-button").click()
    page.locator("#dl-device input").click()
    page.get_by_role("option", name="GPU").click()
    page.locator("#dl-max-tokens input[type=number]").fill("48")
    page.locator("#dl-apply").click()
    expect_toast(page, "answers still run on the CPU")
    assert "Device cpu" in " ".join(page.locator("#dl-status").inner_text().split())
    shots(page, "gpu-without-one")
    restart_and_reopen(page, ui_server)
    page.locator("#dl-status", has_text="tiny-needle").wait_for(timeout=120_000)
    page.locator("#dl-settings-button").click()
    assert page.locator("#dl-device input").input_value() == "GPU"
    assert page.locator("#dl-max-tokens input[type=number]").input_value() == "48"
    shots(page, "settings-after-restart")


def test_the_window_and_doclora_config_share_one_set_of_settings(page, ui_server, shots):
    def config(*args: str) -> str:
        done = subprocess.run(doclora_command() + ["config", *args], env=ui_server.env(),
                              cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()
    assert config("get", "max_tokens") == "48"  # applied in the window by the test before
    config("set", "temperature", "0.5")
    restart_and_reopen(page, ui_server)
    page.locator("#dl-status", has_text="tiny-needle").wait_for(timeout=120_000)
    page.locator("#dl-settings-button").click()
    assert page.locator("#dl-temperature input[type=number]").input_value() == "0.5"
    shots(page, "settings-from-the-cli")


def test_every_setting_and_apply_fit_a_720_px_screen(page, ui_server, shots):
    """The long-document and grounding settings are in the window too, and Apply is in view at 1280x720
    without scrolling; what it applies is what ``doclora config`` reads."""
    page.set_viewport_size({"width": 1280, "height": 720})
    page.locator("#dl-settings-button").click()
    apply = page.locator("#dl-apply")
    apply.wait_for()
    box = apply.bounding_box()
    assert box["y"] + box["height"] <= 720, box
    page.locator("#dl-max-chunks input[type=number]").fill("6")
    page.locator("#dl-grounding input[type=checkbox]").uncheck()
    apply.click()
    expect_toast(page, "Settings applied")
    shots(page, "settings-720px")

    def config(key: str) -> str:
        done = subprocess.run(doclora_command() + ["config", "get", key], env=ui_server.env(), cwd=REPO_ROOT,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()
    assert (config("max_chunks"), config("grounding")) == ("6", "false")
    page.locator("#dl-max-chunks input[type=number]").fill("4")  # the defaults again for the next tests
    page.locator("#dl-grounding input[type=checkbox]").check()
    apply.click()
    for _ in range(60):  # the first toast may still be showing: wait for the library to say so
        if (config("max_chunks"), config("grounding")) == ("4", "true"):
            break
        page.wait_for_timeout(1000)
    assert (config("max_chunks"), config("grounding")) == ("4", "true")


def test_a_deleted_documents_card_is_gone_after_a_reload(page, pdfs, shots):
    name, title, needle, _ = ("orchard-diary.pdf", "Orchard Diary", "7356", "orchard")
    add_with_file_input(page, pdfs.needle(name, needle, "orchard"))
    job_card(page, name, "done").wait_for(timeout=INGEST_TIMEOUT_MS)
    open_document(page, title)
    page.locator("#dl-delete").click()
    page.locator("#dl-confirm-delete").click()
    page.locator("#dl-docs label", has_text=title).wait_for(state="detached")
    page.reload()
    page.locator("#dl-docs").wait_for()
    page.wait_for_timeout(2000)  # the progress list is drawn by the first poll after the load
    assert page.locator(".dl-job", has_text=name).count() == 0
    shots(page, "deleted-card-gone")


def test_no_document_stays_chosen_after_a_reload(page, shots):
    open_document(page, HARBOR[1])
    page.locator("#dl-no-doc").click()
    page.locator("#dl-status", has_text="No document").wait_for()
    page.reload()
    page.locator("#dl-status", has_text="tiny-needle").wait_for()  # drawn by the page's load
    page.locator("#dl-docs label", has_text=HARBOR[1]).wait_for()
    page.wait_for_timeout(2000)  # and the first poll after it
    assert "No document" in page.locator("#dl-status").inner_text()
    assert HARBOR[1] not in page.locator("#dl-status").inner_text()
    assert page.locator("#dl-docs input:checked").count() == 0
    shots(page, "no-document-after-reload")


def test_finished_cards_can_be_dismissed_and_stay_dismissed(page, pdfs, shots):
    torn = pdfs.corrupt("torn.pdf")
    add_with_file_input(page, torn)
    failed = job_card(page, torn.name, "failed")
    failed.wait_for(timeout=INGEST_TIMEOUT_MS)
    others = page.locator(".dl-job", has_text=HARBOR[0])  # Harbor Notes': ready, already there
    assert others.count() == 2
    shots(page, "finished-cards")
    failed.locator(".dl-job-close").click()
    failed.wait_for(state="detached")
    assert others.count() == 2  # only that card went
    page.reload()
    others.first.wait_for()  # the list comes back with the first poll after the load
    assert page.locator(".dl-job", has_text=torn.name).count() == 0
    shots(page, "dismissed-after-reload")
    page.locator("#dl-clear-finished").click()
    page.wait_for_function("document.querySelectorAll('.dl-job').length === 0")
    page.locator("#dl-clear-finished").wait_for(state="hidden")
    page.reload()
    page.locator("#dl-status", has_text="tiny-needle").wait_for()
    page.wait_for_timeout(2000)  # the first poll after the load
    assert page.locator(".dl-job").count() == 0
    shots(page, "cleared-after-reload")


# The download link's text width in its own font, the card's width, and how the link is laid out.
LINK_LAYOUT = """() => {
  const link = document.querySelector('#dl-download a');
  const card = link.closest('.dl-download-card');
  const ctx = document.createElement('canvas').getContext('2d');
  ctx.font = getComputedStyle(link).font;
  const text = document.createRange();
  text.selectNodeContents(link);
  return {text: ctx.measureText(link.textContent).width, card: card.clientWidth,
          overflow: card.scrollWidth - card.clientWidth,
          lines: new Set(Array.from(text.getClientRects(), (r) => Math.round(r.top))).size};
}"""


def decimal_size(n: int) -> str:
    """The window's convention, 1 KB = 1000 bytes (for sizes away from a unit's boundary)."""
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("KB", 10**3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def test_the_export_card_links_the_whole_file_name_with_its_size(page, shots):
    title = "Harbor Notes of the Northern Ferry Company for the Winter Timetable"
    name = title.replace(" ", "_") + ".lora.gguf"
    open_document(page, HARBOR[1])
    page.locator("#dl-title input").fill(title)
    page.locator("#dl-rename").click()
    page.locator("#dl-status", has_text=title).wait_for()
    page.locator("#dl-export").click()
    link = page.locator("#dl-download a")
    link.wait_for()
    assert link.inner_text() == name
    layout = page.evaluate(LINK_LAYOUT)
    assert layout["text"] > layout["card"], layout  # too long for one line of the sidebar,
    assert layout["lines"] >= 2 and layout["overflow"] <= 0, layout  # so it wraps, uncut
    with page.expect_download() as info:
        link.click()
    data = info.value.path().read_bytes()
    assert data[:4] == b"GGUF" and info.value.suggested_filename == name
    size = page.locator("#dl-download .dl-download-size").inner_text()
    assert size == decimal_size(len(data)), (size, len(data))
    shots(page, "export-card")
