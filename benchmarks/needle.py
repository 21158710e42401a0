"""Needle-in-a-haystack benchmark of a model pair (default: the bundled tiny-needle).

Accuracy (exact 4 digits) on held-out documents at 1x..16x the native window, for:
  d2l        the D2L adapter through llama.cpp (the product path; question only in the prompt)
  d2l-select the chunks the question points to (app.chunks.choose: the opening chunk and the best
             BM25 matches, --max-chunks at most), as the app answers a long document
  d2l-c      the same adapter compressed to --compress-rank (default: the app's max_adapter_rank);
             d2l-c16 etc. compress to the rank in the name
  prompt     the whole document in the prompt through llama.cpp
  none       the question alone (no context)
  cd         per-document gradient descent: a rank-8 LoRA on down_proj of every layer trained on
             the document's chunks (next-token loss, templated like the hypernet's input), then
             answered through llama.cpp like d2l
  retrieval  the chunk sharing most words with the question, in the prompt
Columns: accuracy, update latency (document -> ready adapter/index), peak extra memory during
the method (RSS above the level before it), time to first token.

  python benchmarks/needle.py                      # 100 documents per length
  python benchmarks/needle.py --n 20 --cd-n 5 --lengths 256,1024
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import sys
import threading
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks._machine import machine  # noqa: E402
from hypernet import DocumentAdapter, load_hypernet  # noqa: E402
from hypernet.apply import lora_applied  # noqa: E402
from hypernet.compress import DEFAULT_MAX_ADAPTER_RANK, compress_adapter  # noqa: E402
from hypernet.train.llama_eval import ask, ask_with_adapter, open_llama  # noqa: E402
from hypernet.train.needle import QUESTION, Haystacks  # noqa: E402

METHODS = ("d2l", "d2l-select", "d2l-c", "prompt", "none", "cd", "retrieval")


class PeakRSS:
    """Samples this process's resident memory in a thread; ``peak_mb`` is the rise above the start."""

    def __enter__(self) -> "PeakRSS":
        self.start = self.peak = _rss()
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, _rss())

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, _rss())

    @property
    def peak_mb(self) -> float:
        return (self.peak - self.start) / 2**20


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def context_distill(hn, text: str, steps: int, lr: float, rank: int = 8) -> DocumentAdapter:
    """Rank-``rank`` LoRA on down_proj of every layer, fitted to the document by gradient descent."""
    from transformers import AutoModelForCausalLM

    if not hasattr(hn, "_cd_model"):
        hn._cd_model = AutoModelForCausalLM.from_pretrained(hn.base_model_path).eval().requires_grad_(False)
    model = hn._cd_model
    cfg = model.config
    L, d_in, d_out = cfg.num_hidden_layers, cfg.intermediate_size, cfg.hidden_size
    A = (torch.randn(L, rank, d_in) / d_in**0.5).requires_grad_()
    B = torch.zeros(L, rank, d_out, requires_grad=True)
    opt = torch.optim.Adam([A, B], lr=lr)
    chunks = hn.chunk_text(text)
    width = max(map(len, chunks))
    ids = torch.tensor([c + [0] * (width - len(c)) for c in chunks])
    mask = torch.tensor([[1] * len(c) + [0] * (width - len(c)) for c in chunks])
    for _ in range(steps):
        with lora_applied(model, A, B, 1.0):
            logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1]
        target = ids[:, 1:].masked_fill(mask[:, 1:] == 0, -100)
        loss = torch.nn.functional.cross_entropy(logits.transpose(1, 2), target, ignore_index=-100)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return DocumentAdapter(A=A.detach(), B=B.detach(), alpha=1.0, n_chunks=len(chunks),
                           layer_indices=list(range(L)), base_model=str(hn.base_model_path))


