"""The real-document recipe: man-page questions, precomputed teacher, distillation, publish."""

from __future__ import annotations

import json
import random

import pytest
import torch
from safetensors.torch import load_file

from hypernet import load_hypernet
from hypernet.train.config import TrainConfig
from hypernet.train.docqa_recipe import build_records
from hypernet.train.manpages import ManPage, is_heldout, questions, sections, unnamed_questions
from hypernet.train.objectives import topk_cross_entropy, topk_distillation
from hypernet.train.presets import run_preset
from hypernet.train.teacher import load_teacher, precompute

from app.paths import assets_dir

SMOLLM2_BASE = assets_dir() / "smollm2-135m" / "base"

PAGE = """NAME
       frobnicate - turn widgets into gadgets

SYNOPSIS
       frobnicate [OPTION]... FILE

DESCRIPTION
       Frobnicate reads FILE and writes gadgets.

OPTIONS
       -q, --quiet
              print nothing but errors; useful in scripts.

       --depth=N
              recurse at most N levels into nested widgets.

       --help display this help and exit

AUTHOR
       Written by Ada Lovelace and Charles Babbage.
"""


def test_questions_come_with_the_answers_the_page_states():
    assert list(sections(PAGE)) == ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "AUTHOR"]
    qas = {(q.kind, q.question): q.answer for q in questions(PAGE)}
    assert qas[("what", "What does frobnicate do?")] == "turn widgets into gadgets"
    assert qas[("option", "What does the --depth option of frobnicate do?")].startswith("recurse at most N levels")
    assert qas[("option", "What does the --quiet option of frobnicate do?")] == "print nothing but errors; useful in scripts."
    assert qas[("author", "Who wrote frobnicate?")] == "Ada Lovelace and Charles Babbage"
    assert not any("--help" in q for _, q in qas)  # generic flags tell nothing about the page
    unnamed = {q.kind: (q.question, q.answer) for q in unnamed_questions(PAGE)}
    assert unnamed["name"][1] == "frobnicate" and unnamed["about"][1] == "turn widgets into gadgets"
    assert not any("frobnicate" in q for q, _ in unnamed.values())  # only the page can answer them
    assert unnamed_questions("no NAME section here") == []


def test_split_by_name_is_deterministic_and_holds_out_a_fraction():
    names = [f"tool{i}" for i in range(2000)]
    held = [n for n in names if is_heldout(n)]
    assert held == [n for n in names if is_heldout(n)]
    assert 0.1 < len(held) / len(names) < 0.2


def test_records_ask_each_page_its_questions_and_sometimes_a_summary():
    page = ManPage("frobnicate", "/x", PAGE, questions(PAGE))
    recs = build_records([page] * 20, random.Random(0), options_per_page=1, summary_fraction=0.5)
    kinds = [r["kind"] for r in recs]
    assert kinds.count("what") == 20 and kinds.count("author") == 20 and kinds.count("option") == 20
    assert 3 < kinds.count("summary") < 17
    assert all(r["context"] == PAGE for r in recs)
    with_unnamed = build_records([page] * 20, random.Random(0), 1, 0.5, unnamed=True)
    assert with_unnamed[: len(recs)] == recs  # the named records keep their indices
    assert [r["kind"] for r in with_unnamed[len(recs):]] == ["name", "about"] * 20
    assert not any("frobnicate" in r["prompt"] for r in with_unnamed[len(recs):])


def test_precomputed_topk_gives_the_same_loss_as_teacher_logits():
    torch.manual_seed(0)
    student, teacher = torch.randn(2, 5, 50), torch.randn(2, 5, 50)
    mask = torch.ones(2, 5, dtype=torch.bool)
    mask[1, 3:] = False
    vals, idx = teacher.log_softmax(-1).topk(16, dim=-1)  # what teacher.precompute stores
    assert torch.allclose(topk_cross_entropy(student, idx, vals, mask), topk_distillation(student, teacher, mask, 16))


@pytest.mark.slow


