"""The real-document recipe: copy, long and prose stages on installed text, then the adapter scale.

Stages, each skipped when its output exists, so an interrupted run resumes:
1. data: training-split manual pages (``manpages``) -> ``work/pages.jsonl`` and one
   ``{"context", "prompt"}`` record per templated question -> ``work/train.jsonl``;
2. copy stage (every recipe has one): the hypernetwork first learns to carry a page at all, on
   pages renamed to a made-up command on every draw (``renamed``, plain cross-entropy on gold
   answers) -> ``work/copy``; the later stages start from it;
2b. long stage (when the recipe has one): the copy stage's hypernetwork fine-tuned the same way on
   long pages cut into chunks of the app's size, mixed with short ones (``work/pages-long.jsonl``)
   -> ``work/long``: every chunk's LoRA is summed, so each must answer only for what it holds;
2c. prose stage (when the recipe has one): the last stage's hypernetwork fine-tuned on ordinary installed
   text (documentation, licences, docstrings: ``prose_qa``) asked extractive questions in varied
   wordings, with the renamed manual pages mixed in (``manual_share``) -> ``work/prose``; sources the
   evaluation sets use are left out (``holdout_file``), and the eval is on held-out sources;
2d. fresh-values stage (when the recipe has one): the prose stage's hypernetwork fine-tuned on the same
   documents, where a name or number a question asks for is replaced on each draw by a made-up value
   throughout the document (``fresh_share``) -> ``work/fresh``;
2e. prose distillation (when the recipe has one): the last stage's hypernetwork learns the base's own
   document-in-prompt answers to the questions a user asks of the prose documents (and of manual pages),
   top-k distillation on the teacher's outputs (``prose_distill``; the teacher runs in llama.cpp on the
   pair's GGUF when there is one), with the renamed manual pages mixed in by cross-entropy when the stage
   sets ``manual_share`` (``data.MixedTask``) -> ``work/distill``;
2f. adapter scale (after a prose stage): the greedy answers to held-out prose sources' questions and to
   manual pages no stage read, under each document's LoRA at a few scales (0: the base alone), scored
   against their gold answers (``calibrate``) -> ``work/adapter_scale.json``;
3. publish: ``out/hypernet`` (config with the adapter scale, weights stored in bf16, training config).
"""

from __future__ import annotations

import json
import random
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from converters.files import atomic_write
from hypernet.doc_kind import PROSE

from .calibrate import calibrate, recorded_scales, unseen_pages
from .config import TrainConfig
from .stages import Stages
from .manpages import UNNAMED_QUESTIONS, collect, read_pages, write_pages
from .corpus import Source
from .prose_qa import Holdout, build_prose_data


def holdout_sources(path: str) -> Holdout:
    """What no training may read (``path``: the evaluation sets' holdout JSON): source-name prefixes (each
    listed path, each listed package's doc folder and, when it is installed, every file it installed:
    ``dpkg -L``) and fingerprints (sentences of the evaluation documents: a source holding one is left out)."""
    import subprocess

    if not path:
        return Holdout()
    spec = json.loads(Path(path).read_text(encoding="utf-8"))
    prefixes = set(spec.get("paths", []))
    for pkg in spec.get("packages", []):
        prefixes.add(f"/usr/share/doc/{pkg}/")
        listed = subprocess.run(["dpkg", "-L", pkg], capture_output=True, text=True, check=False)
        prefixes.update(f for f in listed.stdout.splitlines() if f.startswith("/usr/share/") and "." in Path(f).name)
    prints = [p for group in (spec.get("fingerprints") or {}).values() for p in group]
    return Holdout(frozenset(prefixes), tuple(prints))

