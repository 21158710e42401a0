"""llama.cpp speed with and without its extra CPU buffer types (AMX tiles, repacked weights).

A random-weight Llama (hidden 1024, intermediate 3072, 8 layers, the demo pair's 4096-piece
tokenizer) is built locally (no download), converted to F16 with llama.cpp's converter and
quantized to Q8_0 and Q4_K_M. Each quantization is opened twice through
``converters.llama.open_model`` (extra_bufts "on" and "off"); prompt processing and decode
tokens/s are measured in interleaved rounds so that load from other processes hits both alike.

    python benchmarks/llama_bufts.py [--rounds 3] [--prompt 256] [--decode 64] [--threads 2]

On a host whose AMX kernels fault, "on" would crash: that case runs in a child process and is
reported as a crash instead of taking the benchmark down.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks._machine import machine  # noqa: E402

SHAPE = dict(hidden_size=1024, intermediate_size=3072, num_hidden_layers=8, num_attention_heads=16,
             num_key_value_heads=8, head_dim=64, max_position_embeddings=2048)
QUANTS = ("Q8_0", "Q4_K_M")
DEMO_BASE = REPO / "assets" / "tiny-needle" / "base"


def build_models(work: Path) -> dict[str, Path]:
    """Random-weight F16 GGUF of SHAPE with the demo tokenizer, quantized to QUANTS."""
    import shutil

    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from converters import hf_to_gguf, quantize

    hf = work / "hf"
    hf.mkdir(parents=True)
    for name in ("tokenizer.model", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(DEMO_BASE / name, hf / name)
    demo = json.loads((DEMO_BASE / "config.json").read_text())
    config = LlamaConfig(**SHAPE, vocab_size=demo["vocab_size"], bos_token_id=demo["bos_token_id"],
                         eos_token_id=demo["eos_token_id"], pad_token_id=demo["pad_token_id"],
                         tie_word_embeddings=True)
    torch.manual_seed(0)
    LlamaForCausalLM(config).to(torch.float16).save_pretrained(hf, safe_serialization=True)
    f16 = hf_to_gguf(hf, work / "model-f16.gguf", outtype="f16")
    return {q: quantize(f16, work / f"model-{q.lower()}.gguf", q) for q in QUANTS}


def measure(gguf: str, mode: str, rounds: int, n_prompt: int, n_decode: int, threads: int) -> dict:
    """Prompt-processing and decode tokens/s per round for one model and mode (in this process)."""
    from converters.llama import open_model, uses_extra_bufts

    llm = open_model(gguf, n_ctx=n_prompt + n_decode + 8, n_threads=threads, n_threads_batch=threads,
                     n_batch=n_prompt, extra_bufts=mode)
    prompt = [1] + [10 + (i * 37) % 4000 for i in range(n_prompt - 1)]
    llm.eval(prompt[:8])  # warm-up: pages the weights in
    pp, tg = [], []
    for _ in range(rounds):
        llm.reset()
        t = time.perf_counter()
        llm.eval(prompt)
        pp.append(n_prompt / (time.perf_counter() - t))
        t = time.perf_counter()
        for i in range(n_decode):
            llm.eval([10 + i])
        tg.append(n_decode / (time.perf_counter() - t))
    used = uses_extra_bufts(llm)
    llm.close()
    return {"pp": pp, "tg": tg, "extra_bufts": used}


def run_case(args, gguf: Path, mode: str) -> dict:
    """One round of `measure` in a child process, so that a crash is reported, not suffered."""
    job = json.dumps([str(gguf), mode, 1, args.prompt, args.decode, args.threads])
    proc = subprocess.run([sys.executable, __file__, "--worker", job], capture_output=True, text=True)
    if proc.returncode != 0:
        return {"crash": f"exit {proc.returncode}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--prompt", type=int, default=256, help="prompt tokens per round")
    ap.add_argument("--decode", type=int, default=64, help="decoded tokens per round")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(measure(*json.loads(args.worker))))
        return
    print(f"Machine: {machine()}")
    print(f"Model: random Llama {SHAPE['num_hidden_layers']} layers, hidden {SHAPE['hidden_size']}, "
          f"intermediate {SHAPE['intermediate_size']}; {args.prompt}-token prompt, {args.decode} "
          f"decoded tokens, {args.threads} threads, {args.rounds} interleaved rounds (median)\n")
    with tempfile.TemporaryDirectory(prefix="doclora-bench-bufts-") as tmp:
        models = build_models(Path(tmp))
        runs = {(q, m): [] for q in QUANTS for m in ("on", "off")}
        for _ in range(args.rounds):
            for (q, m) in runs:
                runs[(q, m)].append(run_case(args, models[q], m))
    print("| model | extra buffer types | prompt tok/s | decode tok/s |")
    print("|---|---|---:|---:|")
    med = {}
    for (q, m), results in runs.items():
        if any("crash" in r for r in results):
            print(f"| {q} | {m} | crashed ({results[0].get('crash', '')}) | |")
            continue
        med[(q, m)] = (statistics.median(r["pp"][0] for r in results),
                       statistics.median(r["tg"][0] for r in results))
        print(f"| {q} | {m} | {med[(q, m)][0]:.1f} | {med[(q, m)][1]:.1f} |")
    print()
    for q in QUANTS:
        if (q, "on") in med and (q, "off") in med:
            (pp_on, tg_on), (pp_off, tg_off) = med[(q, "on")], med[(q, "off")]
            print(f"{q}: on/off prompt {pp_on / pp_off:.2f}x, decode {tg_on / tg_off:.2f}x")


if __name__ == "__main__":
    main()
