"""Internalization cost vs the floor (one plain forward pass of the base model over the same tokens).

Random weights with the real shapes of Qwen3-0.6B (config built locally, nothing downloaded) and a
matching random hypernetwork with the reference geometry (latent 512, 8 latents, 9 blocks, 16x128
heads, per-layer activations). Documents longer than `--chunk` tokens are internalized in chunks
(one at a time on CPU), as the app does. Peak memory is the process RSS sampled every 5 ms.
Times are reported as process CPU seconds (all threads; robust on a shared machine) and wall seconds.

    .venv/bin/python benchmarks/internalize.py                 # 1k, 8k, 32k tokens
    .venv/bin/python benchmarks/internalize.py --sizes 1024 --threads 2
"""

from __future__ import annotations

import argparse
import os
import platform
import threading
import time
from pathlib import Path

import torch

from hypernet.encoder import ContextEncoder
from hypernet.internalize import Hypernet
from hypernet.model import HypernetConfig, HypernetModel

SHAPES = {  # published config.json values of the Qwen3 checkpoints
    "Qwen3-0.6B": dict(hidden_size=1024, intermediate_size=3072, num_hidden_layers=28, num_attention_heads=16,
                       num_key_value_heads=8, head_dim=128),
    "Qwen3-4B": dict(hidden_size=2560, intermediate_size=9728, num_hidden_layers=36, num_attention_heads=32,
                     num_key_value_heads=8, head_dim=128),
}  # fmt: skip


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakRSS:
    """Samples the process RSS in a thread while the block runs; .peak in bytes."""

    def __enter__(self):
        self.peak, self._stop = rss_bytes(), threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()
        return self

    def _run(self):
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, rss_bytes())

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, rss_bytes())


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def build(name: str, device: torch.device, dtype: torch.dtype):
    """Random base decoder (no LM head) + random hypernetwork, as a Hypernet."""
    from transformers import AutoModel, Qwen3Config

    shape = SHAPES[name]
    cfg = Qwen3Config(vocab_size=151936, max_position_embeddings=40960, rope_theta=1e6, tie_word_embeddings=True, **shape)
    torch.manual_seed(0)
    base = AutoModel.from_config(cfg, dtype=dtype).to(device).eval().requires_grad_(False)
    hcfg = HypernetConfig(n_layers=cfg.num_hidden_layers, base_hidden_size=cfg.hidden_size, d_in=cfg.intermediate_size,
                          d_out=cfg.hidden_size)  # fmt: skip
    hyper = HypernetModel(hcfg).to(device, dtype).eval()
    hn = Hypernet(hyper, ContextEncoder(base, hcfg.encoder_type), None, base_model_path=Path("."), base_model=name,
                  base_fingerprint="random", hypernet_id="random", max_chunk_tokens=8192, max_batch_tokens=8192)  # fmt: skip
    return base, hn


def timed_encoder(hn: Hypernet, on_gpu: bool) -> dict:
    """Accumulate the context encoder's share of internalization time via module hooks
    (process CPU seconds on CPU; synchronised wall seconds on a GPU)."""
    acc = {"encoder_s": 0.0}

    def now() -> float:
        if on_gpu:
            torch.cuda.synchronize()
            return time.perf_counter()
        return time.process_time()

    hn.encoder.register_forward_pre_hook(lambda m, a: acc.__setitem__("t0", now()))
    hn.encoder.register_forward_hook(lambda m, a, o: acc.__setitem__("encoder_s", acc["encoder_s"] + now() - acc["t0"]))
    return acc


class Clock:
    """CPU seconds (process, all threads) and wall seconds of a block."""

    def __enter__(self):
        self._cpu, self._wall = time.process_time(), time.perf_counter()
        return self

    def __exit__(self, *exc):
        if torch.cuda.is_available():  # kernels run asynchronously: wait for them before reading the clock
            torch.cuda.synchronize()
        self.cpu, self.wall = time.process_time() - self._cpu, time.perf_counter() - self._wall


