"""The prose task: ordinary text asked extractive questions, held out by source."""

from __future__ import annotations

import json
import random

import pytest
from transformers import AutoTokenizer

from hypernet.train import docqa_recipe, prose_qa
from hypernet.train.corpus import Source
from hypernet.train.docqa_recipe import holdout_sources
from hypernet.train.prose_qa import ProseTask, build_prose_data, documents, make_questions, read_docs

TEXT = ("The Widget Toolkit is a library for drawing buttons on small screens. It was written by Ada Quill "
        "and Brin Marsh at the Harbour Institute. Version 2.4 added support for round corners. "
        "A gadget is a widget that holds other widgets, such as a panel or a frame. "
        "Copyright (C) 2019 Harbour Institute. The toolkit draws 60 frames per second on most phones "
        "and falls back to 30 frames per second when the battery is low.")


def test_every_answer_is_words_of_the_document_and_the_kinds_vary():
    qas = make_questions(TEXT, random.Random(0))
    kinds = {k for k, _, _ in qas}
    assert {"about", "by", "version", "define", "number", "copyright"} <= kinds
    for kind, question, answer in qas:
        assert answer and answer in TEXT, (kind, question, answer)
        assert question.endswith(("?", "\"", ".")), question
    assert [a for k, _, a in qas if k == "version"] == ["2.4"]
    assert any(a.startswith("Ada Quill") for k, _, a in qas if k == "by")
    assert any(q == "What is a gadget?" or "gadget" in q for k, q, _ in qas if k == "define")


def test_blanks_never_ask_about_a_sentence_the_document_repeats():
    text = "The value is 5 here. " * 3 + "Nothing else is said about it in this short note today."
    assert not [q for q in make_questions(text, random.Random(0)) if q[0] == "number"]


def test_documents_cut_sources_into_runs_of_paragraphs_with_questions():
    src = Source("/usr/share/doc/widget/README", [TEXT] * 12)
    docs = documents([src], random.Random(0), short_chars=1200, long_chars=4000)
    assert len(docs) >= 3 and all(d.source == src.name and len(d.text) <= 4000 for d in docs)
    assert all(len(d.qas) >= 3 for d in docs)


def test_held_out_packages_and_paths_are_never_read(tmp_path, monkeypatch):
    spec = tmp_path / "holdout.json"
    quoted = "Redistribution and use in source and binary forms are permitted."
    spec.write_text(json.dumps({"packages": ["widget-doc"], "paths": ["/usr/share/common-licenses/", "python:"],
                                "fingerprints": {"bsd": [quoted]}}))
    holdout = holdout_sources(str(spec))
    assert "/usr/share/doc/widget-doc/" in holdout.prefixes
    sources = [Source(f"/usr/share/doc/{pkg}/README.{i}", [TEXT] * 3) for pkg in ("widget-doc", "other") for i in range(30)]
    sources += [Source("/usr/share/common-licenses/Apache-2.0", [TEXT] * 3), Source("python:json/__init__.py", [TEXT] * 3),
                # another package's file quoting an evaluation document (spacing and case differ)
                Source("/usr/share/doc/quoter/copyright", [TEXT, "REDISTRIBUTION and use in  source and binary\nforms "
                                                                 "are permitted."])]
    monkeypatch.setattr(prose_qa, "collect_sources", lambda: sources)
    counts = build_prose_data(tmp_path / "data", seed=0, holdout=holdout)
    read = read_docs(tmp_path / "data" / "train.jsonl") + read_docs(tmp_path / "data" / "heldout.jsonl")
    assert read and {d.source.split("/")[4] for d in read} == {"other"}
    assert counts["train"]["documents"] + counts["heldout"]["documents"] == len(read)
    train = {d.source for d in read_docs(tmp_path / "data" / "train.jsonl")}
    held = {d.source for d in read_docs(tmp_path / "data" / "heldout.jsonl")}
    assert held and not train & held  # split by source


