"""At what scale does a summed adapter break the model? The data behind ``app.chunks.adapter_scale``.

A long document's adapter sums its chunks' LoRAs; past some number of chunks the sum pushes the base
off its language and it answers word salad. The symptom is measurable without gold answers: the mean
per-token log-probability, under the base model alone, of what the model answers with the adapter
(fluent text scores about -2 to -3 nats a token; salad far lower). This script composes k chunks of
long held-out training-source texts (``hypernet.train.corpus``, never the evaluation sets) at scales
s and prints that log-probability per (k, s), greedy answers of the transformers base with the LoRA
applied (``hypernet.apply``), on this machine's CPU.

  python benchmarks/adapter_scale.py --docs 4 --ks 1,2,4,8,16,32 --scales 1,0.7,0.5,0.35
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks._machine import machine  # noqa: E402

QUESTIONS = ("What is this document about?", "What does the text say about its main subject?",
             "Who is the intended reader of this text?")


def long_texts(n_docs: int, chars: int, seed: int) -> list[str]:
    """``n_docs`` texts of about ``chars`` characters from held-out training sources, each a run of
    consecutive sources' paragraphs."""
    from hypernet.train.corpus import collect_sources, is_heldout

    paras = [p for s in collect_sources() if is_heldout(s.name) and not s.name.startswith("python:") for p in s.paragraphs]
    rng = random.Random(seed)
    out = []
    for _ in range(n_docs):
        start = rng.randrange(max(1, len(paras) - 400))
        text, i = "", start
        while len(text) < chars and i < len(paras):
            text, i = text + paras[i] + "\n\n", i + 1
        out.append(text.strip())
    return out


@torch.no_grad()
def answer_logprob(base, tok, A, B, alpha, layers, question: str, max_tokens: int) -> tuple[float, str]:
    """Greedy answer under the LoRA (A, B), and its mean per-token log-probability under the base alone."""
    from hypernet.apply import lora_applied
    from hypernet.train.data import chat_prompt

    prompt = chat_prompt(tok, question)
    ids = torch.tensor([prompt])
    with lora_applied(base, A, B, alpha, layers):
        out = base.generate(ids, max_new_tokens=max_tokens, do_sample=False, pad_token_id=tok.eos_token_id)
    answer = out[0, len(prompt):]
    answer = answer[answer != tok.eos_token_id]
    if len(answer) == 0:
        return 0.0, ""
    full = torch.cat([ids[0], answer]).unsqueeze(0)
    logp = base(input_ids=full).logits[0, len(prompt) - 1:-1].float().log_softmax(-1)
    return float(logp.gather(-1, answer.unsqueeze(-1)).mean()), tok.decode(answer)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pair", default=str(REPO / "assets" / "smollm2-135m"))
    p.add_argument("--docs", type=int, default=4)
    p.add_argument("--ks", default="1,2,4,8,16,32")
    p.add_argument("--scales", default="1,0.7,0.5,0.35")
    p.add_argument("--max-tokens", type=int, default=32)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=11)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    from transformers import AutoModelForCausalLM

    from hypernet.compose import select_chunks
    from hypernet.internalize import load_hypernet

    pair = Path(args.pair)
    hn = load_hypernet(pair / "hypernet", base_model=pair / "base")
    base = AutoModelForCausalLM.from_pretrained(pair / "base", dtype=torch.float32).eval()
    ks = [int(k) for k in args.ks.split(",")]
    scales = [float(s) for s in args.scales.split(",")]
    cells: dict[tuple[int, float], list[float]] = {}
    none = []
    rng = random.Random(args.seed)
    for text in long_texts(args.docs, 4000 * max(ks), args.seed):
        adapter = hn.internalize(text)
        for q in QUESTIONS:
            zero = torch.zeros_like(adapter.A[:, :1]), torch.zeros_like(adapter.B[:, :1])
            none.append(answer_logprob(base, hn.tokenizer, *zero, adapter.alpha, adapter.layer_indices, q, args.max_tokens)[0])
            for k in ks:
                if k > adapter.n_chunks:
                    continue
                part = select_chunks(adapter, sorted(rng.sample(range(adapter.n_chunks), k)))
                for s in scales:
                    lp, text_out = answer_logprob(base, hn.tokenizer, part.A, part.B * s, part.alpha,
                                                  part.layer_indices, q, args.max_tokens)
                    cells.setdefault((k, s), []).append(lp)
                    print(f"k={k:2d} s={s:.2f} lp={lp:6.2f} {text_out[:90]!r}", file=sys.stderr)
    print(f"# Adapter scale: base log-prob per answer token (nats), {machine()}")
    print(f"no adapter: {statistics.mean(none):.2f}")
    print("| chunks | " + " | ".join(f"scale {s:g}" for s in scales) + " |")
    print("|---:|" + "---:|" * len(scales))
    for k in ks:
        row = [statistics.mean(cells[(k, s)]) if (k, s) in cells else float("nan") for s in scales]
        print(f"| {k} | " + " | ".join(f"{v:.2f}" for v in row) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