SUMMARY_QUESTION = "Summarize the document in one sentence."
@dataclass
class DocQARecipe:
    """Sizes of one run of the recipe."""

    pages: int = 700  # training manual pages
    unnamed: bool = True  # also ask every page the UNNAMED_QUESTIONS (after all the named ones)
    max_chars: int = 2200  # longest page kept (about 550 tokens; longer documents come as several chunks)
    options_per_page: int = 2  # option questions asked of each page (at most)
    summary_fraction: float = 0.3  # pages also asked for a one-sentence summary
    teacher_tokens: int = 32  # longest teacher response (prose distillation)
    teacher_batch: int = 32  # the torch teacher's batch: decoding is per-step overhead on a CPU
    stage2: dict = field(default_factory=dict)  # TrainConfig overrides
    copy_stage: dict = field(default_factory=dict)  # overrides of stage2 for the copy stage ({}: none)
    long_stage: dict = field(default_factory=dict)  # overrides of the copy stage for the long stage ({}: none)
    long_pages: int = 300  # long training pages (long_min_chars..long_max_chars) for the long stage
    long_min_chars: int = 2200
    long_max_chars: int = 16000
    long_short_share: float = 0.4  # share of the long stage's pages that are short ones (one chunk, as before)
    prose_stage: dict = field(default_factory=dict)  # overrides of the long stage for the prose stage ({}: none)
    fresh_stage: dict = field(default_factory=dict)  # overrides of the prose stage for the fresh-values stage ({}: none)
    prose_distill: dict = field(default_factory=dict)  # overrides of the prose stage for the distillation stage ({}: none)
    distill_records: int = 900  # prose questions the distillation stage's teacher answers (2 per document),
    distill_manual: int = 150  # and manual-page questions of the training split (2 per page),
    distill_eval: int = 48  # and held-out prose questions for its eval (1 per document)
    calibration_docs: int = 40  # held-out prose questions the adapter scale is chosen on (``calibrate``),
    calibration_composed: int = 24  # more whose documents are cut into as many chunks as the app composes,
    calibration_pages: int = 32  # and manual pages of the training split that no stage read
    holdout_file: str = ""  # JSON {"packages": [...], "paths": [...]} of sources no training may read


def build_records(pages, rng: random.Random, options_per_page: int, summary_fraction: float,
                  unnamed: bool = False) -> list[dict]:
    """One ``{"context", "prompt", "kind", "page"}`` record per question asked of each page; with
    ``unnamed``, then each page's UNNAMED_QUESTIONS (last, so the named records keep their indices)."""
    records = []
    for page in pages:
        qas = [q for q in page.questions if q.kind != "option"]
        options = [q for q in page.questions if q.kind == "option"]
        qas += rng.sample(options, min(options_per_page, len(options)))
        prompts = [(q.kind, q.question) for q in qas]
        if rng.random() < summary_fraction:
            prompts.append(("summary", SUMMARY_QUESTION))
        records += [{"context": page.text, "prompt": p, "kind": k, "page": page.name} for k, p in prompts]
    if unnamed:
        records += [{"context": page.text, "prompt": p, "kind": k, "page": page.name}
                    for page in pages for k, p in UNNAMED_QUESTIONS.items()]
    return records


def publish_bf16(src: Path, dest: Path, base_record: str, scales: dict[str, float] | None = None) -> Path:
    """Copy a trained hypernetwork folder with its weights stored in bf16 (half the size), recording the
    scales its adapters are applied at when a calibration chose them (``calibrate``: the prose scale for
    every kind, and the kinds that differ)."""
    def write(tmp: Path) -> None:
        tmp.mkdir(parents=True)
        tensors = {k: v.to(torch.bfloat16) for k, v in load_file(str(src / "model.safetensors")).items()}
        save_file(tensors, str(tmp / "model.safetensors"))
        meta = json.loads((src / "config.json").read_text())
        meta["base_model_name_or_path"] = base_record
        if scales is not None:
            meta["adapter_scale"] = scales[PROSE]
            meta["adapter_scale_by_kind"] = {k: v for k, v in scales.items() if v != scales[PROSE]}
        (tmp / "config.json").write_text(json.dumps(meta, indent=2))
        shutil.copy2(src / "training_config.json", tmp / "training_config.json")

    return atomic_write(dest, write)


