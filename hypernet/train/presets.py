"""Whole-recipe presets: corpus -> tokenizer -> stage 1 (base model) -> GGUF -> stage 2 (hypernet).

``run_preset("tiny-needle", out_dir)`` rebuilds the bundled demo pair with a fixed seed:
``out_dir/base/``, ``out_dir/model.gguf``, ``out_dir/hypernet/`` (base recorded as ``../base``; the
last hypernet stage: stage 2, then a fine-tune on long documents where the preset has one)
and ``out_dir/heldout.txt`` (held-out haystack text for tests and benchmarks). Stages whose output
already exists are skipped, so an interrupted run resumes (stage 2 from its last checkpoint).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path

from converters.files import atomic_write

from .base_lm import BaseLMConfig
from .config import TrainConfig
from .stages import Stages
from .docqa_recipe import DocQARecipe


@dataclass
class Preset:
    """One recipe: tokenizer size, stage-1 and stage-2 settings."""

    vocab_size: int
    base: BaseLMConfig
    stage2: dict = field(default_factory=dict)  # TrainConfig overrides
    stage2_long: dict = field(default_factory=dict)  # a fine-tune on long documents: overrides of stage2 ({}: none)
    gguf_type: str = "f32"


PRESETS: dict[str, Preset] = {
    "tiny-needle": Preset(
        vocab_size=4096,
        base=BaseLMConfig(steps=600),
        stage2=dict(steps=2500, batch_size=16, lr=1e-3, warmup=20, l1_coef=0.01, weight_decay=0.0,
                    curriculum_loss=0.35, curriculum_start_tokens=36, min_chunk_tokens=14, eval_every=150, eval_docs=32,
                    eval_lengths=[1024, 2048], save_every=150),
        # Then documents of up to 20 chunks: stage 2 alone (1-4 chunks) reached 91% at 16x the window.
        stage2_long=dict(steps=400, batch_size=8, lr=3e-4, warmup=10, curriculum_loss=0.0,
                         chunk_probs=[0.1] + [0.05] * 3 + [0.75 / 16] * 16, min_chunk_tokens=48,
                         eval_every=100, eval_docs=24, eval_lengths=[2048, 4096], save_every=50),
    ),
    # Minutes-scale end-to-end check of the recipe (small model, few steps); not a usable pair.
    "smoke": Preset(
        vocab_size=600,
        base=BaseLMConfig(hidden_size=32, num_layers=2, num_heads=2, intermediate_size=64, steps=4,
                          batch_size=4, eval_every=0),
        stage2=dict(steps=3, batch_size=2, latent_size=16, n_heads=2, head_dim=8, n_kv_heads=1,
                    num_blocks=1, eval_every=0, save_every=0, progress=False),
        stage2_long=dict(steps=2, batch_size=2, chunk_probs=[0.5, 0.5], eval_every=0, save_every=0, progress=False),
    ),
}


# Real-document recipes on an existing base model (``base_model``: its HF folder).
_SMOLLM2_STAGE2 = dict(
    encoder_type="early_exit", rank=8, n_heads=4, head_dim=32, n_kv_heads=2, num_blocks=4,
    n_latent_queries=64, max_chunk_tokens=512, record_chunk_tokens=True, snap_to_sentences=True,
    chunk_probs=[0.4, 0.2, 0.15, 0.1, 0.1, 0.05], precision="auto", top_k=16, l1_coef=0.0, lr=5e-4, warmup=50,
    weight_decay=0.01, batch_size=4, steps=1000, save_every=25, keep_checkpoints=2, eval_every=100, eval_docs=24,
    # scaler_B starts at 0: at lr 1e-3 it was still 0.002 after 175 steps, so it learns faster. The
    # first run also let L1 act at once (and scaler_A learn 30x faster): scaler_A fell from 1 to 0.002,
    # the document path closed and only the bias LoRA learned (another document's LoRA scored the same).
    # With the path open, lr 1e-3 and scaler_B at 30x made the loss jump from 2.6 to 5-12 by step 50.
    # Even so, scaler_B stayed near 0.004 and the LoRAs carried no document (another document's LoRA
    # scored the same after 1000 steps): the head's B columns learn at scaler_B's scale. So the zero
    # of B sits in the head instead, which learns B from step 0 at scaler_B's starting value (at 1 the
    # loss went from 2.6 to 11 within 25 steps). L1 at 0.1: the first run's content gap (0.09 at step
    # 200) closed as the penalty reached full strength; under Adam a steady L1 pull moves weights whose
    # task gradient is still noise at nearly the full rate, so it is 10x weaker here.
    scaler_b_init=0.05,
    # Even so, the generated LoRAs of different pages were the same to a cosine of 0.99999 (the
    # perceiver's output 0.999994): the base's hidden states share one large component (65% of a
    # token's norm), so the cross-attention averaged nearly the same input for every page.
    # Standardized per dimension, the pages' mean features are near orthogonal.
    feature_norm=True,
    # And in both runs with L1 the content gap on training pages (another page's LoRA minus its own)
    # appeared by step 200 (+0.02) and was gone once L1 reached full strength at step 300, so no L1.
    # Without L1 (and with feature_norm) the LoRAs differed by page (cosine 0.93) but the gap was +0.05
    # at step 100 and gone by 200: attention that starts near uniform over 512 tokens barely sees a
    # page's name. As the needle recipe does, the first steps show only a page's opening (its NAME
    # line: 64 tokens, growing to the whole page by step 500) with the questions that opening answers.
    curriculum_hold=150, curriculum_steps=350, curriculum_start_tokens=64,
    curriculum_kinds=["name", "what", "about"],
    # Still, with every change above, the LoRAs of different pages ended the same (cosine 0.99996 by
    # step 250), also on the copy task below where no answer can be known without the page: the part of
    # the head's input every page shares grew until the page's own part vanished in the unit vector. So
    # the latents are centred over the documents before and after the normalisation (LatentCentering),
    # and scaler_B stays at its start (it fell 0.05 -> 0.005 in 150 steps, closing the path again).
    center_latents=True, scaler_lr_mult=0.0,
    # None of that let a LoRA carry a page's words to unseen pages: the latents (96 wide) are a summary,
    # and a made-up name does not survive it (0 of 16 recalled after 1500 steps; the same at latent 192).
    # Copy slots point into the chunk instead (CopyPointer: A from an attended position, B from the
    # one after it): on the copy task the own-minus-other gap was +2.0 at step 100, against -0.02 at
    # step 400 without them. LoRAs on the last 10 layers only: the student's backward pass stops at
    # layer 20, so a step costs a quarter, and the freed budget pays for batches of 16.
    lora_layers=10, early_exit_layer=7, latent_size=128, copy_slots=8,
)
# The copy stage: pages renamed to a made-up command on every draw, the gold answer as the response
# (hypernet.train.renamed). Only the page can tell a name that changes every time, so the loss falls
# only through the document path. First 64-token openings asked for the name or what it does, growing
# to whole pages and every kind of question.
_SMOLLM2_COPY = dict(name_share=0.5, steps=900, curriculum_hold=400, curriculum_steps=400,
                     curriculum_kinds=["name", "about"], batch_size=16, lr=1e-3, eval_every=100, eval_docs=16)
# The long stage: the copy stage saw pages of at most 2200 characters, and on long documents (4-8
# chunks of 512 tokens, each chunk's LoRA summed) its adapters answered no better than none, even with
# only the answer's own chunk (F1 0.06 on 6 held-out long pages). So the copy task goes on over long
# training pages cut as the app cuts them, mixed with short ones, at a fine-tune's learning rate.
_SMOLLM2_LONG = dict(steps=420, batch_size=8, lr=3e-4, warmup=10, curriculum_hold=0, curriculum_steps=0,
                     name_share=0.25, pair_share=0.25, eval_every=70, eval_docs=8, save_every=20)
# The prose stage: ordinary installed text (documentation, info manuals) asked extractive questions in
# varied wordings (hypernet.train.prose_qa), a quarter of the draws still renamed manual pages. Sources the
# evaluation sets read (benchmarks/data/prose/holdout.json: their packages, every licence, Python's
# docstrings, whose text Python's documentation repeats) are never read.
_SMOLLM2_PROSE = dict(steps=600, batch_size=8, lr=3e-4, warmup=10, chunk_probs=[0.5, 0.3, 0.2], manual_share=0.25,
                      name_share=0.25, pair_share=0.1, eval_every=120, eval_docs=12, save_every=20)
# The fresh-values stage (off in the preset: its pair is not the shipped one): on held-out prose the prose
# stage's own LoRA beat another document's by only 0.1 nats (manual pages: 8), as most of what it learned
# was the answers' form. So a name or number that a question asks for is replaced on the draw by a made-up
# one throughout the document, as the copy stage renames commands: the answer can come only from the
# document. Its run (docs/recipes.md) lifted the held-out calibration (prose 0.5 chosen), but through the
# product its adapters answered worse than no document on 10 of 24 documents of the evaluation set, with
# 29 invented names in 96 answers. `--preset smollm2-135m-fresh` reruns it.
_SMOLLM2_FRESH = dict(steps=360, fresh_share=0.6, eval_every=60, save_every=20)
_HOLDOUT = str(Path(__file__).resolve().parents[2] / "benchmarks" / "data" / "prose" / "holdout.json")
DOCQA_PRESETS: dict[str, DocQARecipe] = {
    "smollm2-135m": DocQARecipe(stage2=_SMOLLM2_STAGE2, copy_stage=_SMOLLM2_COPY, long_stage=_SMOLLM2_LONG,
                                prose_stage=_SMOLLM2_PROSE, holdout_file=_HOLDOUT),
    # Seconds-scale end-to-end check of the recipe, the same stages as smollm2-135m (few pages, two steps
    # each); not a usable pair.
    "smollm2-smoke": DocQARecipe(pages=4, max_chars=1500, teacher_tokens=4, teacher_batch=4, stage2={
        **_SMOLLM2_STAGE2, "latent_size": 16, "n_heads": 2, "head_dim": 8, "n_kv_heads": 1, "num_blocks": 1,
        "n_latent_queries": 4, "batch_size": 2, "steps": 2, "save_every": 0, "eval_every": 2, "eval_docs": 2,
        "progress": False}, copy_stage={"steps": 2, "eval_every": 2, "eval_docs": 2},
        long_stage={"steps": 2, "batch_size": 2, "eval_every": 2, "eval_docs": 2}, long_pages=2,
        long_max_chars=4000, prose_stage={"steps": 2, "batch_size": 2, "eval_every": 2, "eval_docs": 2},
        fresh_stage={"steps": 2, "fresh_share": 1.0}, prose_distill={"steps": 2, "eval_docs": 2, "manual_share": 0.5},
        distill_records=4, distill_manual=2, distill_eval=2, holdout_file=_HOLDOUT, calibration_docs=4,
        calibration_composed=2, calibration_pages=2),
}

# The shipped recipe, then the fresh-values stage (not shipped: see _SMOLLM2_FRESH).
DOCQA_PRESETS["smollm2-135m-fresh"] = replace(DOCQA_PRESETS["smollm2-135m"], fresh_stage=_SMOLLM2_FRESH)
# The shipped recipe, then the paper's objective on prose (not shipped): the base with the document in its
# prompt answers the questions a user asks (what it is about, who wrote it, its version, what a term means)
# of 450 training documents and 75 manual pages, and the student learns its top-k distribution from the prose
# stage's weights. Its LoRAs carried their document in the teacher's words (held-out loss 2.74 against 3.05
# with none), but held-out prose F1 fell (0.079 against 0.099 at 0.5) and manual pages lost their gain
# (F1 0.074 against 0.384 at 1): docs/recipes.md.
_SMOLLM2_PROSE_DISTILL = dict(steps=300, eval_every=50, save_every=20, eval_docs=24)
DOCQA_PRESETS["smollm2-135m-distill"] = replace(DOCQA_PRESETS["smollm2-135m"], prose_distill=_SMOLLM2_PROSE_DISTILL)
# The same distillation with a quarter of the draws renamed manual pages answered by cross-entropy (as in the
# prose stage), so that the copy slots keep the manual pages' gain while prose is distilled (not shipped: held
# out, manual-page F1 0.168 against the shipped 0.384, prose as with the distillation alone; docs/recipes.md).
DOCQA_PRESETS["smollm2-135m-distill-mix"] = replace(DOCQA_PRESETS["smollm2-135m"],
                                                    prose_distill={**_SMOLLM2_PROSE_DISTILL, "manual_share": 0.25})


def preset_names() -> list[str]:
    """Every preset, needle and real-document."""
    return [*PRESETS, *DOCQA_PRESETS]


def run_preset(name: str, out_dir: str | Path, log=print, base_model: str | Path | None = None) -> Path:
    """Run the whole recipe ``name`` into ``out_dir``; returns ``out_dir``.

    Real-document presets need ``base_model`` (the HF folder of the frozen base).
    """
    from transformers import AutoTokenizer

    from .base_lm import train_base
    from .corpus import build_corpus
    from .loop import train
    from .needle import Haystacks
    from .tokenizer import build_tokenizer

    if name in DOCQA_PRESETS:
        from .docqa_recipe import run_docqa_recipe

        if base_model is None:
            raise ValueError(f"Preset {name!r} trains on an existing base model: pass its folder (--base-model).")
        return run_docqa_recipe(name, DOCQA_PRESETS[name], base_model, out_dir, log=log)
    if name not in PRESETS:
        raise ValueError(f"Unknown preset {name!r}; choose one of {', '.join(preset_names())}.")
    preset, out = PRESETS[name], Path(out_dir)
    work = out / "work"
    stage = Stages(name, log)

    stage("corpus", work / "corpus" / "heldout.txt",
          lambda: log(build_corpus(work / "corpus", shipped_heldout=out / "heldout.txt")))
    stage("tokenizer", work / "tokenizer" / "tokenizer_config.json",
          lambda: build_tokenizer(work / "corpus" / "train.txt", work / "tokenizer", preset.vocab_size))

    def stage1() -> None:
        tok = AutoTokenizer.from_pretrained(work / "tokenizer")
        atomic_write(out / "base", lambda tmp: train_base(
            preset.base, tok, Haystacks.from_file(work / "corpus" / "train.txt", tok),
            Haystacks.from_file(work / "corpus" / "heldout.txt", tok), tmp, log=log))

    stage("stage 1 (base model)", out / "base" / "model.safetensors", stage1)

    def gguf() -> None:
        from converters import hf_to_gguf

        hf_to_gguf(out / "base", out / "model.gguf", outtype=preset.gguf_type)

    stage("GGUF", out / "model.gguf", gguf)

    def hypernet_stage(folder: str, overrides: dict, init_from: str = "") -> None:
        train(TrainConfig(base_model=str(out / "base"), out_dir=str(work / folder), base_record="../base",
                          train_file=str(work / "corpus" / "train.txt"), eval_file=str(work / "corpus" / "heldout.txt"),
                          seed=preset.base.seed, init_from=init_from, **overrides), log=log)

    stage("stage 2 (hypernetwork)", work / "hypernet" / "model.safetensors",
          lambda: hypernet_stage("hypernet", preset.stage2))
    last = work / "hypernet"
    if preset.stage2_long:
        stage("stage 2b (long documents)", work / "hypernet-long" / "model.safetensors",
              lambda: hypernet_stage("hypernet-long", {**preset.stage2, **preset.stage2_long}, init_from=str(work / "hypernet")))
        last = work / "hypernet-long"

    def publish(tmp: Path) -> None:
        tmp.mkdir(parents=True)
        for f in ("config.json", "model.safetensors", "training_config.json"):
            shutil.copy2(last / f, tmp / f)

    stage("hypernet", out / "hypernet" / "model.safetensors", lambda: atomic_write(out / "hypernet", publish))
    log(f"[{name}] done: {out} ({stage.summary()})")
    return out
