"""An answer that names what its document does not hold is answered again from the document's best
passages (app.grounding; issue 29: never worse than no document)."""

from __future__ import annotations

from app.api import DocLoRA
from app.grounding import PASSAGES_NOTE, QUOTED_NOTE, best_passages, best_quote, unfounded

from app_helpers import PROSE

DOC = ("libtasn1 is a library for Abstract Syntax Notation One (ASN.1), written by Fabio Fiorina and "
       "maintained by Simon Josefsson. Version 4.19 was released in 2022. The asn1Parser tool reads a "
       "definitions file; its -c option checks the syntax only.")


def test_invented_names_versions_and_numbers_are_unfounded():
    assert unfounded("It was written by Jikere Jeringer in version 9.1.", DOC, "Who wrote it?") == \
        ["Jikere", "Jeringer", "9.1"]
    assert unfounded("It is the JDKUX library.", DOC, "What is it?") == ["JDKUX"]
    # a version made of digits the document holds elsewhere is still invented; the document's own is not
    assert unfounded("The current version is 2.1.2.", DOC + " See section 2, table 1.", "Which version?") == ["2.1.2"]
    assert unfounded("Version 4.19 came out in 2022.", DOC, "Which version?") == []


def test_words_of_the_document_or_the_question_are_founded():
    assert unfounded("Fabio Fiorina wrote it; Simon Josefsson maintains version 4.19.", DOC, "Who?") == []
    assert unfounded("The -c option of asn1Parser checks the syntax only.", DOC, "What does -c do?") == []
    assert unfounded("It parses ASN.1 definitions.", DOC, "What does Libtasn1 do?") == []
    # a capital that only opens a sentence is no name
    assert unfounded("Reads a file. Checks it.", DOC, "What?") == []


def test_best_passages_are_the_ones_the_question_names_in_document_order():
    text = " ".join(["filler word"] * 200) + " The keeper writes the weather daily. " + " ".join(["more filler"] * 200)
    got = best_passages(text, "What does the keeper write?", k=1, words=50)
    assert "keeper writes the weather" in got and len(got.split()) <= 50
    assert best_passages(text, "What is this?", k=2, words=50).startswith("filler word")


HARBOUR = [" ".join(PROSE[:2]), " ".join(PROSE[2:])]


def test_an_unfounded_answer_is_answered_again_from_the_document(insert_document, scripted_engine):
    app = DocLoRA(engine=scripted_engine)
    doc = app.get(insert_document(app.library, "Harbour notes", HARBOUR))
    scripted_engine.reply = "The lighthouse keeper is Jikere Jeringer."
    answers = list(app.stream(doc.id, "Who keeps the lighthouse notebook?"))
    (first, adapter), (second, no_adapter) = scripted_engine.calls
    assert adapter == doc.adapter.file and no_adapter is None  # the second answer reads, not the adapter
    assert "keeper kept a small notebook" in second[-1]["content"]  # the best passage is in the prompt
    final = answers[-1]
    assert final.revised and final.done
    assert any(a.revised and a.delta.startswith("\n[That answer named things") for a in answers)
    assert app.history(doc.id)[-1].content == final.text  # what the chat keeps is the revised answer


def _replies(engine, *replies: str) -> None:
    """Make ``engine`` give ``replies`` in turn, one per generation."""
    plain, queue = engine.generate, list(replies)

    def generate(messages, adapter_file, stop=None):
        engine.reply = queue.pop(0)
        return plain(messages, adapter_file, stop)

    engine.generate = generate


def test_a_revised_answer_that_holds_to_the_document_is_kept(insert_document, scripted_engine):
    app = DocLoRA(engine=scripted_engine)
    doc = app.get(insert_document(app.library, "Harbour notes", HARBOUR))
    _replies(scripted_engine, "The lighthouse keeper is Jikere Jeringer.", "The keeper kept a notebook of ships.")
    final = app.ask(doc.id, "Who keeps the lighthouse notebook?")
    assert final.revised and not final.quoted and final.text == "The keeper kept a notebook of ships."


