"""Helpers of the UI tests (tests/ui is on pytest's ``pythonpath``): PDFs and a `doclora ui`
server process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


# -- PDFs made in the test ----------------------------------------------------------------------

PROSE = {
    "harbor": ("The harbor office opens at seven in the morning, when the first ferries leave "
               "for the islands. Fishermen bring their catch to the market hall, and the gulls "
               "follow every boat along the pier."),
    "orchard": ("The orchard lies on a gentle slope above the river. In autumn the pickers fill "
                "wooden crates with apples, and the old press in the barn runs from dawn until "
                "the light fades behind the hills."),
}


class PdfFactory:
    """Writes small PDFs into one folder: needle documents, an encrypted and a corrupt one."""

    PASSWORD = "user-pw"

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def needle(self, name: str, number: str, topic: str) -> Path:
        """A one-page PDF in ordinary prose with 'The special magic number is <number>.'"""
        import pymupdf
        prose = PROSE[topic]
        text = f"{prose} The special magic number is {number}. {prose}"
        path = self.folder / name
        doc = pymupdf.open()
        page = doc.new_page()
        page.insert_textbox(pymupdf.Rect(56, 56, 540, 780), text, fontsize=11)
        doc.set_metadata({"title": Path(name).stem.replace("-", " ").title()})
        doc.save(path)
        doc.close()
        return path

    def plain(self, name: str, topic: str) -> Path:
        """A one-page PDF of ordinary prose without a needle."""
        import pymupdf
        path = self.folder / name
        doc = pymupdf.open()
        doc.new_page().insert_textbox(pymupdf.Rect(56, 56, 540, 780), PROSE[topic], fontsize=11)
        doc.set_metadata({"title": Path(name).stem.replace("-", " ").title()})
        doc.save(path)
        doc.close()
        return path

    def encrypted(self, name: str = "locked.pdf") -> Path:
        """A PDF that needs a user password to open."""
        import pymupdf
        path = self.folder / name
        doc = pymupdf.open()
        doc.new_page().insert_text((72, 72), "Confidential minutes of the harbor board.")
        doc.save(path, encryption=pymupdf.PDF_ENCRYPT_AES_256, owner_pw="owner-pw",
                 user_pw=self.PASSWORD)
        doc.close()
        return path

    def corrupt(self, name: str = "broken.pdf") -> Path:
        """A file that starts like a PDF but whose body is garbage."""
        path = self.folder / name
        path.write_bytes(b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R" +
                         bytes(range(256)) * 8 + b"\n%%EOF\n")
        return path


REPO_ROOT = Path(__file__).resolve().parents[2]
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
