"""The copy task: manual pages renamed to a made-up command on every draw, answered with gold text."""

from __future__ import annotations

import random
import re

import pytest
import torch
from transformers import AutoTokenizer

from hypernet.train.config import TrainConfig
from hypernet.train.loop import Trainer
from hypernet.train.manpages import ManPage, questions, write_pages
from hypernet.train.renamed import RenamedPagesTask, made_up_name, rename, renamed_qas

from app.paths import assets_dir

PAGE = """FROBNICATE(1)                 User Commands                FROBNICATE(1)

NAME
       frobnicate - turn widgets into gadgets

SYNOPSIS
       frobnicate [OPTION]... FILE

DESCRIPTION
       frobnicate reads FILE and writes gadgets; see also frobnicate-extra and unfrobnicate.

OPTIONS
       -q, --quiet
              print nothing but errors; frobnicate stays silent.

AUTHOR
       Written by Ada Lovelace.
"""


@pytest.fixture
def pages_file(tmp_path):
    return write_pages([ManPage("frobnicate", "/x/frobnicate.1.gz", PAGE, questions(PAGE))], tmp_path / "pages.jsonl")


def test_rename_replaces_the_command_everywhere_but_inside_other_words():
    out = rename(PAGE, ["frobnicate"], "zarvokctl")
    assert "ZARVOKCTL(1)" in out and "zarvokctl - turn widgets" in out and "zarvokctl stays silent" in out
    assert "unfrobnicate" in out  # another word that contains the name is left alone
    assert "frobnicate-extra" not in out and "zarvokctl-extra" in out  # ... but a hyphenated compound is renamed
    assert rename("ls lists; false is not ls", ["ls"], "kip") == "kip lists; false is not kip"


def test_made_up_names_are_fresh_words_of_letters():
    rng = random.Random(0)
    names = [made_up_name(rng) for _ in range(200)]
    assert len(set(names)) > 190
    assert all(n.replace("-", "").isalpha() and n.islower() and len(n) >= 4 for n in names)


def test_each_draw_renames_the_page_and_asks_what_only_the_page_tells(pages_file):
    tok = AutoTokenizer.from_pretrained(assets_dir() / "smollm2-135m" / "base")
    task = RenamedPagesTask(tok, pages_file, max_chunk_tokens=512, chunk_probs=[0.5, 0.5], name_share=0.5)
    rng = random.Random(1)
    seen_names = set()
    for _ in range(30):
        ex = task.sample(rng)
        context = "".join(tok.decode(c) for c in ex.chunks)
        asked, answer = tok.decode(ex.prompt), tok.decode(ex.response, skip_special_tokens=True).strip()
        assert "frobnicate" not in context.lower().replace("unfrobnicate", "") and "frobnicate" not in asked.lower()
        if "name of the command" in asked:
            seen_names.add(answer)
            assert f"{answer} - turn widgets" in context  # the page under its new name
    assert len(seen_names) >= 8  # a new name on every draw: no LoRA can learn one by heart
    qas = {kind: (q, a) for kind, q, a in renamed_qas(ManPage("frobnicate", "", PAGE, questions(PAGE)), "kip")}
    assert qas["name"][1] == "kip" and qas["about"][1] == "turn widgets into gadgets"
    assert qas["option"] == ("What does the --quiet option of kip do?", "print nothing but errors; kip stays silent.")
    opening = task.sample(rng, max_chunk=48)
    (chunk,) = opening.chunks
    assert len(chunk) <= 48 and "Lovelace" not in tok.decode(chunk)
    assert "Who wrote" not in tok.decode(opening.prompt) and "--quiet" not in tok.decode(opening.prompt)


def test_the_rename_objective_trains_and_counts_recalled_names(tiny_base_dir, pages_file, tmp_path):
    torch.manual_seed(0)
    cfg = TrainConfig(base_model=str(tiny_base_dir), out_dir=str(tmp_path / "o"), objective="rename",
                      train_file=str(pages_file), eval_file=str(pages_file), latent_size=16, n_heads=2, head_dim=8,
                      n_kv_heads=1, num_blocks=1, lr=1e-2, warmup=1, batch_size=4, max_chunk_tokens=64,
                      progress=False, l1_coef=0.0)
    trainer = Trainer(cfg)
    examples = [trainer.task.sample(random.Random(i)) for i in range(4)]
    losses = [trainer.step(examples, step=5)["task"] for _ in range(15)]
    assert losses[-1] < losses[0] - 0.3, losses
    # the eval asks every page the name question, and a reply counts when it holds the new name
    evals = trainer._eval_examples(4, seed=3)
    names = [trainer.tok.decode(ex.response, skip_special_tokens=True).strip() for ex in evals]
    assert all("name of the command" in trainer.tok.decode(ex.prompt) for ex in evals)
    replies = {tuple(ex.prompt + ex.response): (f"It is {n}." if i % 2 else "gadgets") for i, (ex, n) in enumerate(zip(evals, names))}
    trainer._greedy_reply = lambda ex, max_tokens: replies[tuple(ex.prompt + ex.response)]
    assert trainer.answer_accuracy(4, seed=3) == 0.5


OTHER = PAGE.replace("frobnicate", "quuxify").replace("FROBNICATE", "QUUXIFY").replace(
    "turn widgets into gadgets", "fold gadgets back into widgets").replace("Ada Lovelace", "Grace Hopper")


def test_a_pair_draw_composes_two_renamed_pages_and_names_the_one_it_asks_about(tmp_path):
    tok = AutoTokenizer.from_pretrained(assets_dir() / "smollm2-135m" / "base")
    pages = [ManPage("frobnicate", "", PAGE, questions(PAGE)), ManPage("quuxify", "", OTHER, questions(OTHER))]
    task = RenamedPagesTask(tok, write_pages(pages, tmp_path / "pages.jsonl"), max_chunk_tokens=512,
                            chunk_probs=[1.0], name_share=0.5, pair_share=1.0)
    rng = random.Random(2)
    targets = set()
    for _ in range(20):
        ex = task.sample(rng)
        docs = [tok.decode(c) for c in ex.chunks]
        asked, answer = tok.decode(ex.prompt), tok.decode(ex.response, skip_special_tokens=True).strip()
        assert len(docs) == 2 and "turn widgets" in "".join(docs) and "fold gadgets" in "".join(docs)
        assert "this manual page" not in asked  # never a question that two pages make ambiguous
        # the question names one page by its new name, and the answer is that page's
        m = re.search(r"What does (?:the \S+ option of )?(\S+) do\?|Who wrote (\S+)\?", asked)
        (own,) = [d for d in docs if f"{m.group(1) or m.group(2)} - " in d]
        assert answer.split()[0].rstrip(";.") in own
        targets.add("widgets into gadgets" in own)
    assert targets == {True, False}  # either page is asked about
    # openings (the curriculum) and single-chunk draws stay single pages
    assert len(task.sample(rng, max_chunk=48).chunks) == 1 and len(task.sample(rng, single=True).chunks) == 1