def test_the_recipe_reads_its_holdout_file_from_the_repository():
    from hypernet.train.presets import DOCQA_PRESETS

    spec = json.loads(open(DOCQA_PRESETS["smollm2-135m"].holdout_file).read())
    assert "python:" in spec["paths"] and spec["packages"]
    assert docqa_recipe.holdout_sources("") == prose_qa.Holdout()


def test_a_draw_is_one_question_answered_by_its_gold_span(tiny_tokenizer_dir, tmp_path):
    tok = AutoTokenizer.from_pretrained(tiny_tokenizer_dir)
    path = tmp_path / "docs.jsonl"
    qas = make_questions(TEXT, random.Random(1))
    path.write_text(json.dumps({"source": "x", "text": TEXT, "qas": qas}) + "\n")
    task = ProseTask(tok, path, max_chunk_tokens=64, chunk_probs=[0.5, 0.5])
    rng = random.Random(0)
    for _ in range(10):
        ex = task.sample(rng)
        answer = tok.decode(ex.response, skip_special_tokens=True).strip()
        assert any(answer == a for _, _, a in qas)
        assert 1 <= len(ex.chunks) and all(len(c) <= 64 for c in ex.chunks)
    with pytest.raises(ValueError, match="no prose documents"):
        (tmp_path / "empty.jsonl").write_text("")
        ProseTask(tok, tmp_path / "empty.jsonl", 64, [1.0])


def test_a_fresh_value_keeps_the_answers_shape_and_differs_from_it():
    rng = random.Random(3)
    for _ in range(20):
        version = prose_qa.fresh_value("2.4.10", rng)
        assert version != "2.4.10" and len(version) == 6 and version[1] == "." and version[3] == "."
        assert version[0] != "0" and version.replace(".", "").isdigit()
        assert prose_qa.fresh_value("0.21", rng).startswith("0.")  # a leading 0 stays one
        name = prose_qa.fresh_value("Ada Quill and the Harbour Institute", rng)
        words = name.split()
        assert len(words) == 6 and words[2:4] == ["and", "the"] and words[4] != "Harbour"
        assert all(w[0].isupper() and w[1:].islower() for w in words[:2] + words[4:])


def test_a_fresh_draw_replaces_the_answer_throughout_the_document(tiny_tokenizer_dir, tmp_path):
    tok = AutoTokenizer.from_pretrained(tiny_tokenizer_dir)
    path = tmp_path / "docs.jsonl"
    qas = [("copyright", "Who holds the copyright?", "Harbour Institute"), ("version", "What version?", "2.4"),
           ("about", "What is this about?", "The Widget Toolkit is a library")]
    path.write_text(json.dumps({"source": "x", "text": TEXT, "qas": qas}) + "\n")
    task = ProseTask(tok, path, max_chunk_tokens=512, chunk_probs=[1.0], fresh_share=1.0)
    seen = set()
    for seed in range(12):
        ex = task.sample(random.Random(seed))
        answer = tok.decode(ex.response, skip_special_tokens=True).strip()
        text = tok.decode(ex.chunks[0], skip_special_tokens=True)
        question = tok.decode(ex.prompt, skip_special_tokens=True)
        seen.add(answer)
        if "copyright" in question:
            assert "Harbour" not in text and text.count(answer) == 2  # the authors' line and the notice
        elif "version" in question:
            assert "2.4" not in text and f"Version {answer} added" in text
        else:  # a question about the text's sense keeps the real text
            assert answer == qas[2][2] and "Harbour Institute" in text
    assert len(seen) >= 6  # a new value on every draw
    plain = ProseTask(tok, path, max_chunk_tokens=512, chunk_probs=[1.0])
    assert all(tok.decode(plain.sample(random.Random(s)).response, skip_special_tokens=True).strip()
               in {a for _, _, a in qas} for s in range(12))
