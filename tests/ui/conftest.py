"""Browser-test harness: Debian's Chromium driven by Playwright against a real `doclora ui`.

One server process per test module (``ui_server``), one browser per session (``browser``), one
fresh page per test (``page``), which also records every network request the page makes.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from ui_helpers import PdfFactory, ScriptedEngine  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("DOCLORA_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
START_TIMEOUT_S = 120  # Gradio imports slowly on a busy 2-core machine
LOCAL_PREFIXES = ("http://127.0.0.1:", "ws://127.0.0.1:", "data:", "blob:", "about:")


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def doclora_command() -> list[str]:
    """The installed `doclora` entry point of the project's venv."""
    exe = Path(sys.executable).with_name("doclora")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "app.cli"]


class UIServer:
    """A `doclora ui --no-browser --port N` subprocess on its own library folder."""

    def __init__(self, home: Path, *args: str) -> None:
        self.home = home
        self.args = list(args)  # more options of `doclora ui`
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log_path = home / "ui-server.log"
        self.proc: subprocess.Popen | None = None

    def env(self) -> dict[str, str]:
        env = dict(os.environ, DOCLORA_HOME=str(self.home), HF_HUB_OFFLINE="1",
                   GRADIO_ANALYTICS_ENABLED="False", PYTHONUNBUFFERED="1",
                   GRADIO_TEMP_DIR=str(self.home / "gradio"))  # upload copies stay in the test's home
        env.pop("DOCLORA_RAISE_ERRORS", None)  # the window must show messages, not re-raise
        env.pop("DOCLORA_MODEL", None)
        return env

    def start(self) -> None:
        """Start the server and wait until it answers HTTP."""
        log = open(self.log_path, "ab")
        cmd = doclora_command() + ["ui", "--no-browser", "--port", str(self.port), *self.args]
        self.proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=self.env(), stdout=log,
                                     stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"doclora ui exited with {self.proc.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(self.url, timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        raise RuntimeError(f"doclora ui did not answer within {START_TIMEOUT_S} s:\n{self.log()}")

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL)."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        """Stop and start again on the same port and library."""
        self.stop()
        self.start()

    def log(self) -> str:
        """The server's output so far (the last 4000 characters)."""
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else ""


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
def scripted_core(doclora_home):
    """A DocLoRA on the test's empty library with a scripted engine."""
    from app.api import DocLoRA
    core = DocLoRA(engine=ScriptedEngine())
    yield core
    core.close()
