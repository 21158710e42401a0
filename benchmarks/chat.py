"""Chat latency and memory: the document in the prompt vs its D2L adapter vs the compressed adapter.

A random-weight model of the real Qwen3-0.6B shape (28 layers, hidden 1024, intermediate 3072,
vocabulary 151936, Q8_0) is built locally (no download) and driven through the app's ChatEngine.
For a question about a document of N tokens it measures, each case in a fresh process:
  (a) the document in the prompt: time to first token (TTFT), peak RSS, KV cache;
  (b) a D2L-shaped adapter (random A/B on ffn_down of all 28 layers) of the rank a real D2L gives:
      8 (chunks + 1), for 8192-token chunks (real Qwen3/Gemma hypernetworks) and for 256-token
      chunks (the demo model's window), question only in the prompt;
  (c) the 256-chunk adapter compressed to DEFAULT_MAX_ADAPTER_RANK (hypernet.compress).
Decode tokens/s of base alone and every adapter are measured in one process, interleaved over
rounds, so that load from other processes hits all variants alike (ratios are per round, median).
Default: 1k, 4k and 8k tokens, 12 decode rounds, and a decode-vs-rank sweep (16 to 264).

    python benchmarks/chat.py            # 1k, 4k, 8k tokens (in-prompt 8k alone takes ~4 min on 2 cores)
    python benchmarks/chat.py --quick    # 256, 512, 1k tokens, fewer decode tokens
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks._machine import machine  # noqa: E402

# The real Qwen3-0.6B geometry (its config.json); weights are random.
QWEN3_06B = dict(
    vocab_size=151936, hidden_size=1024, intermediate_size=3072, num_hidden_layers=28,
    num_attention_heads=16, num_key_value_heads=8, head_dim=128, max_position_embeddings=40960,
    rope_theta=1_000_000.0, rms_norm_eps=1e-6, tie_word_embeddings=True,
)  # fmt: skip
MODEL_TAG = "qwen3-0.6b-shape-v1"
TEXT_DIR = Path("/usr/share/common-licenses")  # English text present on every Debian/Ubuntu machine
QUESTION = "What does the document say about the conditions for distributing modified copies?"
CHUNK_RANK, D2L_ALPHA = 8, 2 * 8**1.5  # per-chunk rank and LoRA alpha of the released hypernetworks
ADAPTER_N_CTX = 2048  # room for the question, the answer and some chat history
KV_BYTES_PER_TOKEN = 2 * 28 * 8 * 128 * 2  # K and V, 28 layers, 8 KV heads of 128, F16: 112 KiB
CASE_LABELS = {"d2l-8192": "(b) adapter, 8192-token chunks", "d2l-256": "(b') adapter, 256-token chunks",
               "compressed": "(c) (b') compressed"}  # fmt: skip


# ----------------------------------------------------------------------------- building the model


def english_text() -> str:
    """Local English prose for the tokenizer and the documents."""
    files = sorted(p for p in TEXT_DIR.iterdir() if p.is_file() and not p.is_symlink())
    if not files:
        raise SystemExit(f"No English text found in {TEXT_DIR}; the benchmark needs some local prose.")
    return "\n\n".join(p.read_text(encoding="utf-8", errors="replace") for p in files)


def build_model(work: Path) -> tuple[Path, Path]:
    """(HF folder with the tokenizer, Q8_0 GGUF) of the random Qwen3-0.6B-shaped model; cached in work."""
    hf_dir, gguf_q8 = work / MODEL_TAG / "hf", work / MODEL_TAG / "model-q8_0.gguf"
    if gguf_q8.is_file() and (hf_dir / "tokenizer_config.json").is_file():
        return hf_dir, gguf_q8
    import sentencepiece as spm
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    from converters import hf_to_gguf, quantize
    from hypernet.train.tokenizer import train_sentencepiece, write_hf_tokenizer

    torch.set_num_threads(2)
    hf_dir.mkdir(parents=True, exist_ok=True)
    corpus = work / "corpus.txt"
    corpus.write_text("\n".join(ln for ln in english_text().splitlines() if ln.strip()), encoding="utf-8")
    sp_model = train_sentencepiece(corpus, work / "sp", vocab_size=4096)
    write_hf_tokenizer(sp_model, hf_dir, model_max_length=QWEN3_06B["max_position_embeddings"])
    sp = spm.SentencePieceProcessor(model_file=str(sp_model))
    config = Qwen3Config(**QWEN3_06B, bos_token_id=sp.bos_id(), eos_token_id=sp.eos_id(), pad_token_id=sp.pad_id())
    torch.manual_seed(0)
    model = Qwen3ForCausalLM(config).to(torch.bfloat16)
    with torch.no_grad():
        # Tied embeddings: a zero row scores logit 0, far below the best of 4k random logits, so
        # greedy decoding never emits padding ids (no text), end-of-turn (would stop early) or
        # byte pieces (held back by the streamer): every decode step yields text.
        emb = model.get_input_embeddings().weight
        emb[sp.get_piece_size():] = 0
        for i in range(sp.get_piece_size()):
            if sp.is_control(i) or sp.is_unknown(i) or sp.is_byte(i):
                emb[i] = 0
    model.save_pretrained(hf_dir, safe_serialization=True)
    del model
    f16 = hf_to_gguf(hf_dir, work / MODEL_TAG / "model-f16.gguf", outtype="f16")
    quantize(f16, gguf_q8, "Q8_0")
    f16.unlink()
    (hf_dir / "model.safetensors").unlink(missing_ok=True)  # 1.2 GB; the tokenizer is all we keep
    return hf_dir, gguf_q8


def document(tokenizer, text: str, n_tokens: int) -> str:
    """The first ~n_tokens tokens of `text`, as text."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    if len(ids) < n_tokens:
        raise SystemExit(f"Only {len(ids)} tokens of local text; cannot make a {n_tokens}-token document.")
    return tokenizer.decode(ids[:n_tokens])