def run(name: str, sizes: list[int], chunk: int, device: torch.device, dtype: torch.dtype) -> list[dict]:
    t0 = time.perf_counter()
    base, hn = build(name, device, dtype)
    print(f"built {name} + hypernet ({sum(p.numel() for p in hn.model.parameters()) / 1e6:.0f}M params) "
          f"in {time.perf_counter() - t0:.0f}s, RSS {rss_bytes() / 2**30:.2f} GiB", flush=True)  # fmt: skip
    enc_time = timed_encoder(hn, device.type == "cuda")
    with torch.no_grad():  # warm-up: first calls allocate and pick kernels
        base(input_ids=torch.arange(100, 116)[None].to(device), use_cache=False)
        hn.internalize_ids([list(range(100, 116))])
    rows = []
    for n in sizes:
        ids = torch.randint(100, 150000, (1, n), generator=torch.Generator().manual_seed(n))
        before = rss_bytes()
        with torch.no_grad(), PeakRSS() as mem_base, Clock() as base_t:
            base(input_ids=ids.to(device), use_cache=False)
        chunks = [c.tolist() for c in ids[0].split(chunk)]
        enc_time["encoder_s"] = 0.0
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        with PeakRSS() as mem_hn, Clock() as int_t:
            adapter = hn.internalize_ids(chunks)
        # CPU seconds are robust on a shared CPU; on a GPU the wall clock (after synchronising) is what counts.
        on_gpu = device.type == "cuda"
        base_s, int_s = (base_t.wall, int_t.wall) if on_gpu else (base_t.cpu, int_t.cpu)
        row = dict(tokens=n, chunks=len(chunks), rank=adapter.rank, base_s=base_s, internalize_s=int_s,
                   base_wall=base_t.wall, int_wall=int_t.wall,
                   encoder_s=enc_time["encoder_s"], base_peak=mem_base.peak - before, int_peak=mem_hn.peak - before,
                   rss_peak=max(mem_base.peak, mem_hn.peak))  # fmt: skip
        if device.type == "cuda":
            row["gpu_peak"] = torch.cuda.max_memory_allocated()
        rows.append(row)
        print(f"  {n} tokens: base {base_s:.1f} CPU-s ({base_t.wall:.1f}s wall), internalize {int_s:.1f} CPU-s "
              f"({int_t.wall:.1f}s wall; encoder {row['encoder_s']:.1f} CPU-s)", flush=True)  # fmt: skip
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="1024,8192,32768", help="document lengths in tokens, comma-separated")
    p.add_argument("--chunk", type=int, default=8192, help="max tokens per chunk (the app's default for real models)")
    p.add_argument("--model", default="Qwen3-0.6B", choices=sorted(SHAPES))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default=None)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    total_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    sizes = [int(s) for s in args.sizes.split(",")]
    machine = f"{cpu_name()}, {os.cpu_count()} cores visible, {args.threads} torch threads, {total_gib:.0f} GiB RAM, {device} {dtype}"
    print(f"machine: {machine}", flush=True)
    if args.model == "Qwen3-0.6B":
        print("note: Qwen3-4B shapes skipped by default (~16 GiB of float32 weights on CPU); run with --model Qwen3-4B where memory allows.")
    rows = run(args.model, sizes, args.chunk, device, dtype)
    gib = 2**30
    print(f"\n{args.model} shapes, random weights; machine: {machine}")
    unit = "s" if device.type == "cuda" else "CPU-s"
    if device.type == "cuda":
        for r in rows:
            print(f"  {r['tokens']} tokens: GPU peak memory while internalizing {r['gpu_peak'] / gib:.2f} GiB")
    print(f"| tokens | chunks | rank | base forward {unit} (wall) | internalize {unit} (wall) | encoder {unit} | hypernet {unit} | internalize / base | hypernet / base | peak RSS GiB | extra RSS base / internalize GiB |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        hyper_s = r["internalize_s"] - r["encoder_s"]
        print(f"| {r['tokens']} | {r['chunks']} | {r['rank']} | {r['base_s']:.1f} ({r['base_wall']:.1f}) | {r['internalize_s']:.1f} ({r['int_wall']:.1f}) | {r['encoder_s']:.1f} | "
              f"{hyper_s:.2f} | {r['internalize_s'] / r['base_s']:.2f} | {hyper_s / r['base_s']:.2f} | {r['rss_peak'] / gib:.2f} | "
              f"{r['base_peak'] / gib:.2f} / {r['int_peak'] / gib:.2f} |")  # fmt: skip


if __name__ == "__main__":
    main()
