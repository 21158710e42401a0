"""Needle in one of several selected documents: composing document adapters through llama.cpp.

Each trial draws one needle document and 7 needle-free haystacks from the pair's held-out text
(each --tokens long, 4x the demo pair's 256-token window), internalizes them, and asks the
needle question with the needle document and n - 1 haystacks selected, n = 1, 2, 4, 8 (the
needle document's position is random). Methods:
  sum     every document's adapter active in llama.cpp at scale 1 (bias block once per document)
  once    one composed adapter with the bias block once (hypernet.compose)
  once-c  'once' compressed to --max-rank (exact truncated SVD) when its rank exceeds it
Also the switch cost between two cached selections (ChatEngine.use, KV reset included).

  python benchmarks/compose.py                 # 20 trials per size
  python benchmarks/compose.py --trials 5 --sizes 2,8
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from app.chat import ChatEngine  # noqa: E402
from benchmarks._machine import machine  # noqa: E402
from app.settings import Settings  # noqa: E402
from converters import adapter_to_gguf  # noqa: E402
from hypernet import load_hypernet  # noqa: E402
from hypernet.compose import compose  # noqa: E402
from hypernet.compress import compress_adapter  # noqa: E402
from hypernet.train.needle import QUESTION, Haystacks, extract_answer  # noqa: E402

METHODS = ("sum", "once", "once-c")


def ask(engine: ChatEngine, files: list[str]) -> str:
    """The digits of the answer to the needle question under these adapters."""
    reply = "".join(engine.generate([{"role": "user", "content": QUESTION}], files))
    return extract_answer(reply)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pair", default=str(REPO / "assets" / "tiny-needle"))
    p.add_argument("--trials", type=int, default=20)
    p.add_argument("--sizes", default="1,2,4,8")
    p.add_argument("--tokens", type=int, default=1024)
    p.add_argument("--max-rank", type=int, default=Settings().max_composed_rank)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=2026)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    pair = Path(args.pair)
    sizes = [int(x) for x in args.sizes.split(",")]
    hn = load_hypernet(pair / "hypernet", device="cpu")
    hay = Haystacks.from_file(pair / "heldout.txt", hn.tokenizer)
    engine = ChatEngine(pair / "model.gguf", Settings(max_tokens=8, n_threads=args.threads),
                        cache_size=2 * max(sizes))
    rng = random.Random(args.seed)
    hits = {(m, n): 0 for m in METHODS for n in sizes}
    ranks: dict[tuple[str, int], int] = {}
    switch_ms: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)

        def gguf(adapter, name: str) -> str:
            return str(adapter_to_gguf(adapter, out / f"{name}.gguf", base_gguf=pair / "model.gguf"))

        for t in range(args.trials):
            needle = hay.document(rng, args.tokens)
            texts = [needle.text] + [hay.haystack(rng, args.tokens) for _ in range(max(sizes) - 1)]
            adapters = [hn.internalize(x, snap_to_sentences=True) for x in texts]
            files = [gguf(a, f"t{t}-d{i}") for i, a in enumerate(adapters)]
            for n in sizes:
                picked = list(range(n))
                rng.shuffle(picked)  # the needle document anywhere in the selection
                chosen = [adapters[i] for i in picked]
                once = compose(chosen, bias="once")
                small = compress_adapter(once, args.max_rank).adapter
                runs = {"sum": [files[i] for i in picked], "once": [gguf(once, f"t{t}-n{n}")],
                        "once-c": [gguf(small, f"t{t}-n{n}-c")]}
                ranks[("sum", n)] = sum(a.rank for a in chosen)
                ranks[("once", n)], ranks[("once-c", n)] = once.rank, small.rank
                for method, selection in runs.items():
                    hits[(method, n)] += ask(engine, selection) == needle.answer
            # Switch cost between two cached selections (the adapters are loaded already).
            a_sel, b_sel = files[:2], files[2:4] if len(files) >= 4 else files[:1]
            engine.use(a_sel)
            engine.use(b_sel)
            for _ in range(5):
                for sel in (a_sel, b_sel):
                    start = time.perf_counter()
                    engine.use(sel)
                    switch_ms.append((time.perf_counter() - start) * 1000)
            print(f"trial {t + 1}/{args.trials} done", file=sys.stderr, flush=True)
    print(f"machine: {machine(f'{args.threads} threads')}; {args.trials} trials per size, "
          f"documents of {args.tokens} tokens; base loads {engine.base_loads}")
    print("| documents | method | rank | accuracy |")
    print("|---:|---|---:|---:|")
    for n in sizes:
        for method in METHODS:
            print(f"| {n} | {method} | {ranks[(method, n)]} | {hits[(method, n)] / args.trials:.0%} |")
    print(f"\nswitch between cached selections of 2 documents: median "
          f"{statistics.median(switch_ms):.2f} ms, max {max(switch_ms):.2f} ms")
    engine.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
