"""The scale a pair's adapters are applied at, chosen on held-out training sources.

A hypernetwork whose LoRAs make the answers worse would, at full strength, turn a fluent answer into
invented names; one whose LoRAs help should not be muted. So the recipe asks documents that no stage
trained on the kinds of questions a user asks, with gold answers taken from their own text: held-out
prose sources (``prose_qa.ASKED``: who wrote it, its version, what a term means, its copyright), the
same cut into as many chunks as the app composes for one question (their LoRAs summed), and manual
pages of the training split that no stage read (what the command is called, what it does, an option).
Each is answered greedily (ended where the chat's turn ends, as llama.cpp does) under the base with
the document's own LoRA at a few scales, scale 0 being the base alone, no document, and scored against
the gold answers (token F1, gold recall); the share of answers holding an invented name (a name-like
word that neither the document, the question nor the base's own answer holds) is recorded beside them.
Each kind of document (``hypernet.doc_kind``: prose, its 1-3-chunk and 4-chunk questions together;
manual pages) gets the scale that is best on average among those never worse than no document on any of
its kinds of question (``choose``); the published
``config.json`` records them (``adapter_scale``: prose's, for every kind; ``adapter_scale_by_kind``:
the kinds that differ) and the app applies each document's adapter at its kind's scale.

An earlier version chose by the loss of the base's own document-in-prompt answers (0.25 for the prose
stage; docs/recipes.md has both measurements). The evaluation sets are never read here (``prose_qa``'s
held-out split is other sources; the evaluation's manual pages are the held-out split, never drawn here).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from converters.files import atomic_write
from hypernet.doc_kind import MANUAL_PAGE, PROSE

from .config import TrainConfig

SCALES = (0.0, 0.25, 0.5, 0.75, 1.0)


def best_scale(losses: dict[float, float], margin: float = 0.01) -> float:
    """The scale of the lowest loss (a negated score); a larger scale must beat every smaller one by
    ``margin`` (an adapter that changes the answers by less than noise is not worth its risk)."""
    chosen = min(losses)
    for scale in sorted(losses):
        if losses[scale] < losses[chosen] - margin:
            chosen = scale
    return chosen


def unseen_pages(seen: Sequence[str | Path], n: int, seed: int) -> list:
    """``n`` manual pages of the training split that none of the ``seen`` page files (JSONL) holds."""
    from .manpages import collect, read_pages

    names = frozenset(p.name for f in seen if Path(f).is_file() for p in read_pages(Path(f)))
    return collect(heldout=False, limit=n, seed=seed, exclude=names)


def measure(cfg: TrainConfig, hypernet_dir: str | Path, pages: Sequence, n_docs: int = 40, composed_docs: int = 24,
            composed_chunks: int = 4, scales: Sequence[float] = SCALES,
            seed: int = 4321) -> dict[str, dict[float, tuple[float, ...]]]:
    """(F1, gold recall, share with an invented name) of the greedy answers at each scale of the hypernetwork in ``hypernet_dir`` (its
    training config ``cfg``, whose ``eval_file`` is the held-out prose split), per kind: ``n_docs`` prose
    questions (documents of 1 to 3 chunks, as trained), ``composed_docs`` more whose documents are cut into
    ``composed_chunks`` chunks (the most the app composes for one question: their LoRAs are summed), and
    one question about each of the manual ``pages``."""
    from .data import Example, affix_tokens, chat_prompt, context_chunks, response_ids
    from .loop import Trainer
    from .prose_qa import ASKED

    trainer = Trainer(replace(cfg, init_from=str(hypernet_dir), train_file=cfg.eval_file, manual_file="",
                              manual_share=0.0, progress=False))
    rng = random.Random(seed)
    prose = [trainer.eval_task.sample(rng, kinds=ASKED) for _ in range(n_docs)]
    trainer.eval_task.probs = [0.0] * (composed_chunks - 1) + [1.0]
    composed = [trainer.eval_task.sample(rng, kinds=ASKED) for _ in range(composed_docs)]
    manual = []
    for page in pages:
        qa = rng.choice(page.questions)
        chunks = context_chunks(trainer.tok, page.text, rng, cfg.max_chunk_tokens, [1.0], affix_tokens(trainer.tok),
                                cfg.snap_to_sentences, single=True)
        manual.append(Example(chunks, chat_prompt(trainer.tok, qa.question),
                              response_ids(trainer.tok, qa.question, qa.answer), []))
    return {PROSE: trainer.scale_scores(prose, scales),
            f"{PROSE} in {composed_chunks} chunks": trainer.scale_scores(composed, scales),
            MANUAL_PAGE: trainer.scale_scores(manual, scales)}


def combined(scores: dict[str, dict[float, tuple[float, ...]]]) -> dict[float, float]:
    """Each scale's mean of F1 and gold recall over the kinds (each kind counts alike)."""
    scales = next(iter(scores.values()))
    return {s: sum(sum(kind[s][:2]) / 2 for kind in scores.values()) / len(scores) for s in scales}


def choose(scores: dict[str, dict[float, tuple[float, ...]]], margin: float = 0.01) -> float:
    """The scale to publish: among the scales whose answers, on every kind, lose no more than ``margin``
    of F1 or of gold recall against the base alone (never worse than no document), the best on average
    (``combined``; a larger scale must beat each smaller one by ``margin``). The share of answers with an
    invented name is recorded, not used: as a rule (no more often than the base) it gave the shipped
    pair 0 for manual pages too, whose adapters lift F1 4-5x (docs/recipes.md)."""
    total = combined(scores)
    return best_scale({s: -v for s, v in total.items()
                       if all(by[s][0] >= by[0.0][0] - margin and by[s][1] >= by[0.0][1] - margin
                              for by in scores.values())}, margin)


def calibrate(cfg: TrainConfig, hypernet_dir: str | Path, record: Path, pages: Sequence,
              log: Callable[[str], None] = print, n_docs: int = 40, composed_docs: int = 24) -> dict[str, float]:
    """Measure, choose a scale per kind of document (prose: its questions in 1-3 chunks and in 4; manual
    pages) and write ``record`` (JSON: the scales, every kind's scores, what was read)."""
    scores = measure(cfg, hypernet_dir, pages, n_docs, composed_docs)
    scales = {PROSE: choose({k: v for k, v in scores.items() if k != MANUAL_PAGE}),
              MANUAL_PAGE: choose({MANUAL_PAGE: scores[MANUAL_PAGE]})}
    for kind, by_scale in scores.items():
        measured = ", ".join(f"{s:g}: {f1:.3f}/{rec:.3f}/{inv:.3f}" for s, (f1, rec, inv) in by_scale.items())
        log(f"adapter scale: {kind}, F1/gold recall/share with an invented name of the greedy answers (held out) "
            f"{measured}")
    log(f"adapter scale: -> {', '.join(f'{k} {v:g}' for k, v in scales.items())}")
    body = json.dumps({"adapter_scales": scales,
                       "scores": {k: {f"{s:g}": list(v) for s, v in by.items()} for k, by in scores.items()},
                       "prose_questions": n_docs, "composed_questions": composed_docs,
                       "manual_pages": [p.name for p in pages], "split": cfg.eval_file}, indent=2)
    atomic_write(record, lambda tmp: tmp.write_text(body + "\n", encoding="utf-8"))
    return scales


def recorded_scales(record: Path) -> dict[str, float] | None:
    """The scales (per kind of document) a calibration wrote into ``record``, or None when there is none."""
    if not record.is_file():
        return None
    return {k: float(v) for k, v in json.loads(record.read_text(encoding="utf-8"))["adapter_scales"].items()}
