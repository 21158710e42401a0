"""Issue 29's acceptance check through the window: the three PDFs of ``benchmarks/data/trio.py`` (the
Apache License 2.0 printed to PDF, Debian's shared-mime-info-spec.pdf and libtasn1.pdf) and their 12
questions (``trio.json``), asked with the bundled smollm2-135m pair.

A real ``doclora ui`` runs on a fresh library (``tests/ui/ui_helpers.UIServer``) in headless Chromium
(Playwright, as the UI tests launch it): the three PDFs go into the window's upload box at once, each is
waited for until its card says ready, then each question is typed into the chat of its document (the chat
cleared before each question, as the baselines ask without history) and the answer is read from the page;
a screenshot per answer goes to --out. Once the window is closed, the product's chat engine answers on the
same library and machine (greedy, the library's settings):
  none          the question alone (the base model, no document)
  best page     the page that best matches the question (BM25 over the extracted pages, the first page
                when no word matches) in the prompt, then the question; no adapter
  adapter       what the window answered (the document's adapter, the product's whole answer path)
  adapter (API) ``DocLoRA.ask(doc, question, history=False)``: the same path without the window
Scores (``benchmarks/docqa_sets``): token F1 and gold recall, each the best over the accepted answers;
right = gold recall >= 0.5; an invented name is a proper-name-like word of the answer found neither in
the document, the question nor the no-document answer. Passes when the adapter is right at least as
often as the best page and no adapter answer holds an invented name.

  python benchmarks/trio_window.py --out /tmp/trio-run [--cache DIR] [--json rows.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(1, str(REPO / "tests" / "ui"))  # ui_helpers and the window tests' user actions

from app.chunks import bm25  # noqa: E402
from benchmarks._machine import machine  # noqa: E402
from benchmarks.data.trio import TRIO_JSON  # noqa: E402
from benchmarks.docqa_sets import scores  # noqa: E402
from hypernet.train.qa_score import invented_names, known_words  # noqa: E402

PAIR = "smollm2-135m"
RIGHT = 0.5  # gold recall at or above which an answer counts as right
METHODS = ("none", "best page", "adapter", "adapter (API)")
CHROMIUM = Path(os.environ.get("DOCLORA_CHROMIUM", "/usr/bin/chromium"))  # as tests/ui/conftest.py
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
INGEST_TIMEOUT_MS = 40 * 60_000  # a 36-page manual through the hypernetwork on two busy cores
ANSWER_TIMEOUT_MS = 10 * 60_000


def best_page(pages: list[str], question: str) -> int:
    """Index of the page that best matches ``question`` (BM25; the earliest on a tie, so the first page
    when no word of the question is in any page)."""
    ranks = bm25(pages, question)
    return min(range(len(pages)), key=lambda i: (-ranks[i], i))


def judge(answer: str, golds: list[str], known: set[str]) -> dict:
    """F1, gold recall, whether the answer is right (recall >= RIGHT) and its invented names."""
    f1, recall = scores(answer, golds)
    return {"f1": f1, "recall": recall, "right": recall >= RIGHT, "invented": invented_names(answer, known)}


def acceptance(rows: list[dict]) -> tuple[list[str], bool]:
    """The two acceptance lines and whether both pass."""
    def of(method: str) -> list[dict]:
        return [r for r in rows if r["method"] == method]
    adapter, page = sum(r["right"] for r in of("adapter")), sum(r["right"] for r in of("best page"))
    invented = sum(bool(r["invented"]) for r in of("adapter"))
    lines = [f"adapter right {adapter} vs best page {page}: {'PASS' if adapter >= page else 'FAIL'}",
             f"invented names in adapter answers: {invented}: {'PASS' if not invented else 'FAIL'}"]
    return lines, adapter >= page and not invented


def window_answers(pdfs: list[Path], home: Path, questions: list[dict], out: Path) -> tuple[dict, dict]:
    """Drop ``pdfs`` into a real window on ``home`` and ask each question in its document's chat:
    ({(file, question): answer}, {file: seconds from the drop to its ready card})."""
    import test_window as user  # the UI tests' user actions: upload, open a document, ask
    from playwright.sync_api import sync_playwright
    from ui_helpers import UIServer

    from app.library import Library

    user.ANSWER_TIMEOUT_MS = ANSWER_TIMEOUT_MS  # ask() waits this long; the default is for the demo pair
    server, answers, ready = UIServer(home), {}, {}
    server.start()
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            page.set_default_timeout(90_000)
            page.goto(server.url)
            page.locator("#dl-status", has_text=PAIR).wait_for()  # the window runs the real pair
            t0 = time.monotonic()
            user.add_with_file_input(page, *pdfs)
            for pdf in pdfs:
                card = page.locator('.dl-job[data-status="done"], .dl-job[data-status="failed"]', has_text=pdf.name)
                card.wait_for(timeout=INGEST_TIMEOUT_MS)
                if card.get_attribute("data-status") != "done":
                    raise RuntimeError(f"the window could not add {pdf.name}: {card.inner_text()}")
                ready[pdf.name] = time.monotonic() - t0
                print(f"window: {pdf.name} ready after {ready[pdf.name]:.0f} s", flush=True)
            library = Library.open()  # the titles the window lists (read from its library)
            titles = {d.file_name: d.title for d in library.documents(PAIR)}
            library.close()
            for pdf in pdfs:
                user.open_document(page, titles[pdf.name])
                for n, qa in enumerate(q for q in questions if q["file"] == pdf.name):
                    if page.locator("#dl-chat .user-row").count():  # a fresh chat for each question
                        page.locator("#dl-clear").click()
                        page.locator("#dl-confirm-clear").click()
                        page.wait_for_function("document.querySelectorAll('#dl-chat .user-row').length === 0")
                    answers[pdf.name, qa["question"]] = user.ask(page, qa["question"])[0]
                    page.screenshot(path=str(out / f"{pdf.stem}-{n + 1}-{qa['kind']}.png"))
                    print(f"window: {pdf.name} {qa['kind']}: {answers[pdf.name, qa['question']][:80]!r}", flush=True)
            browser.close()
    finally:
        server.stop()
        shutil.copyfile(server.log_path, out / "ui-server.log")
    return answers, ready


def baselines(questions: list[dict], window: dict) -> list[dict]:
    """Every method on every question, one scored row each (the product's chat engine on the library)."""
    from app.api import DocLoRA
    from benchmarks.docqa import answer, middle_truncated

    app, rows = DocLoRA(PAIR), []
    docs = {d.file_name: d for d in app.documents()}
    for qa in questions:
        doc, question = docs[qa["file"]], qa["question"]
        pages = [t for _, t in app.library.pages(doc.id)]
        chosen = best_page(pages, question)
        got = {"none": answer(app, None, question)[0],
               "best page": answer(app, None, f"{middle_truncated(app, pages[chosen])}\n\n{question}")[0],
               "adapter": window[qa["file"], question],
               "adapter (API)": answer(app, doc.id, question)[0]}
        known = known_words("\n\n".join(pages), question, got["none"])
        for method in METHODS:
            rows.append({"file": qa["file"], "kind": qa["kind"], "question": question, "gold": qa["answers"],
                         "method": method, "answer": got[method], "page": chosen + 1 if method == "best page" else None,
                         **judge(got[method], qa["answers"], known)})
        print(f"asked {qa['file']} {qa['kind']}", flush=True)
    app.close()
    return rows


def tables(rows: list[dict]) -> str:
    """The per-question table, the summary per method and the acceptance lines."""
    out = [f"right = gold recall >= {RIGHT}; invented = answers holding a proper-name-like word found in neither "
           "the document, the question nor the no-document answer", "",
           f"{'document':26} {'kind':8} {'method':14} {'right':5} {'recall':>6}  answer (first 80 chars)"]
    for r in rows:
        out.append(f"{r['file']:26} {r['kind']:8} {r['method']:14} {'yes' if r['right'] else 'no':5} "
                   f"{r['recall']:6.2f}  {' '.join(r['answer'].split())[:80]}")
    out += ["", f"{'method':14} {'right':>6} {'mean F1':>8} {'recall':>7} {'invented':>9}"]
    for method in METHODS:
        got = [r for r in rows if r["method"] == method]
        if got:
            out.append(f"{method:14} {sum(r['right'] for r in got):>3}/{len(got):<2} "
                       f"{statistics.mean(r['f1'] for r in got):8.2f} {statistics.mean(r['recall'] for r in got):7.2f} "
                       f"{sum(bool(r['invented']) for r in got):9d}")
    named = [f"  {r['method']}, {r['file']} {r['kind']}: {', '.join(r['invented'])}" for r in rows
             if r["invented"] and r["method"].startswith("adapter")]
    return "\n".join(out + (["", "invented names:", *named] if named else []) + ["", *acceptance(rows)[0]])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True, help="folder for the screenshots and the server's log")
    p.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "doclora-debian-packages",
                   help="where trio.py keeps the downloaded .deb packages")
    p.add_argument("--json", type=Path, default=None, help="also write every scored answer here")
    args = p.parse_args(argv)
    from benchmarks.data.trio import build

    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the test suite: the cores may be shared
    args.out.mkdir(parents=True, exist_ok=True)
    questions = json.loads(TRIO_JSON.read_text(encoding="utf-8"))["questions"]
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="doclora-trio-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        os.environ["DOCLORA_HOME"] = str(home)  # the window's library, and the baselines'
        os.environ.pop("DOCLORA_MODEL", None)
        from app.api import DocLoRA
        setup = DocLoRA()
        setup.use_pair(PAIR)  # the window opens on the active pair
        setup.close()
        pdfs = build(Path(tmp) / "pdfs", args.cache)
        print(f"machine: {machine(f'pair {PAIR}')}", flush=True)
        window, ready = window_answers(pdfs, home, questions, args.out)
        rows = baselines(questions, window)
    print(tables(rows))
    print(f"ready in the window after (from the drop): "
          + ", ".join(f"{name} {s:.0f} s" for name, s in ready.items())
          + f"; whole run {time.monotonic() - started:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    return 0 if acceptance(rows)[1] else 1


if __name__ == "__main__":
    sys.exit(main())