def d2l_rank(tokenizer, doc: str, max_chunk_tokens: int) -> int:
    """The rank a D2L hypernetwork gives this document: 8 (chunks + 1), chunked like the app does."""
    from hypernet.chunking import chunk_text

    return CHUNK_RANK * (len(chunk_text(tokenizer, doc, max_chunk_tokens)) + 1)


def random_adapter(rank: int, seed: int):
    """A DocumentAdapter shaped like a D2L one for the model: unit-norm A rows (the head L2-normalises)."""
    import torch

    from hypernet.adapter import DocumentAdapter

    g = torch.Generator().manual_seed(seed)
    L, d_in, d_out = QWEN3_06B["num_hidden_layers"], QWEN3_06B["intermediate_size"], QWEN3_06B["hidden_size"]
    A = torch.nn.functional.normalize(torch.randn(L, rank, d_in, generator=g), dim=-1)
    B = torch.randn(L, rank, d_out, generator=g) * 1e-3
    return DocumentAdapter(A=A, B=B, alpha=D2L_ALPHA, n_chunks=rank // CHUNK_RANK - 1, layer_indices=list(range(L)))


# ----------------------------------------------------------------------------- measuring (workers)


def _answer(engine, messages: list[dict], adapter: str | None) -> dict:
    """Stream one answer through the engine: TTFT (wall and CPU), decode tokens/s (llama.cpp's count)."""
    start, cpu = time.perf_counter(), time.process_time()
    first = n_first = None
    for _piece in engine.generate(messages, adapter):
        if first is None:
            first, n_first, cpu_first = time.perf_counter(), engine.llm.n_tokens, time.process_time()
    end, n_end = time.perf_counter(), engine.llm.n_tokens
    if first is None:
        raise RuntimeError("the engine produced no text")
    decoded = n_end - n_first  # tokens evaluated one at a time after the first answer token
    return {"ttft_s": first - start, "ttft_cpu_s": cpu_first - cpu, "prompt_tokens": n_first, "decoded": decoded,
            "decode_tps": decoded / (end - first) if end > first else float("nan")}  # fmt: skip


def _engine(gguf: str, n_ctx: int, max_tokens: int, threads: int):
    from app.chat import ChatEngine
    from app.settings import Settings

    engine = ChatEngine(gguf, Settings(n_ctx=n_ctx, n_threads=threads, device="cpu", temperature=0.0, max_tokens=max_tokens))
    _answer(engine, [{"role": "user", "content": "Hello."}], None)  # load the base, page the weights in
    return engine


def _memory() -> dict:
    """Current and peak RSS of this process (VmHWM: unlike ru_maxrss, not inherited over fork+exec)."""
    fields = dict(ln.split(":", 1) for ln in Path("/proc/self/status").read_text().splitlines() if ":" in ln)
    return {"rss": int(fields["VmRSS"].split()[0]) * 1024, "peak_rss": int(fields["VmHWM"].split()[0]) * 1024}


def _kv_bytes(engine) -> int:
    from converters.llama import state_bytes

    return state_bytes(engine.llm)  # KV of the used cells + the logits


def worker(job: dict) -> dict:
    """One measurement in this process; returns a JSON-ready dict."""
    question = [{"role": "user", "content": QUESTION}]
    if job["kind"] == "prompt":  # the document in the prompt: one answer (minutes at 8k)
        engine = _engine(job["gguf"], job["n_ctx"], job["max_tokens"], job["threads"])
        loaded = _memory()["rss"]
        result = _answer(engine, [{"role": "user", "content": job["document"] + "\n\n" + QUESTION}], None)
        return {**result, **_memory(), "rss_loaded": loaded, "kv_bytes": _kv_bytes(engine), "n_ctx": engine.llm.n_ctx()}
    if job["kind"] == "adapter":  # question only, after a switch to the adapter; best of `trials`
        engine = _engine(job["gguf"], ADAPTER_N_CTX, 4, job["threads"])
        loaded = _memory()["rss"]
        trials, base = [], []
        for _ in range(job["trials"]):
            base.append(_answer(engine, question, None)["ttft_s"])
            trials.append(_answer(engine, question, job["adapter"]))  # switch: load (first time) + KV reset
        best = min(trials, key=lambda t: t["ttft_s"])
        return {**best, "ttft_trials": [t["ttft_s"] for t in trials], "base_ttft_s": min(base), **_memory(),
                "rss_loaded": loaded, "kv_bytes": _kv_bytes(engine), "n_ctx": engine.llm.n_ctx()}  # fmt: skip
    # decode: base and every adapter interleaved over rounds, a switch (KV reset) before every answer
    engine = _engine(job["gguf"], ADAPTER_N_CTX, job["max_tokens"], job["threads"])
    variants: list[str | None] = [None, *job["adapters"]]
    runs: dict[str, list[float]] = {str(v): [] for v in variants}
    for _ in range(job["rounds"]):
        for v in variants:
            runs[str(v)].append(_answer(engine, question, v)["decode_tps"])
    return {"runs": runs}


def run_worker(job: dict) -> dict:
    """Run `worker(job)` in a fresh Python process (so that peak RSS belongs to one case)."""
    proc = subprocess.run([sys.executable, __file__, "--worker", json.dumps(job)], capture_output=True, text=True, cwd=REPO)
    if proc.returncode != 0:
        raise SystemExit(f"benchmark worker failed ({job['kind']}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- the whole run


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="256/512/1k-token documents, fewer tokens and rounds")
    ap.add_argument("--lengths", type=int, nargs="+", help="document lengths in tokens")
    ap.add_argument("--max-rank", type=int, default=None, help="compression target (default DEFAULT_MAX_ADAPTER_RANK)")
    ap.add_argument("--decode-tokens", type=int, default=None)
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--sweep", type=int, nargs="*", default=None, help="extra adapter ranks for the decode-vs-rank curve")
    ap.add_argument("--sweep-only", action="store_true", help="only decode speed against adapter rank (no documents)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--work", type=Path, default=REPO / "artifacts" / "bench-chat", help="cache for the model and adapters")
    ap.add_argument("--json", type=Path, default=None, help="also write the raw results here")
    ap.add_argument("--report", type=Path, default=None, help="print the tables of a --json file and exit")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.report:
        print(report(json.loads(args.report.read_text())))
        return
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return

    from transformers import AutoTokenizer

    from converters import adapter_to_gguf
    from hypernet.compress import DEFAULT_MAX_ADAPTER_RANK, compress_adapter

    lengths = [] if args.sweep_only else args.lengths or ([256, 512, 1024] if args.quick else [1024, 4096, 8192])
    max_rank = args.max_rank or DEFAULT_MAX_ADAPTER_RANK
    n_decode = args.decode_tokens or (24 if args.quick else 64)
    rounds = args.rounds or (2 if args.quick else 12)
    trials = 2 if args.quick else 3
    header = machine()
    t0 = time.perf_counter()
    hf_dir, gguf = build_model(args.work)
    print(f"model ready in {time.perf_counter() - t0:.0f} s: {gguf} ({gguf.stat().st_size / 2**20:.0f} MiB)", file=sys.stderr)
    tok = AutoTokenizer.from_pretrained(hf_dir)
    text = english_text()
    common = {"gguf": str(gguf), "threads": args.threads}

    json_path = args.json or args.work / "results.json"
    results = {"machine": header, "model": MODEL_TAG, "max_rank": max_rank, "decode_tokens": n_decode, "threads": args.threads,
               "trials": trials, "rounds": rounds, "rows": [], "sweep": {}, "decode_runs": {}}  # fmt: skip

    def save(step: str) -> None:  # after every step, so that a long run interrupted still leaves its numbers
        results["machine"] = f"{header}; {os.getloadavg()[0]:.2f} after {step}"
        json_path.write_text(json.dumps(results, indent=2))

    # Cheap cases first (adapters, decode), then the document in the prompt, longest last.
    docs, adapter_files = {}, []
    for n in lengths:
        docs[n] = doc = document(tok, text, n)
        row = {"tokens": n, "variants": {}}
        full = random_adapter(d2l_rank(tok, doc, 256), seed=n)
        comp = compress_adapter(full, max_rank)
        cases = {"d2l-8192": (random_adapter(d2l_rank(tok, doc, 8192), seed=n + 1), 1.0), "d2l-256": (full, 1.0),
                 "compressed": (comp.adapter, comp.energy)}  # fmt: skip
        for name, (adapter, energy) in cases.items():
            path = adapter_to_gguf(adapter, args.work / "adapters" / f"{n}-{name}-r{adapter.rank}.gguf", base_gguf=gguf)
            adapter_files.append(str(path))
            print(f"{n} tokens, {name} rank {adapter.rank}: TTFT ...", file=sys.stderr)
            r = run_worker({**common, "kind": "adapter", "adapter": str(path), "trials": trials})
            row["variants"][name] = {**r, "rank": adapter.rank, "energy": energy, "file_bytes": path.stat().st_size, "file": str(path)}
        results["rows"].append(row)
        save(f"adapters at {n}")
    for r in args.sweep if args.sweep is not None else ([] if args.quick else [16, 32, 64, 128, 264]):
        results["sweep"][r] = str(adapter_to_gguf(random_adapter(r, seed=r), args.work / "adapters" / f"sweep-r{r}.gguf", base_gguf=gguf))
    adapter_files += results["sweep"].values()
    print(f"decode: base and {len(adapter_files)} adapters x {rounds} rounds ...", file=sys.stderr)
    results["decode_runs"] = run_worker({**common, "kind": "decode", "max_tokens": n_decode, "rounds": rounds, "adapters": adapter_files})["runs"]
    save("decode")
    for row in results["rows"]:
        n = row["tokens"]
        print(f"{n} tokens in the prompt: TTFT ...", file=sys.stderr)
        n_ctx = 256 * math.ceil((n + 512) / 256)
        row["in_prompt"] = run_worker({**common, "kind": "prompt", "n_ctx": n_ctx, "max_tokens": n_decode, "document": docs[n]})
        save(f"in-prompt {n}")
    print(report(results))


def report(res: dict) -> str:
    """Markdown tables of the results."""
    runs = res["decode_runs"] or {"None": [float("nan")]}
    base = runs["None"]
    best = lambda file: max(runs.get(file, [float("nan")]))  # noqa: E731  (the least disturbed round on a shared machine)
    median = lambda file: statistics.median(runs.get(file, [float("nan")]))  # noqa: E731
    paired = lambda file: statistics.median(v / b for v, b in zip(runs.get(file, [float("nan")]), base))  # noqa: E731
    mib = lambda b: f"{b / 2**20:.0f}"  # noqa: E731
    kv_alloc = lambda n_ctx: mib(n_ctx * KV_BYTES_PER_TOKEN)  # noqa: E731
    out = [f"Machine: {res['machine']}.",
           f"Model: random weights, Qwen3-0.6B shape, Q8_0 ({res['model']}), through app.chat.ChatEngine, "
           f"{res['threads']} threads. Compression target: rank {res['max_rank']}.", "",
           "Time to first token and memory (question about the document; adapters: best of "
           f"{res['trials']} switches, each loading the adapter and resetting the KV cache):", "",
           "| doc tokens | case | rank | prompt tokens | TTFT s | TTFT CPU s | in-prompt TTFT / this | peak RSS MiB | KV MiB used (allocated) | adapter file MiB | energy kept |",
           "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    missing = {"ttft_s": float("nan"), "ttft_cpu_s": float("nan"), "prompt_tokens": "-", "decode_tps": float("nan"),
               "peak_rss": float("nan"), "kv_bytes": float("nan"), "n_ctx": float("nan")}  # fmt: skip
    for row in res["rows"]:
        a = row.get("in_prompt", missing)
        out.append(f"| {row['tokens']} | (a) in prompt | - | {a['prompt_tokens']} | {a['ttft_s']:.2f} | {a['ttft_cpu_s']:.1f} | 1x | "
                   f"{mib(a['peak_rss'])} | {mib(a['kv_bytes'])} ({kv_alloc(a['n_ctx'])}) | - | - |")  # fmt: skip
        for name, v in row["variants"].items():
            out.append(f"| {row['tokens']} | {CASE_LABELS[name]} | {v['rank']} | {v['prompt_tokens']} | {v['ttft_s']:.3f} | "
                       f"{v['ttft_cpu_s']:.2f} | {a['ttft_s'] / v['ttft_s']:.0f}x | {mib(v['peak_rss'])} | "
                       f"{mib(v['kv_bytes'])} ({kv_alloc(v['n_ctx'])}) | {v['file_bytes'] / 2**20:.1f} | {v['energy']:.3f} |")  # fmt: skip
    out += ["", f"Decode ({res['decode_tokens']} tokens greedy; base and adapters interleaved over {res['rounds']} rounds in one "
            "process; tok/s = median round; ratio = median of the per-round ratios to the base run of the same round, and in "
            "brackets best round / best base round):", "",
            "| doc tokens | case | rank | decode tok/s | vs base alone |", "|---:|---|---:|---:|---:|",
            f"| - | base alone (question only) | - | {statistics.median(base):.1f} | 1.000x |"]  # fmt: skip
    for row in res["rows"]:
        a = row.get("in_prompt", missing)
        out.append(f"| {row['tokens']} | (a) in prompt (one run) | - | {a['decode_tps']:.1f} | "
                   f"{a['decode_tps'] / statistics.median(base):.3f}x |")
        for name, v in row["variants"].items():
            out.append(f"| {row['tokens']} | {CASE_LABELS[name]} | {v['rank']} | {median(v['file']):.1f} | "
                       f"{paired(v['file']):.3f}x ({best(v['file']) / max(base):.3f}x) |")  # fmt: skip
    if res.get("sweep"):
        out += ["", "Decode against adapter rank (same process and rounds):", "", "| rank | decode tok/s | vs base alone |", "|---:|---:|---:|"]
        for r, file in sorted(res["sweep"].items(), key=lambda kv: int(kv[0])):
            out.append(f"| {r} | {median(file):.1f} | {paired(file):.3f}x ({best(file) / max(base):.3f}x) |")
    out += ["", "Rank by document length (8 x (chunks + 1), chunked by hypernet.chunking):", "",
            "| doc tokens | 8192-token chunks (real Qwen3/Gemma D2L) | 256-token chunks (demo model) | compressed | energy kept |",
            "|---:|---:|---:|---:|---:|"]  # fmt: skip
    for row in res["rows"]:
        v = row["variants"]
        out.append(f"| {row['tokens']} | {v['d2l-8192']['rank']} | {v['d2l-256']['rank']} | {v['compressed']['rank']} | {v['compressed']['energy']:.3f} |")
    return "\n".join(out)


if __name__ == "__main__":
    main()