def _prose_distill_stage(name: str, recipe: DocQARecipe, stage: Stages, work: Path, base_model: Path,
                         trained: Path, last_cfg: TrainConfig, seed: int, log) -> Path:
    """Data, teacher and training of the prose distillation stage; returns its weights' folder."""
    from . import prose_distill as pd
    from .loop import train
    from .teacher import precompute, precompute_gguf

    folder, prose = work / "distill-data", work / "prose-data"
    parts = ("train", "heldout")

    def data() -> None:
        folder.mkdir(parents=True, exist_ok=True)
        train_recs = pd.prose_records(prose / "train.jsonl", recipe.distill_records, 2, random.Random(seed))
        train_recs += pd.manual_records(work / "train.jsonl", recipe.distill_manual, 2, random.Random(seed + 1))
        held = pd.prose_records(prose / "heldout.jsonl", recipe.distill_eval, 1, random.Random(seed))
        pd.write_records(held, folder / "heldout.jsonl")
        pd.write_records(train_recs, folder / "train.jsonl")
        log(f"[{name}] distillation data: {len(train_recs)} questions, {recipe.distill_eval} held out")

    def teacher() -> None:
        gguf = base_model.parent / "model.gguf"  # the pair's chat model: the same weights as the base folder
        tokens, top_k = recipe.teacher_tokens, last_cfg.top_k
        for part in parts:
            if gguf.is_file():
                precompute_gguf(gguf, base_model, folder / f"{part}.jsonl", folder / f"{part}-teacher.jsonl",
                                max_new_tokens=tokens, top_k=top_k, log=log)
            else:
                precompute(base_model, folder / f"{part}.jsonl", folder / f"{part}-teacher.jsonl",
                           max_new_tokens=tokens, top_k=top_k, batch_size=recipe.teacher_batch, log=log)
        (folder / "teacher.done").write_text("ok\n")

    stage("distillation data", folder / "train.jsonl", data)
    stage("distillation teacher", folder / "teacher.done", teacher)
    cfg = replace(last_cfg, objective="distill", out_dir=str(work / "distill"), init_from=str(trained),
                  train_file=str(folder / "train.jsonl"), teacher_file=str(folder / "train-teacher.jsonl"),
                  eval_file=str(folder / "heldout.jsonl"), eval_teacher_file=str(folder / "heldout-teacher.jsonl"),
                  **{"manual_share": 0.0, "fresh_share": 0.0, **recipe.prose_distill})  # manual_share: pages mixed in
    stage("prose distillation stage", work / "distill" / "model.safetensors", lambda: train(cfg, log=log))
    return work / "distill"