def test_when_the_revised_answer_invents_too_the_best_sentence_is_quoted(insert_document, scripted_engine):
    app = DocLoRA(engine=scripted_engine)
    doc = app.get(insert_document(app.library, "Harbour notes", HARBOUR))
    _replies(scripted_engine, "The keeper is Jikere Jeringer.", "It is FREEDESPADA.COM of Vornhelm.")
    answers = list(app.stream(doc.id, "Who keeps the lighthouse notebook?"))
    final = answers[-1]
    assert final.quoted and final.revised and len(scripted_engine.calls) == 2
    assert final.text == "\u201cThe keeper kept a small notebook of the ships that passed and the weather each day.\u201d"
    assert unfounded(final.text, " ".join(HARBOUR), "Who keeps the lighthouse notebook?") == []
    assert answers[-2].delta.startswith(f"\n[{QUOTED_NOTE}]\n\u201cThe keeper")
    assert app.history(doc.id)[-1].content == final.text


def test_the_best_quote_is_the_sentence_the_question_names_cut_to_its_words():
    text = "Opening words here. The keeper writes the weather daily. " + "Filler sentence again. " * 5
    assert best_quote(text, "What does the keeper write?") == "\u201cThe keeper writes the weather daily.\u201d"
    assert best_quote(text, "What is this?") == "\u201cOpening words here.\u201d"  # no word matches: the opening
    long = "The keeper " + " ".join(["writes"] * 100) + "."
    assert best_quote(long, "keeper", words=5) == "\u201cThe keeper writes writes writes \u2026\u201d"


def test_a_founded_answer_and_the_setting_off_keep_the_adapters_answer(insert_document, scripted_engine):
    app = DocLoRA(engine=scripted_engine)
    doc = app.get(insert_document(app.library, "Harbour notes", HARBOUR))
    scripted_engine.reply = "The keeper kept a small notebook of the ships."
    assert not app.ask(doc.id, "What did the keeper keep?").revised
    scripted_engine.reply = "Jikere Jeringer."
    app.configure(grounding=False, save=False)
    assert not app.ask(doc.id, "Who?").revised and len(scripted_engine.calls) == 2


def _prose_at(monkeypatch, scale: float) -> None:
    """The pair applies prose documents' adapters at ``scale`` (0: not at all)."""
    from app.models.pair import Pair

    monkeypatch.setattr(Pair, "adapter_scales", property(lambda self: {"prose": scale, "manual page": 1.0}))


def test_a_document_whose_adapter_the_pair_does_not_apply_is_answered_from_its_passages(
        insert_document, scripted_engine, monkeypatch):
    _prose_at(monkeypatch, 0.0)
    app = DocLoRA(engine=scripted_engine)
    doc = app.get(insert_document(app.library, "Harbour notes", HARBOUR))
    scripted_engine.reply = "The keeper kept a small notebook of the ships."
    final = app.ask(doc.id, "Who keeps the lighthouse notebook?")
    ((messages, adapter),) = scripted_engine.calls  # one answer, read from the passages, no adapter
    assert adapter is None and "keeper kept a small notebook" in messages[-1]["content"]
    assert messages[-1]["content"].endswith("Who keeps the lighthouse notebook?")
    assert final.from_passages and not final.revised and final.text == "The keeper kept a small notebook of the ships."
    assert app.history(doc.id)[-2].content == "Who keeps the lighthouse notebook?"  # the chat keeps the question
    # an unfounded answer from the passages is not asked again: the best sentence is quoted
    scripted_engine.reply = "It is Jikere Jeringer."
    quoted = app.ask(doc.id, "Who keeps the lighthouse notebook?")
    assert len(scripted_engine.calls) == 2 and quoted.quoted and quoted.from_passages
    assert quoted.text.startswith("\u201cThe keeper kept a small notebook")


def test_an_applied_adapter_or_the_setting_off_answers_without_passages(insert_document, scripted_engine, monkeypatch):
    _prose_at(monkeypatch, 1.0)
    app = DocLoRA(engine=scripted_engine)
    doc = app.get(insert_document(app.library, "Harbour notes", HARBOUR))
    scripted_engine.reply = "The keeper kept a small notebook of the ships."
    assert not app.ask(doc.id, "Who keeps the lighthouse notebook?").from_passages
    assert scripted_engine.calls[-1][1] == doc.adapter.file  # under the adapter
    assert scripted_engine.calls[-1][0][-1]["content"] == "Who keeps the lighthouse notebook?"
    _prose_at(monkeypatch, 0.0)
    app.configure(grounding=False, save=False)
    answer = app.ask(doc.id, "Who keeps the lighthouse notebook?")
    messages, adapter = scripted_engine.calls[-1]
    assert not answer.from_passages and adapter is None  # the base alone, the question as it was asked
    assert messages[-1] == {"role": "user", "content": "Who keeps the lighthouse notebook?"}
    assert PASSAGES_NOTE not in answer.text