def test_teacher_precompute_resumes_and_matches_greedy_decoding(tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from hypernet.train.teacher import teacher_prompt

    records = tmp_path / "r.jsonl"
    records.write_text("".join(json.dumps({"context": PAGE, "prompt": q}) + "\n"
                               for q in ("What does frobnicate do?", "Who wrote frobnicate?")))
    out = tmp_path / "t.jsonl"
    precompute(SMOLLM2_BASE, records, out, max_new_tokens=6, top_k=4, batch_size=2, bf16=False, log=lambda m: None)
    first = load_teacher(out)
    assert sorted(first) == [0, 1]
    precompute(SMOLLM2_BASE, records, out, max_new_tokens=6, top_k=4, log=lambda m: None)  # nothing left to do
    assert len(out.read_text().splitlines()) == 2
    # record 0's response is the base model's own greedy continuation, its top-1 the response token
    tok = AutoTokenizer.from_pretrained(SMOLLM2_BASE)
    model = AutoModelForCausalLM.from_pretrained(SMOLLM2_BASE, dtype=torch.float32).eval()
    ids = torch.tensor([teacher_prompt(tok, PAGE, "What does frobnicate do?")])
    greedy = model.generate(ids, max_new_tokens=6, do_sample=False, pad_token_id=tok.eos_token_id)[0, ids.shape[1]:]
    assert first[0]["response_ids"] == greedy.tolist()[: len(first[0]["response_ids"])]
    assert [row[0] for row in first[0]["topk_idx"]] == first[0]["response_ids"]


@pytest.mark.slow
def test_smollm2_smoke_preset_publishes_a_loadable_bf16_hypernet_and_resumes(tmp_path):
    out = tmp_path / "pair"
    logs: list[str] = []
    run_preset("smollm2-smoke", out, log=logs.append, base_model=SMOLLM2_BASE)
    assert any("new command names recalled" in m for m in logs)  # the copy stage ran and evaluated
    assert (out / "work" / "copy" / "model.safetensors").exists()
    assert any("long data:" in m for m in logs) and (out / "work" / "long" / "model.safetensors").exists()
    # the prose stage ran from the long stage and evaluated on held-out sources, then the fresh-values stage
    # from it, then the prose distillation from that; the last is what is published
    assert sum("held-out gold answers recalled" in m for m in logs) == 2
    assert (out / "work" / "prose" / "model.safetensors").exists() and not (out / "work" / "hypernet").exists()
    fresh = json.loads((out / "work" / "fresh" / "training_config.json").read_text())
    assert fresh["fresh_share"] == 1.0 and fresh["init_from"] == str(out / "work" / "prose")
    distill = json.loads((out / "work" / "distill" / "training_config.json").read_text())
    assert distill["objective"] == "distill" and distill["init_from"] == str(out / "work" / "fresh")
    data = out / "work" / "distill-data"
    records = [json.loads(line) for line in (data / "train.jsonl").read_text().splitlines()]
    assert len(records) == 6 and sum("page" in r for r in records) == 2  # 4 prose questions, 2 manual pages
    # the teacher (llama.cpp on the pair's GGUF) answered every record, training and held-out
    assert all(len(load_teacher(data / f"{p}-teacher.jsonl")) == n for p, n in (("train", 6), ("heldout", 2)))
    assert any("without a LoRA" in m and "stage2 step 2" in m for m in logs if "another document's" in m)
    published, tuned, fresh_w = (load_file(str(f / "model.safetensors"))
                                 for f in (out / "hypernet", out / "work" / "distill", out / "work" / "fresh"))
    assert all(torch.equal(published[k], tuned[k].to(torch.bfloat16)) for k in tuned)
    assert any(not torch.equal(tuned[k], fresh_w[k]) for k in tuned)
    # the adapter scale was chosen on held-out sources among the measured ones and published with the weights
    record = json.loads((out / "work" / "adapter_scale.json").read_text())
    assert set(record["scores"]) == {"prose", "prose in 4 chunks", "manual page"}
    assert record["prose_questions"] == 4 and record["composed_questions"] == 2
    assert all(set(by) == {"0", "0.25", "0.5", "0.75", "1"} for by in record["scores"].values())
    assert all(len(v) == 3 and by["0"][2] == 0.0 for by in record["scores"].values() for v in by.values())
    # the manual pages are of the training split, and no stage read them
    read = {json.loads(line)["name"] for f in ("pages.jsonl", "pages-long.jsonl")
            for line in (out / "work" / f).read_text().splitlines()}
    assert len(record["manual_pages"]) == 2 and not read & set(record["manual_pages"])
    assert any(m.startswith("adapter scale: manual page, F1/gold recall/share with an invented name of the greedy answers "
                            "(held out) 0: ")
               for m in logs)
    meta = json.loads((out / "hypernet" / "config.json").read_text())
    scales = record["adapter_scales"]
    assert set(scales) == {"prose", "manual page"} and meta["adapter_scale"] == scales["prose"]
    assert meta["adapter_scale_by_kind"] == ({} if scales["manual page"] == scales["prose"]
                                             else {"manual page": scales["manual page"]})
    assert meta["hypernet"]["chunk_tokens"] == 512 and meta["base_model_name_or_path"] == "../base"
    tensors = load_file(str(out / "hypernet" / "model.safetensors"))
    assert {t.dtype for t in tensors.values()} == {torch.bfloat16}
    # the feature statistics were fitted on training chunks (identity would be shift 0, scale 1)
    assert meta["hypernet"]["feature_norm"] and tensors["feature_norm.shift"].abs().max() > 0.1
    assert (tensors["feature_norm.scale"] != 1).any()
    assert meta["hypernet"]["center_latents"] and tensors["center.mean"].abs().max() > 0  # a running mean, saved
    hn = load_hypernet(out / "hypernet", base_model=SMOLLM2_BASE)
    assert hn.max_chunk_tokens == 512  # the chunk size it was trained with, not the 8k window
    adapter = hn.internalize(PAGE * 12)
    # rank 8 from the head and 8 copy slots per chunk, then the rank-8 bias block; the last 10 layers
    assert adapter.n_chunks >= 2 and adapter.rank == 16 * adapter.n_chunks + 8
    assert adapter.layer_indices == list(range(20, 30)) and hn.config.early_exit_layer == 7
    logs.clear()
    run_preset("smollm2-smoke", out, log=logs.append, base_model=SMOLLM2_BASE)
    assert sum("skipped" in m for m in logs) == 12, logs  # data, copy, long data, long stage, prose data, prose,
    # fresh values, distillation data, teacher and stage, adapter scale, publish


def test_scaler_b_gets_its_own_learning_rate_and_scalers_no_weight_decay():
    from hypernet.model import HypernetConfig, HypernetModel
    from hypernet.train.config import TrainConfig
    from hypernet.train.loop import param_groups

    model = HypernetModel(HypernetConfig(n_layers=2, base_hidden_size=16, d_in=32, d_out=16, latent_size=16,
                                         n_heads=2, head_dim=8, n_kv_heads=1, num_blocks=1))
    cfg = TrainConfig(base_model="b", out_dir="o", scaler_lr_mult=30.0)
    rest, scaler_a, scaler_b = param_groups(model, cfg)
    named = {id(p): n for n, p in model.named_parameters()}
    assert [named[id(p)] for p in scaler_a["params"]] == ["scaler_A.down_proj"]
    assert [named[id(p)] for p in scaler_b["params"]] == ["scaler_B.down_proj"]
    # scaler_A at the base rate: a multiplied rate let L1 close the document path in tens of steps
    assert "lr_mult" not in scaler_a and scaler_a["weight_decay"] == 0.0
    assert scaler_b["lr_mult"] == 30.0 and scaler_b["weight_decay"] == 0.0
    assert len(rest["params"]) + 2 == len(named)
    (only,) = param_groups(model, TrainConfig(base_model="b", out_dir="o"))  # the reference's single group
    assert len(only["params"]) == len(named)


def test_the_curriculum_shows_a_pages_opening_with_the_questions_it_answers(tmp_path):
    from transformers import AutoTokenizer

    from hypernet.train.data import JsonlTask

    tok = AutoTokenizer.from_pretrained(SMOLLM2_BASE)
    records = [{"context": PAGE, "prompt": q.question, "response": q.answer, "kind": q.kind}
               for q in questions(PAGE) + unnamed_questions(PAGE)]
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    task = JsonlTask(tok, path, max_chunk_tokens=512, chunk_probs=[1.0], opening_kinds=["name", "what"])
    rng = random.Random(0)
    for _ in range(20):
        ex = task.sample(rng, max_chunk=40, single=True)
        (chunk,) = ex.chunks
        text = tok.decode(chunk)
        assert len(chunk) <= 40 and "frobnicate - turn widgets" in text and "Lovelace" not in text
        asked = tok.decode(ex.prompt)
        assert "name of the command" in asked or "What does frobnicate do?" in asked  # the opening answers it
        assert PAGE in tok.decode(ex.teacher_prompt)  # the teacher read the whole page
    whole = {tok.decode(task.sample(rng, max_chunk=512).prompt) for _ in range(60)}
    assert any("Who wrote" in p for p in whole)  # at full size, every kind and the whole page again
    assert "Lovelace" in tok.decode(task.sample(rng, max_chunk=512).chunks[0])


def test_a_recipe_without_a_copy_stage_is_refused_before_it_writes_anything(tmp_path):
    from hypernet.train.docqa_recipe import DocQARecipe, run_docqa_recipe

    with pytest.raises(ValueError, match="no copy stage"):
        run_docqa_recipe("bare", DocQARecipe(), SMOLLM2_BASE, tmp_path / "out")
    assert not (tmp_path / "out").exists()
