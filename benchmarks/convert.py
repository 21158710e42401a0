"""Benchmark converters: PDF pages/s on real PDFs, adapter GGUF write time vs rank.

    .venv/bin/python benchmarks/convert.py [extra.pdf ...] [--quick]   (--quick: no pymupdf4llm comparison)

PDFs: every *.pdf under /usr/share/doc (Debian documentation packages, e.g. r-doc-pdf and
gnuplot-doc, install manuals there) plus any given on the command line; when none exist, a
synthetic 200-page PDF is generated and the table says so. Adapter: Qwen3-0.6B shapes (28
layers, down_proj 3072 -> 1024) against a header-only base GGUF with a 151,936-token vocabulary.
"""

from __future__ import annotations

import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import gguf  # noqa: E402
import pymupdf  # noqa: E402

from benchmarks._machine import machine  # noqa: E402
from converters import adapter_to_gguf, pdf_to_text  # noqa: E402
from converters.gguf_info import read_gguf_info  # noqa: E402
from converters.llama import tensor_name  # noqa: E402

QWEN3_06B = {"layers": 28, "hidden": 1024, "intermediate": 3072, "vocab": 151936}
RANKS = (8, 16, 72, 136, 264)
LLM_PAGES = 5  # pymupdf4llm is slow: time it on the first pages of the first PDF only


def find_pdfs(extra: list[str]) -> list[Path]:
    found = {p.resolve() for p in Path("/usr/share/doc").rglob("*.pdf") if p.resolve().is_file()}
    return sorted(found | {Path(p).resolve() for p in extra})


def synthetic_pdf(path: Path, pages: int = 200) -> Path:
    doc = pymupdf.open()
    para = "Generated benchmark text with enough words to fill a page of prose. " * 40
    for n in range(pages):
        doc.new_page().insert_textbox(pymupdf.Rect(72, 72, 540, 720), f"Page {n + 1}. {para}", fontsize=10)
    doc.save(path)
    return path


def pymupdf4llm_pages_per_s(path: Path, pages: int) -> float:
    """pymupdf4llm.to_markdown speed, in a child process: importing it switches on pymupdf's
    layout model, which would also slow down our own extraction in this process."""
    code = ("import sys, time, pymupdf4llm; t = time.perf_counter(); "
            f"pymupdf4llm.to_markdown({str(path)!r}, pages=list(range({pages})), show_progress=False); "
            "print(time.perf_counter() - t)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return pages / float(out.strip().splitlines()[-1])


def bench_pdfs(pdfs: list[Path], quick: bool) -> None:
    print(f"\n## PDF -> text ({'real PDFs' if pdfs[0].is_relative_to('/usr') else 'synthetic'})\n")
    print("| PDF | pages | pdf_to_text pages/s | plain page.get_text() pages/s |")
    print("|---|---:|---:|---:|")
    total_pages = total_s = 0.0
    for path in pdfs:
        t = time.perf_counter()
        doc = pdf_to_text(path)
        ours = time.perf_counter() - t
        total_pages, total_s = total_pages + doc.page_count, total_s + ours
        with pymupdf.open(path) as raw:
            t = time.perf_counter()
            for page in raw:
                page.get_text()
            plain = raw.page_count / (time.perf_counter() - t)
        print(f"| {path.name} | {doc.page_count} | {doc.page_count / ours:.1f} | {plain:.0f} |", flush=True)
    print(f"| **all** | {total_pages:.0f} | **{total_pages / total_s:.1f}** | |")
    if not quick:
        n = min(LLM_PAGES, pymupdf.open(pdfs[0]).page_count)
        print(f"\npymupdf4llm.to_markdown on the first {n} pages of {pdfs[0].name}: "
              f"{pymupdf4llm_pages_per_s(pdfs[0], n):.2f} pages/s", flush=True)


def header_only_base(path: Path) -> Path:
    """A GGUF with Qwen3-0.6B's ffn_down shapes (junk Q2_K data) and a full-size vocabulary."""
    w = gguf.GGUFWriter(path, arch="qwen3")
    w.add_type(gguf.GGUFType.MODEL)
    w.add_block_count(QWEN3_06B["layers"])
    w.add_token_list([f"tok{i}" for i in range(QWEN3_06B["vocab"])])
    shape = (QWEN3_06B["hidden"], QWEN3_06B["intermediate"])
    qtype = gguf.GGMLQuantizationType.Q2_K
    nbytes = gguf.quant_shape_to_byte_shape(shape, qtype)
    for i in range(QWEN3_06B["layers"]):
        w.add_tensor(tensor_name(gguf.MODEL_TENSOR.FFN_DOWN, i), np.zeros(nbytes, dtype=np.uint8), raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


class RandomLora:
    """A down_proj LoRA of the given rank on every layer, by module name (scale already in B)."""

    def __init__(self, rank: int):
        rng = np.random.default_rng(rank)
        self.modules = {
            f"model.layers.{i}.mlp.down_proj": (
                rng.standard_normal((rank, QWEN3_06B["intermediate"]), dtype=np.float32),
                rng.standard_normal((QWEN3_06B["hidden"], rank), dtype=np.float32))
            for i in range(QWEN3_06B["layers"])
        }

    def lora_modules(self) -> dict:
        return self.modules


def bench_adapters(tmp: Path) -> None:
    base = header_only_base(tmp / "base.gguf")
    t = time.perf_counter()
    read_gguf_info(base)
    first_ms = (time.perf_counter() - t) * 1000
    t = time.perf_counter()
    read_gguf_info(base)
    cached_ms = (time.perf_counter() - t) * 1000
    print(f"\n## Adapter -> GGUF (Qwen3-0.6B shapes, down_proj x {QWEN3_06B['layers']} layers)\n")
    print(f"Reading the base GGUF header ({QWEN3_06B['vocab']}-token vocabulary): first {first_ms:.0f} ms, "
          f"then cached {cached_ms:.2f} ms. Write times below are with the cached header.\n")
    print("| rank | F16 MiB | F16 write ms | F32 MiB | F32 write ms |")
    print("|---:|---:|---:|---:|---:|")
    for rank in RANKS:
        lora = RandomLora(rank)
        row = [str(rank)]
        for outtype in ("f16", "f32"):
            out = tmp / f"r{rank}-{outtype}.gguf"
            t = time.perf_counter()
            adapter_to_gguf(lora, out, base_gguf=base, outtype=outtype)
            ms = (time.perf_counter() - t) * 1000
            row += [f"{out.stat().st_size / 2**20:.1f}", f"{ms:.0f}"]
            out.unlink()
        print("| " + " | ".join(row) + " |", flush=True)


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    quick = "--quick" in sys.argv
    print(f"# converters benchmark\n\nMachine: {machine(f'Python {platform.python_version()}', f'pymupdf {pymupdf.VersionBind}')}")
    with tempfile.TemporaryDirectory() as tmp:
        pdfs = find_pdfs(args)
        if not pdfs:
            print("\nNo PDFs under /usr/share/doc: using a generated 200-page PDF instead.")
            pdfs = [synthetic_pdf(Path(tmp) / "synthetic.pdf")]
        bench_pdfs(pdfs, quick)
        bench_adapters(Path(tmp))


if __name__ == "__main__":
    main()
