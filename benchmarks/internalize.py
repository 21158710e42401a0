"""Internalization cost vs the floor (one plain forward pass of the base model over the same tokens).

Random weights with the real shapes of Qwen3-0.6B (config built locally, nothing downloaded) and a
matching random hypernetwork with the reference geometry (latent 512, 8 latents, 9 blocks, 16x128
heads, per-layer activations). Documents longer than `--chunk` tokens are internalized in chunks
(one at a time on CPU), as the app does. Peak memory is the process RSS sampled every 5 ms.
Times are reported as process CPU seconds (all threads; robust on a shared machine) and wall seconds.

    .venv/bin/python benchmarks/internalize.py                 # 1k, 8k, 32k tokens
    .venv/bin/python benchmarks/internalize.py --sizes 1024 --threads 2
    .venv/bin/python benchmarks/internalize.py --bf16-compare   # CPU: bf16 autocast vs float32, per pair

--bf16-compare runs the context encoder under bf16 autocast (the app's default where the CPU has
native bf16) against float32, on a Qwen3-0.6B-shaped model cut to --layers layers: CPU seconds,
peak RSS and the LoRA's relative difference; then, per real pair, the cost of a 2-layer model of
its shape (the encoder runs 1 layer, the hypernetwork 2), scaled to the pair's layer count (an
estimate: encoder L-1 layers, hypernetwork L), and the one-off cost of the NF4 round trip per layer.
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from pathlib import Path

import torch

from benchmarks._machine import machine
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


# The three real pairs' bases: architecture and published config.json values.
REAL_PAIRS = {
    "qwen3-4b": ("qwen3", dict(SHAPES["Qwen3-4B"], rope_theta=1e6)),
    "gemma-2-2b": ("gemma2", dict(hidden_size=2304, intermediate_size=9216, num_hidden_layers=26, num_attention_heads=8,
                                  num_key_value_heads=4, head_dim=256, query_pre_attn_scalar=256,
                                  attn_logit_softcapping=50.0, final_logit_softcapping=30.0, sliding_window=4096)),
    "mistral-7b": ("mistral", dict(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
                                   num_key_value_heads=8, head_dim=128, rope_theta=1e6, sliding_window=None)),
}  # fmt: skip


def random_hypernet(arch: str, shape: dict, layers: int, vocab: int = 32000) -> Hypernet:
    """A float32 random base of `arch` cut to `layers` layers, with a random main-recipe hypernetwork
    whose B is switched on (scaler_B 0.01: at init it is 0, and so would be every B difference)."""
    from transformers import AutoConfig, AutoModel

    cfg = AutoConfig.for_model(arch, vocab_size=vocab, max_position_embeddings=32768, **{**shape, "num_hidden_layers": layers})
    torch.manual_seed(0)
    attn = {"attn_implementation": "eager"} if arch == "gemma2" else {}  # as the app loads Gemma 2
    base = AutoModel.from_config(cfg, dtype=torch.float32, **attn).eval().requires_grad_(False)
    hcfg = HypernetConfig(n_layers=layers, base_hidden_size=cfg.hidden_size, d_in=cfg.intermediate_size, d_out=cfg.hidden_size)
    hyper = HypernetModel(hcfg).eval()
    with torch.no_grad():
        hyper.scaler_B["down_proj"].fill_(0.01)
    return Hypernet(hyper, ContextEncoder(base, hcfg.encoder_type), None, base_model_path=Path("."), base_model=arch,
                    base_fingerprint="random", hypernet_id="random", max_chunk_tokens=8192, max_batch_tokens=8192)  # fmt: skip


def measure(hn: Hypernet, ids: list[int], cpu_bf16: bool) -> dict:
    """One internalization of one chunk: CPU seconds (all, encoder), wall seconds, extra peak RSS, LoRA."""
    hn.cpu_bf16 = cpu_bf16
    enc = timed_encoder(hn, on_gpu=False)
    hn.internalize_ids([ids[:16]])  # warm-up
    enc["encoder_s"] = 0.0
    before = rss_bytes()
    with PeakRSS() as mem, Clock() as t:
        adapter = hn.internalize_ids([ids])
    return dict(cpu_s=t.cpu, wall_s=t.wall, encoder_s=enc["encoder_s"], peak=mem.peak - before, A=adapter.A, B=adapter.B)


def rel(x: torch.Tensor, ref: torch.Tensor) -> float:
    return ((x - ref).norm() / ref.norm()).item()


def bf16_compare(tokens: int, layers: int) -> None:
    """Print the bf16-vs-fp32 tables (see the module docstring)."""
    from hypernet.nf4 import nf4_roundtrip_linears_

    gib = 2**30
    ids = torch.randint(100, 30000, (tokens,), generator=torch.Generator().manual_seed(tokens)).tolist()
    qwen06 = dict(SHAPES["Qwen3-0.6B"], rope_theta=1e6)
    print(f"\n## Qwen3-0.6B shapes cut to {layers} layers, one {tokens}-token chunk, CPU")
    hn = random_hypernet("qwen3", qwen06, layers, vocab=151936)
    runs = {mode: measure(hn, ids, mode == "bf16") for mode in ("fp32", "bf16")}
    nf4_roundtrip_linears_(hn.encoder.decoder)  # what the released recipes' 4-bit encoder changes, for scale
    runs["fp32, NF4 weights"] = measure(hn, ids, False)
    ref = runs["fp32"]
    print("| encoder | internalize CPU-s (wall) | encoder CPU-s | hypernet CPU-s | extra peak RSS GiB | rel. diff A | rel. diff B |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for mode, r in runs.items():
        print(f"| {mode} | {r['cpu_s']:.1f} ({r['wall_s']:.1f}) | {r['encoder_s']:.1f} | {r['cpu_s'] - r['encoder_s']:.1f} | "
              f"{r['peak'] / gib:.2f} | {rel(r['A'], ref['A']):.1e} | {rel(r['B'], ref['B']):.1e} |")  # fmt: skip
    print(f"speed-up of internalization {ref['cpu_s'] / runs['bf16']['cpu_s']:.2f}x, "
          f"of the encoder {ref['encoder_s'] / runs['bf16']['encoder_s']:.2f}x")
    del hn

    layers = 2  # the encoder runs layers - 1 = 1 of them
    print(f"\n## Real pairs, per 1k tokens (estimated from {layers}-layer models of each shape, random weights)")
    print("| pair | layers | encoder fp32 CPU-s/layer | encoder bf16 CPU-s/layer | hypernet CPU-s/layer | "
          "fp32 CPU-s per 1k tokens | bf16 CPU-s per 1k tokens | NF4 round trip CPU-s/layer (load) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    per_1k = 1024 / tokens
    for name, (arch, shape) in REAL_PAIRS.items():
        hn = random_hypernet(arch, shape, layers)
        fp32, bf16 = measure(hn, ids, False), measure(hn, ids, True)
        with Clock() as q:
            nf4_roundtrip_linears_(hn.encoder.decoder)
        n = shape["num_hidden_layers"]
        enc32, enc16 = fp32["encoder_s"] / (layers - 1), bf16["encoder_s"] / (layers - 1)
        hyp = (fp32["cpu_s"] - fp32["encoder_s"] + bf16["cpu_s"] - bf16["encoder_s"]) / (2 * layers)
        print(f"| {name} | {n} | {enc32:.2f} | {enc16:.2f} | {hyp:.2f} | {((n - 1) * enc32 + n * hyp) * per_1k:.1f} | "
              f"{((n - 1) * enc16 + n * hyp) * per_1k:.1f} | {q.cpu / (layers - 1):.2f} |", flush=True)  # fmt: skip
        del hn


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="1024,8192,32768", help="document lengths in tokens, comma-separated")
    p.add_argument("--chunk", type=int, default=8192, help="max tokens per chunk (the app's default for real models)")
    p.add_argument("--model", default="Qwen3-0.6B", choices=sorted(SHAPES))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default=None)
    p.add_argument("--bf16-compare", action="store_true", help="CPU: bf16 autocast against float32 (see above)")
    p.add_argument("--layers", type=int, default=8, help="layers of the Qwen3-0.6B shape for --bf16-compare")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    if args.bf16_compare:
        print(f"machine: {machine(f'{args.threads} torch threads', f'torch CPU capability {torch.backends.cpu.get_cpu_capability()}')}")
        bf16_compare(int(args.sizes.split(",")[0]) if args.sizes != "1024,8192,32768" else 1024, args.layers)
        return
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    total_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    sizes = [int(s) for s in args.sizes.split(",")]
    host = machine(f"{args.threads} torch threads", f"{total_gib:.0f} GiB RAM", f"{device} {dtype}")
    print(f"machine: {host}", flush=True)
    if args.model == "Qwen3-0.6B":
        print("note: Qwen3-4B shapes skipped by default (~16 GiB of float32 weights on CPU); run with --model Qwen3-4B where memory allows.")
    rows = run(args.model, sizes, args.chunk, device, dtype)
    gib = 2**30
    print(f"\n{args.model} shapes, random weights; machine: {host}")
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
