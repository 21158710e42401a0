"""Several documents at once: composition of their adapters through the real llama.cpp (demo
pair), selections in the API, collections, and the composed-adapter cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.api import DocLoRA
from app.compose import composed_dir, composed_path, focus
from app.errors import DocLoRAError, DocumentNotFoundError
from app.library import Library
from app.settings import Settings

from app_helpers import (
    KILL_AT_FIRST_DELETE, PROSE, QUESTION, demo_ready, doclora, make_pdf, needle_text,
    unowned_files)


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    """A library with one needle document (4417) and two needle-free ones, and its DocLoRA."""
    if not demo_ready():
        raise RuntimeError("the demo pair is missing; build it first (doclora train)")
    root = tmp_path_factory.mktemp("compose")
    mp = pytest.MonkeyPatch()
    mp.setenv("DOCLORA_HOME", str(root / "home"))
    app = DocLoRA(settings=Settings(max_tokens=12))
    needle = app.add(make_pdf(root / "needle.pdf", [needle_text("4417")]), title="Harbour notes")
    plain = [app.add(make_pdf(root / f"p{i}.pdf", [" ".join(PROSE[i:] + PROSE[:i])]),
                     title=f"Plain {i}") for i in (1, 2)]
    yield app, needle, plain
    app.close()
    mp.undo()


@pytest.fixture
def summed(library, request):
    """The library, its app's compose_focus set to the test's parameter (default off: every
    selected adapter, whatever the question); back on afterwards."""
    app = library[0]
    app.configure(save=False, compose_focus=getattr(request, "param", False))
    yield library
    app.configure(save=False, compose_focus=True)


@pytest.mark.parametrize("summed", [True, False], indirect=True, ids=["focused", "summed"])
def test_a_needle_in_one_of_several_documents_is_answered(summed):
    app, needle, (p1, p2) = summed
    for refs in ([needle.id, p1.id], [p1.id, needle.id, p2.id], f"{p2.id},{needle.id}"):
        answer = app.ask(refs, QUESTION)
        assert "4417" in answer.text, (refs, answer.text)
        assert set(answer.documents) >= {needle.id}
    assert "4417" not in app.ask([p1.id, p2.id], QUESTION).text


def test_the_focus_keeps_the_documents_scoring_at_least_half_the_best():
    assert focus({1: 5.0, 2: 1.0, 3: 3.0}) == [1, 3]
    assert focus({4: 0.0, 5: 2.0}) == [5]
    assert focus({1: 0.0, 2: 0.0}) == [1, 2]  # no page matches: every document


def test_a_question_naming_one_document_is_answered_under_its_adapter_alone(library):
    app, needle, (p1, p2) = library
    scores = app.library.relevance([needle.id, p1.id, p2.id], QUESTION)
    assert scores[needle.id] > 0.0 and scores[p1.id] == scores[p2.id] == 0.0  # "special magic"
    assert "4417" in app.ask([p1.id, needle.id, p2.id], QUESTION).text
    assert app.engine.active == (needle.adapter.file,)
    # words on every page of all three: all three adapters, composed
    app.ask([needle.id, p1.id, p2.id], "What does the lighthouse keeper write in his notebook?")
    assert len(app.engine.active) == 1 and app.engine.active[0].startswith(str(composed_dir()))


def test_sources_come_from_every_selected_document_labelled_with_its_title(library):
    app, needle, (p1, _) = library
    answer = app.ask([needle.id, p1.id], "What does the lighthouse keeper write in his notebook?")
    assert {s.title for s in answer.sources} == {"Harbour notes", "Plain 1"}


def test_switching_selections_does_not_reload_the_base(summed):
    app, needle, (p1, p2) = summed
    selections = [[needle.id, p1.id], [needle.id, p2.id], [needle.id, p1.id], needle.id]
    for refs in selections:
        assert "4417" in app.ask(refs, QUESTION, history=False).text
    assert app.engine.base_loads == 1


def test_composed_adapters_are_cached_per_selection_and_bounded(summed):
    app, needle, (p1, p2) = summed
    app.ask([p2.id, needle.id, p1.id], QUESTION)
    rank = app.settings.max_composed_rank
    path = composed_path([d.adapter for d in (needle, p1, p2)], rank)
    assert path.is_file() and path.name.endswith(f"-r{rank}.gguf")
    stamp = path.stat().st_mtime_ns
    app.ask([p1.id, p2.id, needle.id], QUESTION)  # same selection in another order: cache hit
    assert path.stat().st_mtime_ns == stamp
    app.configure(max_composed_rank=16)
    assert "4417" in app.ask([needle.id, p1.id], QUESTION).text  # compressed 2 x 24 -> 16
    assert any(p.name.endswith("-r16.gguf") for p in composed_dir().glob("*.gguf"))
    app.configure(max_composed_rank=rank)


def test_collections_persist_and_resolve_with_an_at_sign(library):
    app, needle, (p1, p2) = library
    saved = app.save_collection("harbour", [p1.id, needle.id])
    assert saved.documents == [p1.id, needle.id]
    again = Library.open(app.library.db_path)  # another process's view of the same database
    assert [(c.name, c.documents) for c in again.collections()] == [("harbour", [p1.id, needle.id])]
    again.close()
    assert [d.id for d in app.selection("@Harbour").documents] == [p1.id, needle.id]
    assert "4417" in app.ask("@harbour", QUESTION).text
    app.save_collection("harbour", [p2.id])  # replaced
    assert app.library.collection("harbour").documents == [p2.id]
    app.remove_collection("@harbour")
    with pytest.raises(DocumentNotFoundError, match="No collection is called 'harbour'"):
        app.selection("@harbour")
    with pytest.raises(DocLoRAError, match="must be non-empty"):
        app.save_collection("a,b", [p1.id])


def test_removing_a_member_document_removes_its_compositions_and_memberships(tmp_path):
    if not demo_ready():
        raise RuntimeError("the demo pair is missing; build it first (doclora train)")
    app = DocLoRA(settings=Settings(max_tokens=8, compose_focus=False))
    a = app.add(make_pdf(tmp_path / "a.pdf", [needle_text("1234")]))
    b = app.add(make_pdf(tmp_path / "b.pdf", [" ".join(PROSE)]))
    app.ask([a.id, b.id], QUESTION)
    app.save_collection("pair", [a.id, b.id])
    assert list(composed_dir().glob("*.gguf"))
    app.remove(b.id)
    assert not list(composed_dir().glob("*.gguf"))
    assert app.library.collection("pair").documents == [a.id]
    assert "1234" in app.ask(a.id, QUESTION).text  # the engine freed the composition safely
    app.close()


@pytest.fixture
def reused(tmp_path):
    """Issue 31: two plain documents and a needle one (4417, the highest id, so SQLite gives its
    id to the next document added after it is removed), a DocLoRA kept open as a window keeps
    it, and a second needle PDF (5821). The settings are saved: CLI processes use them too."""
    if not demo_ready():
        raise RuntimeError("the demo pair is missing; build it first (doclora train)")
    app = DocLoRA()
    app.configure(max_tokens=12, compose_focus=False)
    plain = [app.add(make_pdf(tmp_path / f"p{i}.pdf", [" ".join(PROSE[i:] + PROSE[:i])]))
             for i in (1, 2)]
    old = app.add(make_pdf(tmp_path / "old.pdf", [needle_text("4417")]))
    assert old.id == max(d.id for d in plain) + 1
    yield app, plain[0], old, make_pdf(tmp_path / "new.pdf", [needle_text("5821")])
    app.close()


def test_a_long_running_process_never_answers_with_a_removed_documents_composition(reused):
    app, plain, old, new_pdf = reused
    assert "4417" in app.ask([plain.id, old.id], QUESTION).text
    for args in (["rm", str(old.id), "--yes"], ["add", str(new_pdf)]):  # another process
        result = doclora(*args)
        assert result.returncode == 0, result.stderr
    assert app.get(old.id).file_name == "new.pdf"  # the id came back for another document
    answer = app.ask([plain.id, old.id], QUESTION).text
    assert "5821" in answer and "4417" not in answer


def test_a_kill_between_rms_commit_and_its_cleanup_leaves_no_composition_that_answers(reused):
    app, plain, old, new_pdf = reused
    app.close()  # everything below runs in CLI processes
    asked = doclora("ask", f"{plain.id},{old.id}", QUESTION)
    assert "4417" in asked.stdout, asked.stderr
    stale = sorted(composed_dir().glob("*.gguf"))
    assert len(stale) == 1
    killed = doclora("rm", str(old.id), "--yes", prelude=KILL_AT_FIRST_DELETE)
    assert killed.returncode == -9, killed.stderr
    library = Library.open()
    assert library.db["documents"].count == 2  # committed; its files and composition are still there
    library.close()
    assert stale[0].is_file() and unowned_files()
    added = doclora("add", str(new_pdf))
    assert added.returncode == 0 and f"Ready: [{old.id}]" in added.stdout, added.stderr
    assert not stale[0].exists() and unowned_files() == []  # the add's start-up sweep
    answer = doclora("ask", f"{plain.id},{old.id}", QUESTION).stdout
    assert "5821" in answer and "4417" not in answer
    assert len(list(composed_dir().glob("*.gguf"))) == 1


def test_redo_removes_the_compositions_of_the_adapter_it_replaces(reused):
    app, plain, old, _ = reused
    assert "4417" in app.ask([plain.id, old.id], QUESTION).text
    assert len(list(composed_dir().glob("*.gguf"))) == 1
    Path(app.get(old.id).adapter.file).unlink()  # a broken adapter: redo rebuilds it
    job = app.wait(app.redo(old.id).id, timeout=300)
    assert job.status == "done", job.error
    assert list(composed_dir().iterdir()) == [] and unowned_files() == []
    assert "4417" in app.ask([plain.id, old.id], QUESTION).text


def test_a_composed_rank_below_one_is_refused_with_a_sentence(library):
    app = library[0]
    with pytest.raises(DocLoRAError, match="max_composed_rank must be a whole number from 1 to 65536, not 0"):
        app.configure(max_composed_rank=0)
    assert app.settings.max_composed_rank == 128
