"""The scale a pair's adapters are applied at, chosen on the held-out split of the training sources.

A hypernetwork whose LoRAs do not bring the base's answers closer to what it answers with the document
in its prompt would, at full strength, turn a fluent answer into invented names. So the recipe asks
held-out documents the kinds of questions a user asks (``prose_qa.ASKED``: what it is about, who wrote
it, its version, what a term means), lets the base answer each with the document in its prompt (greedy),
and measures that answer's loss under the base with the document's own LoRA at a few scales and no
document (scale 0: the base alone). The best scale goes into the published ``config.json``
(``adapter_scale``); the app applies every adapter of the pair at it. The gold spans are not the
target: a LoRA that only learned to answer tersely would lower their loss and still answer users worse.
The evaluation sets are never read here (``prose_qa``'s held-out split is other sources).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from converters.files import atomic_write

from .config import TrainConfig

SCALES = (0.0, 0.25, 0.5, 0.75, 1.0)


def best_scale(losses: dict[float, float], margin: float = 0.01) -> float:
    """The scale of the lowest loss; a larger scale must beat every smaller one by ``margin`` nats (an
    adapter that changes the answers' likelihood by less than noise is not worth its risk)."""
    chosen = min(losses)
    for scale in sorted(losses):
        if losses[scale] < losses[chosen] - margin:
            chosen = scale
    return chosen


def measure(cfg: TrainConfig, hypernet_dir: str | Path, n_docs: int = 96,
            scales: Sequence[float] = SCALES, seed: int = 4321) -> dict[float, float]:
    """Loss of the document-in-prompt answers at each scale of the hypernetwork in ``hypernet_dir`` (its
    training config ``cfg``, whose ``eval_file`` is the held-out split), over ``n_docs`` questions."""
    from .loop import Trainer
    from .prose_qa import ASKED

    trainer = Trainer(replace(cfg, init_from=str(hypernet_dir), train_file=cfg.eval_file, manual_file="",
                              manual_share=0.0, progress=False))
    rng = random.Random(seed)
    asked = [replace(trainer.eval_task.sample(rng, kinds=ASKED), response=[]) for _ in range(n_docs)]
    read = [replace(ex, response=r) for ex, r in zip(asked, trainer._responses(asked)) if r]
    return trainer.scale_losses(read, scales)


def calibrate(cfg: TrainConfig, hypernet_dir: str | Path, record: Path, log: Callable[[str], None] = print,
              n_docs: int = 96) -> float:
    """Measure, choose and write ``record`` (JSON: the scale, every scale's loss, the documents read)."""
    losses = measure(cfg, hypernet_dir, n_docs)
    scale = best_scale(losses)
    measured = ", ".join(f"{s:g}: {v:.4f}" for s, v in losses.items())
    log(f"adapter scale: loss of the document-in-prompt answers, held-out sources {measured} -> {scale:g}")
    body = json.dumps({"adapter_scale": scale, "losses": {f"{s:g}": v for s, v in losses.items()},
                       "documents": n_docs, "split": cfg.eval_file}, indent=2)
    atomic_write(record, lambda tmp: tmp.write_text(body + "\n", encoding="utf-8"))
    return scale


def recorded_scale(record: Path) -> float | None:
    """The scale a calibration wrote into ``record``, or None when there is none."""
    if not record.is_file():
        return None
    return float(json.loads(record.read_text(encoding="utf-8"))["adapter_scale"])
