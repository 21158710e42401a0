"""Time to first token when a question to a long document activates a new set of its chunks (issue 30).

Adds Debian's 36-page libtasn1.pdf (``benchmarks/data/trio.py`` finds or unpacks it) to a temporary
library on the bundled smollm2-135m pair and asks through ``DocLoRA.ask`` (greedy, grounding off):
a question on a chunk set composed for the first time (compose, write, load into llama.cpp, prefill),
the same set again (cached), another set, back to the first, and a whole-document question.
Compare with the no-document question asked first (the base model alone).

  python benchmarks/chunk_switch.py
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks._machine import machine  # noqa: E402

QUESTIONS = (("new chunk set", "What does asn1Parser's -c option do?"),
             ("same chunk set again", "What does asn1Parser's -c option do?"),
             ("another chunk set", "Who are the authors?"),
             ("back to the first set", "What does asn1Parser's -c option do?"),
             ("whole-document question", "What is this document about?"))


def main() -> int:
    os.environ["DOCLORA_HOME"] = home = tempfile.mkdtemp(prefix="doclora-switch-")
    from app.api import DocLoRA
    from app.settings import Settings
    from benchmarks.data.trio import TRIO, source_file

    (manual,) = [p for p in TRIO if p.file == "libtasn1.pdf"]
    app = DocLoRA(model="smollm2-135m", settings=Settings(temperature=0.0, max_tokens=16, grounding=False))
    try:
        doc = app.add(source_file(manual, Path(tempfile.gettempdir()) / "doclora-debian-packages"))

        def ttft(ref, question: str) -> tuple[float, dict]:
            t0, first = time.perf_counter(), []
            answer = app.ask(ref, question, history=False, on_token=lambda _: first or first.append(time.perf_counter()))
            return (first[0] if first else time.perf_counter()) - t0, answer.chunk_pages

        base, _ = ttft(None, "What is ASN.1?")  # loads the base; the no-document reference
        rows = [(label, *ttft(doc.id, q)) for label, q in QUESTIONS]
    finally:
        app.close()
        shutil.rmtree(home, ignore_errors=True)
    print(f"# Time to first token with chunk selection, libtasn1.pdf ({doc.adapter.n_chunks} chunks, {doc.pages} pages), "
          f"smollm2-135m, max_chunks {Settings.max_chunks}; {machine()}")
    print(f"no document (base alone, first question, includes loading the base): {base:.3f} s\n")
    print("| question | time to first token (s) | pages whose chunks answered |\n|---|---:|---|")
    for label, seconds, pages in rows:
        print(f"| {label} | {seconds:.3f} | {pages.get(doc.id)} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