def best_chunk(hn, text: str) -> str:
    """Retrieval: the ~chunk-sized slice of the document sharing most words with the question."""
    words = set(re.findall(r"[a-z]+", QUESTION.lower())) - {"what", "is", "the", "with", "only", "reply"}
    budget = hn.max_chunk_tokens - 40
    ids = hn.tokenizer(text, add_special_tokens=False)["input_ids"]
    pieces = [hn.tokenizer.decode(ids[i: i + budget]) for i in range(0, len(ids), budget // 2)]
    return max(pieces, key=lambda p: len(words & set(re.findall(r"[a-z]+", p.lower()))))


def selected(hn, text: str, adapter: DocumentAdapter, max_chunks: int) -> DocumentAdapter:
    """The adapter of the chunks the question points to, as ``DocLoRA.selection`` picks them."""
    from app.chunks import choose
    from hypernet.compose import select_chunks

    chunks = hn.chunk_text(text, snap_to_sentences=True)
    texts = [text[a:b] for a, b in hn.chunk_spans(text, chunks)]
    return select_chunks(adapter, choose(texts, QUESTION, max_chunks))


def run_method(method: str, docs, hn, llm, gguf: Path, args) -> dict:
    """Accuracy and timings of one method on a list of documents."""
    hits, update, ttft = 0, [], []
    with PeakRSS() as mem:
        for doc in docs:
            t0 = time.perf_counter()
            if method == "cd" or method.startswith("d2l"):
                if method == "cd":
                    adapter = context_distill(hn, doc.text, args.cd_steps, args.cd_lr)
                else:
                    adapter = hn.internalize(doc.text, snap_to_sentences=True)  # as the app does
                if method == "d2l-select":
                    adapter = selected(hn, doc.text, adapter, args.max_chunks)
                if method.startswith("d2l-c"):
                    adapter = compress_adapter(adapter, int(method[5:] or args.compress_rank)).adapter
                prep = time.perf_counter() - t0
                reply, load_s = ask_with_adapter(llm, adapter, gguf)
                update.append(prep + load_s)
            elif method == "prompt":
                reply = ask(llm, f"{doc.text} {QUESTION}")
            elif method == "retrieval":
                chunk = best_chunk(hn, doc.text)
                update.append(time.perf_counter() - t0)
                reply = ask(llm, f"{chunk} {QUESTION}")
            else:
                reply = ask(llm)
            hits += reply.answer == doc.answer
            ttft.append(reply.ttft_s)
    med = lambda xs: statistics.median(xs) if xs else None  # noqa: E731
    return {"n": len(docs), "accuracy": hits / len(docs), "update_s": med(update),
            "peak_mb": mem.peak_mb, "ttft_s": med(ttft)}


def _fmt(v, spec: str) -> str:
    return "n/a" if v is None else format(v, spec)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print a markdown table."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pair", default=str(REPO / "assets" / "tiny-needle"))
    p.add_argument("--heldout", default=None, help="held-out corpus file (default: PAIR/heldout.txt)")
    p.add_argument("--lengths", default="256,512,1024,2048,4096")
    p.add_argument("--methods", default="d2l,prompt,none,cd,retrieval")
    p.add_argument("--n", type=int, default=100, help="documents per length")
    p.add_argument("--cd-n", type=int, default=10, help="documents per length for cd (slow)")
    p.add_argument("--cd-steps", type=int, default=40)
    p.add_argument("--cd-lr", type=float, default=3e-3)
    p.add_argument("--max-chunks", type=int, default=4, help="d2l-select: chunks a question activates")
    p.add_argument("--compress-rank", type=int, default=DEFAULT_MAX_ADAPTER_RANK)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--json", default=None, help="also write the results here")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    pair = Path(args.pair)
    gguf = pair / "model.gguf"
    hn = load_hypernet(pair / "hypernet", device="cpu")
    hay = Haystacks.from_file(Path(args.heldout) if args.heldout else pair / "heldout.txt", hn.tokenizer)
    lengths = [int(x) for x in args.lengths.split(",")]
    methods = [m for m in args.methods.split(",") if m]
    unknown = {m for m in methods if m not in METHODS and not re.fullmatch(r"d2l-c\d+", m)}
    if unknown:
        p.error(f"unknown methods {sorted(unknown)}; choose from {', '.join(METHODS)}")
    llm = open_llama(gguf, n_ctx=max(lengths) + 128, threads=args.threads)
    results = []
    print(f"machine: {machine(f'torch threads {args.threads}')}")
    print("| length | method | docs | accuracy | update latency (s) | peak extra memory (MB) | time to first token (s) |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for n_tokens in lengths:
        rng = random.Random(args.seed + n_tokens)
        docs = [hay.document(rng, n_tokens) for _ in range(args.n)]
        for method in methods:
            subset = docs[: args.cd_n] if method == "cd" else docs
            r = {"length": n_tokens, "method": method, **run_method(method, subset, hn, llm, gguf, args)}
            results.append(r)
            print(f"| {n_tokens} | {method} | {r['n']} | {r['accuracy']:.1%} | {_fmt(r['update_s'], '.3f')} | "
                  f"{r['peak_mb']:.0f} | {_fmt(r['ttft_s'], '.3f')} |", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
