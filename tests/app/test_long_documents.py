"""Long documents on the demo pair and the real llama.cpp: each question is answered under the
document's opening chunk and the chunks its words point to (app.chunks; issue 30)."""

from __future__ import annotations

import json

from click.testing import CliRunner

from app.api import DocLoRA
from app.cli import cli

from app_helpers import PROSE, QUESTION, make_pdf


def _long_pdf(path, needle_page: int, pages: int = 12):
    """``pages`` pages of prose (about two chunks of the demo pair each), the needle on one."""
    texts = [" ".join(PROSE[i % 4:] + PROSE[:i % 4]) + " " + " ".join(PROSE) for i in range(pages)]
    texts[needle_page - 1] += " The special magic number is 6152."
    return make_pdf(path, texts, title="Harbour chronicle")


def test_a_long_document_answers_from_the_chunks_of_the_needles_page(demo_pair, pdfs):
    app = DocLoRA()
    doc = app.add(_long_pdf(pdfs / "long.pdf", needle_page=9))
    assert doc.adapter.n_chunks > app.settings.max_chunks
    chosen = app.selection(doc.id, QUESTION)
    (adapter_id, chunks), = chosen.chunks
    assert adapter_id == doc.adapter.id and len(chunks) <= app.settings.max_chunks and chunks[0] == 0
    answer = app.ask(doc.id, QUESTION)
    assert "6152" in answer.text
    assert 9 in answer.chunk_pages[doc.id] and len(answer.chunk_pages[doc.id]) < 12
    # the same chunks again: the composition is cached, nothing is built or loaded again
    loads = app.engine.adapter_loads
    assert "6152" in app.ask(doc.id, QUESTION, history=False).text
    assert app.engine.adapter_loads == loads and app.engine.base_loads == 1


def test_ask_json_names_the_pages_whose_chunks_answered(demo_pair, pdfs):
    runner = CliRunner()
    assert runner.invoke(cli, ["add", str(_long_pdf(pdfs / "long.pdf", needle_page=4))]).exit_code == 0
    result = runner.invoke(cli, ["ask", "1", QUESTION, "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert "6152" in out["answer"]
    assert 4 in out["answered_from_pages"]["1"]


def test_selection_can_be_turned_off_and_old_documents_answer_whole(demo_pair, pdfs):
    app = DocLoRA()
    doc = app.add(_long_pdf(pdfs / "long.pdf", needle_page=2))
    app.configure(max_chunks=64)
    assert app.selection(doc.id, QUESTION).whole  # short enough now: the stored adapter as it is


def test_the_pairs_adapter_scale_applies_to_every_answer(demo_pair, pdfs, monkeypatch):
    """A pair whose calibration chose a scale below 1 answers under a composition at that scale; at 0
    (its adapters make held-out answers less likely) the base answers alone."""
    from app.models.pair import Pair
    from converters.llama import active_adapters

    app = DocLoRA()
    app.configure(grounding=False, save=False)  # the adapter alone: no passages in the prompt
    doc = app.add(make_pdf(pdfs / "short.pdf", [" ".join(PROSE) + " The special magic number is 6152."]))
    assert app.pair.adapter_scales == {"prose": 1.0, "manual page": 1.0}  # the demo pair records none
    whole = app.selection(doc.id, QUESTION)
    assert whole.whole and whole.scale == 1.0
    monkeypatch.setattr(Pair, "adapter_scales", property(lambda self: {"prose": 0.5, "manual page": 1.0}))
    half = app.selection(doc.id, QUESTION)
    assert half.scale_map == {doc.adapter.id: 0.5} and not half.whole
    assert "6152" in app.ask(doc.id, QUESTION).text
    (active,) = active_adapters(app.engine.llm)
    assert active.path.parent.name == "composed"
    app.ask(None, QUESTION)  # no document: the base alone, whatever the pair's scale
    assert active_adapters(app.engine.llm) == []
    monkeypatch.setattr(Pair, "adapter_scales", property(lambda self: {"prose": 0.0, "manual page": 1.0}))
    answer = app.ask(doc.id, QUESTION)
    assert active_adapters(app.engine.llm) == [] and "6152" not in answer.text


MANUAL_PAGE = ("FROB(1)                    User Commands                    FROB(1)\n\nNAME\n       frob - turn "
               "widgets into gadgets\n\nSYNOPSIS\n       frob [OPTION]... FILE\n\nDESCRIPTION\n       "
               + " ".join(PROSE) + " The special magic number is 4417.\n")


def test_each_document_is_applied_at_its_kinds_scale(demo_pair, pdfs, monkeypatch):
    """A manual page and a prose document asked together: each adapter at the pair's scale for its kind,
    composed into one; a kind at 0 leaves its document out of the update."""
    from app.models.pair import Pair

    app = DocLoRA()
    app.configure(grounding=False, compose_focus=False, save=False)
    prose = app.add(make_pdf(pdfs / "prose.pdf", [" ".join(PROSE) + " The special magic number is 6152."]))
    page = app.add(make_pdf(pdfs / "page.pdf", [MANUAL_PAGE]))
    monkeypatch.setattr(Pair, "adapter_scales", property(lambda self: {"prose": 0.25, "manual page": 1.0}))
    both = app.selection([prose.id, page.id], QUESTION)
    assert both.scale_map == {prose.adapter.id: 0.25}  # the manual page's adapter is applied whole
    assert [a.id for a in both.applied] == [prose.adapter.id, page.adapter.id]
    alone = app.selection(page.id, QUESTION)
    assert alone.whole  # a manual page alone at 1: its own GGUF, no composition
    monkeypatch.setattr(Pair, "adapter_scales", property(lambda self: {"prose": 0.0, "manual page": 1.0}))
    assert [a.id for a in app.selection([prose.id, page.id], QUESTION).applied] == [page.adapter.id]
    assert "4417" in app.ask([prose.id, page.id], QUESTION).text  # the page's needle, the prose one left out
