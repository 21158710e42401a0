"""App-core benchmark: add -> chat-ready time, adapter switch vs base reload, time to first token.

    .venv/bin/python benchmarks/app.py [--model NAME] [--pages 1,4,16] [--switches 50]

Runs in a throw-away DOCLORA_HOME with PDFs generated on the fly (needle in prose), using the
active model pair (default: the bundled demo tiny-needle). Prints a table and the machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._machine import machine  # noqa: E402

PROSE = ("The harbour town woke slowly on winter mornings. Fishermen checked their nets by "
         "lamplight while the bakery on the corner filled the street with the smell of bread. "
         "Most visitors came for the lighthouse, although few of them climbed to the top. ")
QUESTION = "What is the special magic number? Reply with only the number."


def make_pdf(path: Path, pages: int, number: int) -> Path:
    """A PDF of ``pages`` pages of prose, the needle on the middle page."""
    import pymupdf
    doc = pymupdf.open()
    for i in range(pages):
        text = PROSE * 3
        if i == pages // 2:
            text += f"The special magic number is {number}. " + PROSE
        doc.new_page().insert_textbox(pymupdf.Rect(56, 56, 540, 800), text, fontsize=10)
    doc.save(str(path))
    doc.close()
    return path


def pct(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of values."""
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--pages", default="1,4,16")
    parser.add_argument("--switches", type=int, default=50)
    parser.add_argument("--reloads", type=int, default=5)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="doclora-bench-"))
    os.environ["DOCLORA_HOME"] = str(home)
    import torch
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    from app.api import DocLoRA
    from app.chat import ChatEngine

    app = DocLoRA(args.model)
    rows: list[tuple[str, str]] = []
    t = time.perf_counter()
    app.ingestor.hypernet  # noqa: B018  (load once; reported separately)
    rows.append(("hypernetwork load (once per session)", f"{time.perf_counter() - t:.2f} s"))

    t = time.perf_counter()
    app.add(make_pdf(home / "warmup.pdf", 1, 999))  # first forward passes, tokenizer, writer
    rows.append(("first add of the session (1 page, warm-up)", f"{time.perf_counter() - t:.2f} s"))
    docs = []
    for i, pages in enumerate(int(p) for p in args.pages.split(",")):
        pdf = make_pdf(home / f"doc{pages}.pdf", pages, 1000 + i)
        stages: dict[str, float] = {}  # seconds spent in each ingestion stage
        last = [None, time.perf_counter()]

        def progress(event, stages=stages, last=last) -> None:
            now = time.perf_counter()
            if last[0] is not None:
                stages[last[0]] = stages.get(last[0], 0.0) + now - last[1]
            last[:] = [event.stage, now]

        t = time.perf_counter()
        doc = app.add(pdf, progress=progress)
        dt = time.perf_counter() - t
        docs.append(doc)
        rows.append((f"add -> chat-ready, {pages} pages / {doc.tokens} tokens (rank {doc.adapter.rank})",
                     f"{dt:.2f} s = {dt / pages:.3f} s/page = {dt / doc.tokens * 1000:.3f} s/1k tok"))
        rows.append(("  by stage", ", ".join(f"{k} {v:.2f} s" for k, v in stages.items())))

    engine: ChatEngine = app.engine
    t = time.perf_counter()
    engine.use(None)
    rows.append(("base GGUF first load", f"{(time.perf_counter() - t) * 1000:.1f} ms"))
    loads = []
    for d in docs:
        t = time.perf_counter()
        engine.use(d.adapter.file)
        loads.append(time.perf_counter() - t)
    rows.append(("adapter first load + activate (mean)",
                 f"{statistics.mean(loads) * 1000:.2f} ms over {len(loads)}"))
    switches = []
    targets = [d.adapter.file for d in docs] if len(docs) > 1 else [docs[0].adapter.file, None]
    for k in range(args.switches):
        t = time.perf_counter()
        engine.use(targets[k % len(targets)])  # always a different one than before
        switches.append(time.perf_counter() - t)
    rows.append(("adapter switch (cached, incl. KV reset)",
                 f"p50 {pct(switches, .5) * 1000:.3f} ms, p95 {pct(switches, .95) * 1000:.3f} ms"))
    reloads = []
    from converters.llama import open_model
    for _ in range(args.reloads):
        t = time.perf_counter()
        llm = open_model(app.pair.gguf, n_ctx=app.settings.n_ctx)
        reloads.append(time.perf_counter() - t)
        llm.close()
    rows.append(("reloading the base instead (open_model(...))",
                 f"p50 {pct(reloads, .5) * 1000:.1f} ms, p95 {pct(reloads, .95) * 1000:.1f} ms"))

    ttft, totals, correct = [], [], 0
    for k in range(10):
        d = docs[k % len(docs)]
        t = time.perf_counter()
        first = None
        text = ""
        for piece in engine.generate([{"role": "user", "content": QUESTION}], d.adapter.file):
            first = first or time.perf_counter()
            text += piece
        totals.append(time.perf_counter() - t)
        ttft.append((first or time.perf_counter()) - t)
        correct += str(1000 + docs.index(d)) in text
    rows.append(("time to first token (after a switch)",
                 f"p50 {pct(ttft, .5) * 1000:.1f} ms, p95 {pct(ttft, .95) * 1000:.1f} ms"))
    rows.append(("whole answer", f"p50 {pct(totals, .5) * 1000:.1f} ms; needle found {correct}/10"))
    app.close()
    shutil.rmtree(home, ignore_errors=True)

    width = max(len(r[0]) for r in rows)
    print(f"DocLoRA app benchmark: model pair {app.pair.name}, device {engine.device}")
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    print(f"machine: {machine(gpu, f'Python {platform.python_version()}')}")
    print("-" * (width + 50))
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
