"""The prose distillation stage's records and its llama.cpp teacher."""

from __future__ import annotations

import json
import random
from pathlib import Path

from hypernet.train import prose_distill as pd
from hypernet.train.prose_qa import ASKED
from hypernet.train.teacher import load_teacher, precompute, precompute_gguf

PAIR = Path(__file__).resolve().parents[2] / "assets" / "tiny-needle"


def _docs(path: Path, n: int) -> Path:
    rows = [{"source": f"/usr/share/doc/p{i}/README", "text": f"Document {i} text.",
             "qas": [["about", f"What is document {i} about?", "x"], ["number", "Fill in: ___", "1"],
                     ["by", f"Who wrote document {i}?", "y"], ["define", "What is z?", "z"]]} for i in range(n)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_prose_records_ask_a_users_kinds_per_document_and_keep_each_documents_questions_together(tmp_path):
    recs = pd.prose_records(_docs(tmp_path / "docs.jsonl", 10), 7, 2, random.Random(0))
    assert len(recs) == 7
    assert all(r["kind"] in ASKED for r in recs)  # never the fill-in-the-blank drill
    contexts = [r["context"] for r in recs]
    assert all(contexts.count(c) <= 2 for c in contexts)
    firsts = [i for i, c in enumerate(contexts) if i == 0 or c != contexts[i - 1]]
    assert len(firsts) == len(set(contexts))  # a document's questions are consecutive


def test_manual_records_take_at_most_per_page_questions(tmp_path):
    rows = [{"context": f"page {p}", "prompt": f"q{k}", "kind": "what", "page": f"p{p}"} for p in range(5) for k in range(4)]
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    recs = pd.manual_records(path, 6, 2, random.Random(0))
    pages = [r["page"] for r in recs]
    assert len(recs) == 6 and all(pages.count(p) == 2 for p in set(pages))


def test_llama_teacher_gives_the_torch_teachers_answers_and_top_k(tmp_path):
    lines = (PAIR / "heldout.txt").read_text().splitlines()
    # two questions about one context (the second reuses the cached context), then another context
    recs = [{"context": " ".join(lines[:4]), "prompt": "What is MandatoryRelease?"},
            {"context": " ".join(lines[:4]), "prompt": "What may not be deleted?"},
            {"context": " ".join(lines[4:8]), "prompt": "What is returned?"}]
    records = tmp_path / "r.jsonl"
    records.write_text("".join(json.dumps(r) + "\n" for r in recs))
    torch_out = load_teacher(precompute(PAIR / "base", records, tmp_path / "t.jsonl", max_new_tokens=6, top_k=4,
                                        batch_size=1, bf16=False, log=lambda *_: None))
    gguf_out = load_teacher(precompute_gguf(PAIR / "model.gguf", PAIR / "base", records, tmp_path / "g.jsonl",
                                            max_new_tokens=6, top_k=4, log=lambda *_: None))
    assert sorted(gguf_out) == [0, 1, 2]
    for i in range(3):
        assert gguf_out[i]["response_ids"] == torch_out[i]["response_ids"]
        for a, b in zip(gguf_out[i]["topk_logp"], torch_out[i]["topk_logp"]):
            assert max(abs(x - y) for x, y in zip(a, b)) < 0.05
        assert [row[0] for row in gguf_out[i]["topk_idx"]] == [row[0] for row in torch_out[i]["topk_idx"]]
