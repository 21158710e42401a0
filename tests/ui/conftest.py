"""Browser-test harness: Debian's Chromium driven by Playwright against a real `doclora ui`.

One server process per test module (``ui_server``), one browser per session (``browser``), one
fresh page per test (``page``), which also records every network request the page makes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from ui_helpers import LOCAL_PREFIXES, REPO_ROOT, PdfFactory, UIServer

CHROMIUM = Path(os.environ.get("DOCLORA_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's Chromium, installed by scripts/install-browser.sh when missing."""
    if not CHROMIUM.exists():
        subprocess.run(["bash", str(REPO_ROOT / "scripts" / "install-browser.sh")], check=True)
    return CHROMIUM


@pytest.fixture(scope="session")
def browser(chromium):
    """One headless Chromium for the whole session."""
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory):
    """A running `doclora ui` with an empty library, shared by the tests of one module."""
    server = UIServer(tmp_path_factory.mktemp("ui_home"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def page(browser, ui_server):
    """A fresh browser page (own storage) on the window; ``page.requests`` lists every URL."""
    context = browser.new_context(viewport={"width": 1280, "height": 860}, accept_downloads=True)
    page = context.new_page()
    page.requests = []
    page.on("request", lambda request: page.requests.append(request.url))
    page.set_default_timeout(90_000)  # generous: the 2 cores are shared with other work
    page.goto(ui_server.url)
    page.wait_for_selector("#dl-docs")
    yield page
    context.close()
    external = [u for u in page.requests if not u.startswith(LOCAL_PREFIXES)]
    assert not external, f"the window fetched from outside 127.0.0.1: {external}"


@pytest.fixture
def shots(artifacts_dir, request):
    """Save numbered screenshots under artifacts/ui/<test name>/."""
    folder = artifacts_dir / "ui" / request.node.name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    count = [0]

    def shot(page, name: str) -> Path:
        count[0] += 1
        path = folder / f"{count[0]:02d}-{name}.png"
        page.screenshot(path=str(path))
        return path

    return shot


@pytest.fixture(scope="module")
def pdfs(tmp_path_factory) -> PdfFactory:
    """Make test PDFs (in a temp folder shared by the module)."""
    return PdfFactory(tmp_path_factory.mktemp("pdfs"))


@pytest.fixture
def scripted_core(doclora_home, scripted_engine):
    """A DocLoRA on the test's empty library with a scripted engine."""
    from app.api import DocLoRA
    core = DocLoRA(engine=scripted_engine)
    yield core
    core.close()