def run_docqa_recipe(name: str, recipe: DocQARecipe, base_model: str | Path, out_dir: str | Path, seed: int = 0,
                     log=print) -> Path:
    """Run the recipe on ``base_model`` (an HF folder) into ``out_dir``; returns ``out_dir``."""
    from .loop import train

    if not recipe.copy_stage:
        raise ValueError(f"Recipe {name!r} has no copy stage: it would train nothing.")
    out, base_model = Path(out_dir), Path(base_model)
    work = out / "work"
    work.mkdir(parents=True, exist_ok=True)
    stage = Stages(name, log)

    holdout = holdout_sources(recipe.holdout_file)

    def data() -> None:
        pages = [p for p in collect(heldout=False, limit=recipe.pages, seed=seed, max_chars=recipe.max_chars)
                 if not holdout.excludes(Source(p.path, []))]
        write_pages(pages, work / "pages.jsonl")
        records = build_records(pages, random.Random(seed), recipe.options_per_page, recipe.summary_fraction,
                                recipe.unnamed)
        text = "".join(json.dumps(r) + "\n" for r in records)
        atomic_write(work / "train.jsonl", lambda tmp: tmp.write_text(text, encoding="utf-8"))
        log(f"[{name}] data: {len(pages)} pages, {len(records)} questions")

    def long_data() -> None:
        long = [p for p in collect(heldout=False, limit=recipe.long_pages, seed=seed + 1, min_chars=recipe.long_min_chars,
                                   max_chars=recipe.long_max_chars) if not holdout.excludes(Source(p.path, []))]
        short = read_pages(work / "pages.jsonl")
        n_short = round(len(long) * recipe.long_short_share / max(1e-9, 1 - recipe.long_short_share))
        mixed = long + random.Random(seed).sample(short, min(n_short, len(short)))
        random.Random(seed).shuffle(mixed)
        write_pages(mixed, work / "pages-long.jsonl")
        log(f"[{name}] long data: {len(long)} long pages, {len(mixed) - len(long)} short ones")

    stage("data", work / "train.jsonl", data)
    overrides = {**recipe.stage2, "objective": "rename", **recipe.copy_stage}
    copy_cfg = TrainConfig(base_model=str(base_model), out_dir=str(work / "copy"), train_file=str(work / "pages.jsonl"),
                           eval_file=str(work / "pages.jsonl"), base_record="../base", seed=seed, **overrides)
    stage("copy stage (renamed pages)", work / "copy" / "model.safetensors", lambda: train(copy_cfg, log=log))
    trained = work / "copy"
    if recipe.long_stage:
        stage("long data", work / "pages-long.jsonl", long_data)
        long_cfg = replace(copy_cfg, out_dir=str(work / "long"), train_file=str(work / "pages-long.jsonl"),
                           eval_file=str(work / "pages-long.jsonl"), init_from=str(work / "copy"),
                           **recipe.long_stage)
        stage("long stage (long renamed pages)", work / "long" / "model.safetensors",
              lambda: train(long_cfg, log=log))
        trained = work / "long"
    if recipe.prose_stage:
        prose = work / "prose-data"
        stage("prose data", prose / "heldout.jsonl",
              lambda: log(f"[{name}] prose data: {build_prose_data(prose, seed, holdout)}"))
        prose_cfg = replace(long_cfg if recipe.long_stage else copy_cfg, objective="prose",
                            out_dir=str(work / "prose"), train_file=str(prose / "train.jsonl"),
                            eval_file=str(prose / "heldout.jsonl"), init_from=str(trained),
                            manual_file=str(work / ("pages-long.jsonl" if recipe.long_stage else "pages.jsonl")),
                            **recipe.prose_stage)
        stage("prose stage (ordinary text)", work / "prose" / "model.safetensors", lambda: train(prose_cfg, log=log))
        trained, last_cfg = work / "prose", prose_cfg
        if recipe.fresh_stage:
            fresh_cfg = replace(prose_cfg, out_dir=str(work / "fresh"), init_from=str(work / "prose"),
                                **recipe.fresh_stage)
            stage("fresh-values stage (made-up names and numbers)", work / "fresh" / "model.safetensors",
                  lambda: train(fresh_cfg, log=log))
            trained, last_cfg = work / "fresh", fresh_cfg
        if recipe.prose_distill:
            # the adapter scale reads the prose stage's held-out split: its config stays the last one
            trained = _prose_distill_stage(name, recipe, stage, work, base_model, trained, last_cfg, seed, log)
        stage("adapter scale (held-out sources)", work / "adapter_scale.json",
              lambda: calibrate(last_cfg, trained, work / "adapter_scale.json",
                                unseen_pages([work / "pages.jsonl", work / "pages-long.jsonl"],
                                             recipe.calibration_pages, seed + 7),
                                log=log, n_docs=recipe.calibration_docs,
                                composed_docs=recipe.calibration_composed))
    stage("hypernet", out / "hypernet" / "model.safetensors",
          lambda: publish_bf16(trained, out / "hypernet", "../base", recorded_scales(work / "adapter_scale.json")))
    log(f"[{name}] done: {out} ({stage.summary()})")
    return out
