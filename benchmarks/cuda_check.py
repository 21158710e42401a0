"""CUDA check of the hypernetwork: the reference parity fixtures on a GPU, in float32 and bfloat16.

float32 on CUDA must match the reference vectors within the fixtures' tolerances; bfloat16 (the
default on CUDA) is reported as a deviation, which the fixtures' tolerances do not cover. Also
internalizes a document with the bundled demo pair on the GPU and compares it with the CPU result.

    python benchmarks/cuda_check.py [--fixtures tests/fixtures/d2l_parity]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from safetensors.torch import load_file

from hypernet import load_hypernet

ROOT = Path(__file__).resolve().parent.parent


def rel_err(x: torch.Tensor, ref: torch.Tensor) -> float:
    return ((x.float().cpu() - ref).abs().max() / ref.abs().max()).item()


def check_fixture(folder: Path, dtype: torch.dtype) -> dict[str, float]:
    """Per-chunk and combined LoRA of case 2 on CUDA vs the reference vectors."""
    vec = load_file(str(folder / "vectors.safetensors"))
    hn = load_hypernet(folder / "pytorch_model.bin", device="cuda", dtype=dtype)
    ids, mask = vec["input.case2.ctx_ids"].cuda(), vec["input.case2.ctx_attn_mask"].cuda()
    with torch.no_grad():
        A, B = hn.lora_for_batch(ids, mask)
    chunks = [row[: int(m.sum())].tolist() for row, m in zip(vec["input.case2.ctx_ids"], vec["input.case2.ctx_attn_mask"])]
    adapter = hn.internalize_ids(chunks)
    return {
        "A": rel_err(A, vec["case2.lora.down_proj.A"]),
        "B": rel_err(B, vec["case2.lora.down_proj.B"]),
        "combined A": rel_err(adapter.A, vec["case2.combined.down_proj.A"][0]),
        "combined B": rel_err(adapter.B, vec["case2.combined.down_proj.B"][0]),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--fixtures", type=Path, default=ROOT / "tests" / "fixtures" / "d2l_parity")
    args = p.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device: this check needs a GPU")
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}")
    print("| fixture | dtype | A rel | B rel | combined A rel | combined B rel | within 2e-4 |")
    print("|---|---|---:|---:|---:|---:|---|")
    ok = True
    for folder in sorted(d for d in args.fixtures.iterdir() if d.is_dir()):
        for dtype in (torch.float32, torch.bfloat16):
            errs = check_fixture(folder, dtype)
            within = all(v <= 2e-4 for v in errs.values())
            ok &= within or dtype == torch.bfloat16
            print(f"| {folder.name} | {str(dtype).removeprefix('torch.')} | " + " | ".join(f"{v:.1e}" for v in errs.values()) + f" | {within} |")
    demo = ROOT / "assets" / "tiny-needle" / "hypernet"
    if demo.is_dir():
        text = "The river was quiet that morning. The special magic number is 4831. Birds sang over the water. " * 4
        on_gpu = load_hypernet(demo).internalize(text)
        on_cpu = load_hypernet(demo, device="cpu", dtype=torch.float32).internalize(text)
        d = (on_gpu.A.float().cpu() - on_cpu.A).abs().max().item()
        print(f"demo pair on {load_hypernet(demo).device} (default dtype): rank {on_gpu.rank}, max |A_gpu - A_cpu| {d:.2e}")
    if not ok:
        raise SystemExit("float32 on CUDA does not match the reference vectors")


if __name__ == "__main__":
    main()
