"""Make the README's screenshot (docs/screenshot.png) from a real session.

Starts `doclora ui` on a fresh library with the bundled smollm2-135m pair, renders a held-out
manual page of this machine (no page of that command was trained on) to a PDF, adds it in a
1280x720 browser window, asks the question the QA benchmark asks of every page ("What does NAME
do?", `hypernet.train.manpages`) and saves the window once the answer and the pages shown under
it are drawn. Nothing is staged: the answer is whatever the pair says, and the window says
whether a page holds it.

    .venv/bin/python scripts/screenshot_readme.py [--page clock] [--out docs/screenshot.png]
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests" / "ui")]

from app.models.registry import SMOLLM2  # noqa: E402
from hypernet.train.manpages import collect  # noqa: E402
from ui_helpers import UIServer  # noqa: E402  (the browser tests' `doclora ui` process)

CHROMIUM = Path(os.environ.get("DOCLORA_CHROMIUM", "/usr/bin/chromium"))
VIEWPORT = {"width": 1280, "height": 720}
LINES_PER_PAGE = 64
TIMEOUT_MS = 600_000  # adding and answering on a busy 2-core machine


class Server(UIServer):
    """`doclora ui` on the bundled smollm2-135m pair, running this checkout's code."""

    def env(self) -> dict[str, str]:
        return dict(super().env(), DOCLORA_MODEL=SMOLLM2, PYTHONPATH=str(REPO))


def manual_pdf(name: str, folder: Path) -> tuple[Path, str]:
    """The held-out manual page ``name`` rendered by ``man`` as a monospace PDF, and the
    question "What does NAME do?" about it."""
    import pymupdf

    pages = {p.name: p for p in collect(heldout=True, limit=40, seed=0, max_chars=6000,
                                        min_chars=1000)}
    if name not in pages:
        sys.exit(f"No held-out manual page '{name}' here; choose one of: {', '.join(pages)}.")
    page = pages[name]
    lines = page.text.splitlines()
    doc = pymupdf.open()
    for i in range(0, len(lines), LINES_PER_PAGE):
        doc.new_page(width=595, height=842).insert_text(
            (48, 56), "\n".join(lines[i:i + LINES_PER_PAGE]), fontname="cour", fontsize=8.5)
    doc.set_metadata({"title": f"{name} manual page"})
    path = folder / f"{name}.pdf"
    doc.save(path)
    doc.close()
    return path, next(qa.question for qa in page.questions if qa.kind == "what")


def session(url: str, pdf: Path, question: str) -> bytes:
    """Add ``pdf``, ask ``question``; the window's PNG once it is answered."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM),
                                     args=["--headless", "--no-sandbox", "--disable-gpu"])
        page = browser.new_context(viewport=VIEWPORT).new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(url)
        page.locator("#dl-status", has_text=SMOLLM2).wait_for()
        page.set_input_files("#dl-drop input[type=file]", [str(pdf)])
        page.locator('.dl-job[data-status="done"]').wait_for()
        page.locator("#dl-status", has_text=f"{pdf.stem} manual page").wait_for()
        page.locator("#dl-chat .example").first.wait_for()  # the empty chat's suggestions
        page.locator("#dl-input textarea").fill(question)
        page.locator("#dl-input textarea").press("Enter")
        page.locator("#dl-chat .user-row").wait_for()
        page.wait_for_function(  # the answer is done: the box offers Send again
            "!document.querySelector('#dl-input [data-testid=stop-button]')"
            " && document.querySelector('#dl-input [data-testid=submit-button]')")
        page.locator("#dl-tab-library-button").click()
        page.evaluate("document.querySelector('#dl-tab-library').scrollTop = 0")
        page.wait_for_timeout(1000)  # toasts and transitions settle
        shot = page.screenshot()
        browser.close()
    return shot


def small_png(png: bytes) -> bytes:
    """The screenshot in 128 colours (a UI has few), about a third of the size."""
    from PIL import Image

    out = io.BytesIO()
    Image.open(io.BytesIO(png)).convert("RGB").quantize(128).save(out, "PNG", optimize=True)
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--page", default="clock", help="a held-out manual page's name")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshot.png")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="doclora-screenshot-") as tmp:
        folder = Path(tmp)
        pdf, question = manual_pdf(args.page, folder)
        (folder / "home").mkdir()
        server = Server(folder / "home")
        server.start()
        try:
            png = small_png(session(server.url, pdf, question))
        finally:
            server.stop()
    tmp_out = args.out.with_name(args.out.name + ".tmp")
    tmp_out.write_bytes(png)
    os.replace(tmp_out, args.out)
    print(f"{args.out} ({len(png) // 1000} KB)")


if __name__ == "__main__":
    main()
