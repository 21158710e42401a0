"""What the window shows for the core's records (pure functions of app/ui/format.py)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from app.records import Document, Job, Message, Source, Status
from app.ui import format as F

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)


def job(id=1, status="running", stage="encode", fraction=0.5, eta=12.0, error=None,
        name="paper.pdf", updated=NOW) -> Job:
    return Job(id=id, path=f"/tmp/{name}", file_name=name, model="tiny-needle", status=status,
               stage=stage, fraction=fraction, eta_s=eta, error=error, document_id=None,
               created=updated.isoformat(), updated=updated.isoformat())


@pytest.mark.parametrize("seconds, text", [(None, ""), (-1, ""), (0.2, "about 1 s left"),
                                           (42, "about 42 s left"), (120, "about 2 min left"),
                                           (125, "about 2 min 5 s left")])
def test_human_eta(seconds, text):
    assert F.human_eta(seconds) == text


def test_document_choice_shows_title_pages_date_and_status():
    doc = Document(id=7, title="Harbor Notes", file_name="h.pdf", sha256="x", pages=3, tokens=90,
                   created="2026-11-26T12:00:00+00:00", status="ready")
    label, value = F.document_choice(doc)
    assert value == 7
    title, meta = label.split("\n")
    assert title == "Harbor Notes"
    assert meta.startswith("3 pages · ") and meta.endswith(" · ready") and "2026" in meta


def test_running_job_card_has_stage_bar_and_eta():
    card = F.job_html(job(fraction=0.5, eta=12))
    assert 'data-status="running"' in card and "Writing the LoRA" in card
    assert "width:50%" in card and "about 12 s left" in card


def test_a_done_job_card_says_whether_the_file_was_already_in_the_library():
    assert "Ready to chat" in F.job_html(job(status="done", stage="done"))
    assert "Already in the library" in F.job_html(job(status="done", stage="known"))


def test_failed_job_card_shows_the_message_escaped_and_in_window_words():
    card = F.job_html(job(status="failed", error="'<b>x.pdf' is password-protected; add it "
                                                 "again with its password (--password)."))
    assert "&lt;b&gt;x.pdf" in card and "--password" not in card
    assert "Password-protected PDF?" in card and 'data-status="failed"' in card


def test_visible_jobs_keeps_active_and_recent_ones():
    jobs = [job(1, "running"), job(2, "queued"), job(3, "done", updated=NOW - timedelta(minutes=5)),
            job(4, "failed", updated=NOW - timedelta(hours=2))]
    assert [j.id for j in F.visible_jobs(jobs, now=NOW)] == [1, 2, 3]


def test_only_a_finished_card_has_a_dismiss_control():
    for status in ("done", "failed", "cancelled"):
        card = F.job_html(job(7, status, stage="done"))
        assert f'data-dismiss="{F.job_key(job(7))}"' in card, status
    for status in ("running", "queued"):
        assert "data-dismiss" not in F.job_html(job(7, status)), status


def test_a_dismissed_finished_card_is_not_shown_but_a_running_one_always_is():
    jobs = [job(1, "running"), job(2, "done"), job(3, "failed")]
    dismissed = {F.job_key(jobs[0]), F.job_key(jobs[1])}
    assert [j.id for j in F.visible_jobs(jobs, now=NOW, dismissed=dismissed)] == [1, 3]
    # the same id in a new library (another creation time) is another card
    again = job(2, "done", updated=NOW + timedelta(seconds=1))
    assert F.visible_jobs([again], now=NOW, dismissed=dismissed) == [again]


def test_a_card_is_listed_for_half_an_hour_after_its_job_finished():
    assert F.recently_finished(job(status="failed", updated=NOW - timedelta(minutes=29)), NOW)
    assert not F.recently_finished(job(status="done", updated=NOW - timedelta(minutes=31)), NOW)
    assert not F.recently_finished(job(status="running", updated=NOW - timedelta(minutes=1)), NOW)


def test_the_download_card_links_the_whole_file_name_with_its_size_beside_it():
    name = "Harbor_Notes_of_the_Northern_Ferry_Company_<Winter>.lora.gguf"
    card = F.download_html(name, 2_400_000, "gradio_api/file=/tmp/x/a%20b.gguf")
    escaped = name.replace("<", "&lt;").replace(">", "&gt;")
    shown = escaped.replace("_", "_<wbr>").replace(".", ".<wbr>")  # where it may wrap
    assert (f'<a href="gradio_api/file=/tmp/x/a%20b.gguf" download="{escaped}">{shown}</a>'
            in card)
    assert '<span class="dl-download-size">2.4 MB</span>' in card
    assert "dl-download-note" not in card
    noted = F.download_html(name, 10, "u", note="Note: at scale 0.5 (<b>prose</b>)")
    assert '<div class="dl-download-note">Note: at scale 0.5 (&lt;b&gt;prose&lt;/b&gt;)</div></div>' in noted


def test_status_line_names_model_device_and_adapter():
    status = Status(model="tiny-needle", demo=True, device="cpu", base_gguf="m.gguf",
                    base_loaded=False, document=7, adapter_rank=16, adapter_size=1_500_000)
    doc = Document(id=7, title="Harbor <Notes>", file_name="h.pdf", sha256="x", pages=1,
                   tokens=90, created=NOW.isoformat())
    line = F.status_html(status, doc)
    for part in ("tiny-needle (demo)", "cpu", "Harbor &lt;Notes&gt;", "rank 16 · 1.5 MB"):
        assert part in line
    assert "No document" in F.status_html(status, None)
    assert "dl-status-error" in F.status_html(None, None, error="The chat GGUF is missing.")


def test_the_status_line_names_the_documents_asked_together():
    status = Status(model="tiny-needle", demo=True, device="cpu", base_gguf="m.gguf",
                    base_loaded=False)
    docs = [Document(id=i, title=t, file_name="x.pdf", sha256="x", pages=1, tokens=9,
                     created=NOW.isoformat()) for i, t in ((1, "Harbor <Notes>"), (2, "Quay Log"))]
    line = F.status_html(status, None, several=docs)
    assert "2 documents together" in line and "Harbor &lt;Notes&gt;" in line
    assert "Quay Log" in line and "No document" not in line


def test_the_expectation_line_says_what_the_pair_can_do_and_what_to_pull():
    status = Status(model="smollm2-135m", demo=False, device="cpu", base_gguf="m.gguf",
                    base_loaded=False, model_notes="Short answers; no <summaries>.")
    line = F.expectation_html(status, ("qwen3-4b", 9.7))
    assert "<b>smollm2-135m</b>: Short answers; no &lt;summaries&gt;." in line
    assert "<code>doclora models pull qwen3-4b</code> (9.7 GB download)" in line
    assert "models pull" not in F.expectation_html(status, None)  # a pulled pair is active


def test_chat_messages_put_sources_under_each_answer():
    history = [Message(1, 7, "user", "What?", [], NOW.isoformat()),
               Message(2, 7, "assistant", "4821",
                       [Source(1, "magic number is **4821**", supports=True)], NOW.isoformat()),
               Message(3, 7, "user", "Again?", [], NOW.isoformat()),
               Message(4, 7, "assistant", "4821", [], NOW.isoformat())]
    messages = F.chat_messages(history)
    assert [m["role"] for m in messages] == ["user", "assistant", "assistant", "user", "assistant",
                                             "assistant"]
    assert messages[2]["metadata"] == {"title": "Supporting pages: p. 1"}  # open: the quote shows
    assert messages[2]["content"] == "**p. 1** — “magic number is <mark>4821</mark>”"
    assert messages[5]["content"] == "No page contains this answer."
    assert len(F.chat_messages(history, document=False)) == 4  # the base model cites nothing


def test_keyword_hits_are_labelled_as_pages_matching_the_question_not_as_support():
    hits = [Source(1, "the **magic** number is 4821"), Source(3, "a **magic** trick")]
    plain, folded = F.sources_messages(hits)
    assert plain == {"role": "assistant", "content": "No page contains this answer."}
    assert folded["metadata"] == {"title": "Pages matching your question: p. 1, p. 3",
                                  "status": "done"}  # folded: they are no support
    assert folded["content"] == ("**p. 1** — the <b>magic</b> number is 4821\n\n"
                                 "**p. 3** — a <b>magic</b> trick")
    assert "Supporting" not in str(F.sources_messages(hits))


def test_document_text_is_shown_as_text_not_markdown_or_html():
    page = "![a](http://evil.example/x.png) <img src=x> [l](http://e) *a* `c` $$x$$"
    text = F.as_text(page)
    assert "![" not in text and "](" not in text and "<img" not in text and "$$" not in text
    assert text == ("\\!\\[a\\]\\(http\\://evil.example/x.png\\) &lt;img src=x&gt; "
                    "\\[l\\]\\(http\\://e\\) \\*a\\* \\`c\\` \\$\\$x\\$\\$")
    assert F.as_text("www.example.org") == "www\\.example.org"  # no autolink either
    snippet = F.snippet_markup("see http://evil.example/**magic**/x.png")
    assert snippet == "see http\\://evil.example/<b>magic</b>/x.png"
    history = [Message(1, 7, "assistant", "![b](http://evil.example/y.png)", [], NOW.isoformat())]
    assert F.chat_messages(history)[0]["content"] == (
        "\\!\\[b\\]\\(http\\://evil.example/y.png\\)")


def test_sources_of_several_documents_name_each_document():
    block, = F.sources_messages([
        Source(page=2, snippet="the **4821**", title="Harbor <Notes>", supports=True),
        Source(page=1, snippet="pier", title="Quay Log", supports=True)])
    assert block["metadata"]["title"] == "Supporting pages: Harbor &lt;Notes&gt;, p. 2, Quay Log, p. 1"
    assert block["content"].startswith("**Harbor &lt;Notes&gt;, p. 2** — “the <mark>4821</mark>”")
    assert F.sources_messages([Source(page=3, snippet="x", supports=True)])[0]["metadata"][
        "title"] == "Supporting pages: p. 3"


def test_a_quoted_passage_stays_text():
    block, = F.sources_messages([Source(1, "<img src=x> ![a](http://e/x.png) **42**", supports=True)])
    assert "<img" not in block["content"] and "](" not in block["content"]
    assert block["content"].endswith("<mark>42</mark>”")


def test_answer_notes_say_how_an_answer_was_made():
    from app.records import Answer
    from app.ui.format import answer_notes

    assert answer_notes(Answer(text="42", done=True)) == []
    notes = answer_notes(Answer(text="42", done=True, revised=True, chunk_pages={3: [1, 2, 3, 9]}))
    assert [n["content"] for n in notes] == [
        "*That answer named things the document does not mention; answered again from its best passages.*",
        "*Answered from the chunks of pages 1-3, 9.*"]
    quoted = answer_notes(Answer(text="\u201cx\u201d", done=True, revised=True, quoted=True))
    assert [n["content"] for n in quoted] == [
        "*That answer too named things the document does not mention; here is the passage that best matches "
        "your question.*"]
    passages = answer_notes(Answer(text="42", done=True, from_passages=True))
    assert [n["content"] for n in passages] == [
        "*This model's adapters do not help on this kind of document yet, so this answer comes from the "
        "document's best passages.*"]
