"""What the window's server accepts, by raw HTTP against a real `doclora ui` (no browser):
loopback hosts and same-origin requests only (unless a host is allowed), uploads up to a cap,
and only files really uploaded (also through the window's own handler, in this process)."""

from __future__ import annotations

import shutil
import socket
import sqlite3
from pathlib import Path

import gradio as gr
import httpx
import pytest
from gradio.utils import get_upload_folder

from app.ui import window
from app.ui.guard import ANY_HOST, LOOPBACK, allowed_hosts, hostname, refusal
from app.ui.theme import DROP_ID

from app_helpers import library_state, make_pdf, needle_text
from ui_helpers import UIServer


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = UIServer(tmp_path_factory.mktemp("guarded_home"), "--max-upload-mb", "1",
                   "--allow-host", "lan.example")
    srv.start()
    yield srv
    srv.stop()


def get(server, path="/", **headers):
    return httpx.get(server.url.rstrip("/") + path, headers=headers, timeout=30)


def test_a_foreign_host_is_refused(server):
    port = server.port
    for host in ("evil.example", f"evil.example:{port}", f"127.0.0.1.evil.example:{port}"):
        response = get(server, Host=host)
        assert response.status_code == 403, host
        assert "does not answer for the host" in response.text
    assert get(server, "/gradio_api/info", Host=f"evil.example:{port}").status_code == 403


def test_a_foreign_origin_is_refused(server):
    host = f"127.0.0.1:{server.port}"
    for origin in ("http://evil.example", f"http://evil.example:{server.port}", "null",
                   f"http://localhost:{server.port}"):
        response = get(server, Host=host, Origin=origin)
        assert response.status_code == 403, origin
    files = {"files": ("doc.pdf", b"%PDF-1.7 tiny", "application/pdf")}
    response = httpx.post(server.url + "gradio_api/upload", files=files, timeout=30,
                          headers={"Origin": "http://evil.example"})
    assert response.status_code == 403


def test_loopback_and_allowed_hosts_with_their_own_origin_are_answered(server):
    port = server.port
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", f"lan.example:{port}"):
        assert get(server, Host=host).status_code == 200, host
        assert get(server, Host=host, Origin=f"http://{host}").status_code == 200, host


def raw_get(server, *header_lines: str) -> tuple[int, bytes]:
    """A GET / with exactly these header lines (httpx would merge or check them)."""
    request = "GET / HTTP/1.1\r\n" + "".join(f"{line}\r\n" for line in header_lines)
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall((request + "Connection: close\r\n\r\n").encode("latin-1"))
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return int(answer.split(b" ", 2)[1]), answer


def test_a_host_that_only_starts_like_a_loopback_one_is_refused(server):
    port = server.port
    for host in ("localhost:80@evil.example", "[::1]evil.example", f"localhost:{port}@evil"):
        status, answer = raw_get(server, f"Host: {host}")
        assert status == 403 and b"does not answer for the host" in answer, (host, answer)
    assert raw_get(server, f"Host: 127.0.0.1:{port}")[0] == 200


def test_two_host_or_origin_headers_are_refused(server):
    """Issue 31: the last of two Origin headers was the one checked."""
    own = f"127.0.0.1:{server.port}"
    for first, last in [("http://evil.example", f"http://{own}"),
                        (f"http://{own}", "http://evil.example"), (f"http://{own}",) * 2]:
        status, answer = raw_get(server, f"Host: {own}", f"Origin: {first}", f"Origin: {last}")
        assert status == 403 and answer.endswith(
            b"DocLoRA's window does not answer requests with more than one Origin header.")
    assert raw_get(server, f"Host: {own}", f"Host: {own}")[0] == 400  # uvicorn refuses it first


def test_uploads_over_the_cap_are_refused(server):
    small = {"files": ("doc.pdf", b"%PDF-1.7 " + b"0" * 1000, "application/pdf")}
    assert httpx.post(server.url + "gradio_api/upload", files=small, timeout=30).status_code == 200
    big = {"files": ("big.pdf", b"%PDF-1.7 " + b"0" * 2_000_000, "application/pdf")}
    response = httpx.post(server.url + "gradio_api/upload", files=big, timeout=30)
    assert response.status_code == 413


CASES = [  # (serving host, --allow-host names, Host header, accepted)
    ("127.0.0.1", (), "localhost:7860", True),
    ("127.0.0.1", (), "LOCALHOST", True),
    ("127.0.0.1", (), "evil.example:7860", False),
    ("127.0.0.1", ("pc.lan",), "pc.lan:7860", True),
    ("192.168.1.5", (), "192.168.1.5:7860", True),
    ("0.0.0.0", (), "anything.lan:7860", True),
    ("0.0.0.0", ("pc.lan",), "anything.lan:7860", False),
    ("127.0.0.1", (), "localhost:80@evil", False),  # issue 31: not a host and port
    ("127.0.0.1", (), "[::1]evil.example", False),
    ("0.0.0.0", (), "localhost:80@evil", False),
    ("127.0.0.1", (), "[::1]", True),
]


@pytest.mark.parametrize("serving, extra, host, accepted", CASES)
def test_which_hosts_are_answered(serving, extra, host, accepted):
    allowed = allowed_hosts(serving, extra)
    assert LOOPBACK <= allowed and (ANY_HOST in allowed) == (serving == "0.0.0.0" and not extra)
    assert (refusal({"host": host}, allowed) is None) == accepted
    assert hostname("[::1]:7860") == "::1" and hostname("::1") == "::1"


def test_without_a_display_no_browser_is_tried_and_the_banner_says_why(monkeypatch):
    import webbrowser

    from app.ui import server as srv

    monkeypatch.setattr(srv.sys, "platform", "linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    why = srv.no_browser_reason()
    assert why == "there is no display (DISPLAY and WAYLAND_DISPLAY are unset)"
    text = srv.banner("http://127.0.0.1:7860/", why_no_browser=why)
    assert "\n  DocLoRA is running at  http://127.0.0.1:7860/\n" in text
    assert "No browser was opened: there is no display" in text
    monkeypatch.setenv("DISPLAY", ":0")

    def no_browser():
        raise webbrowser.Error("could not locate runnable browser")

    monkeypatch.setattr(srv.webbrowser, "get", no_browser)
    assert srv.no_browser_reason() == "no web browser was found"
    monkeypatch.setattr(srv.webbrowser, "get", lambda: object())
    assert srv.no_browser_reason() is None
    assert "No browser" not in srv.banner("http://127.0.0.1:7860/")


def upload_handler(core):
    """The function the window runs when files are dropped into it."""
    blocks = window.build(core)
    drop = next(b for b in blocks.blocks.values() if getattr(b, "elem_id", None) == DROP_ID)
    [fn] = [f.fn for f in blocks.fns.values() if (drop._id, "upload") in map(tuple, f.targets)]
    return fn


def test_the_window_adds_only_files_uploaded_to_it(scripted_core, tmp_path):
    """Issue 31: a client posting any server-side path as gradio FileData got it added (and
    could then read it back through answers, sources and exports)."""
    on_upload = upload_handler(scripted_core)
    secret = make_pdf(tmp_path / "secret.pdf", [needle_text("9876")])
    link = Path(get_upload_folder()) / "0123abcd" / "innocent.pdf"
    link.parent.mkdir(parents=True)
    link.symlink_to(secret)
    before = library_state()
    for paths, name in [([str(secret)], "secret.pdf"), ([str(link)], "innocent.pdf"),
                        ([str(Path(get_upload_folder()) / ".." / "x.pdf")], "x.pdf")]:
        with pytest.raises(gr.Error) as err:
            on_upload(paths, "")
        assert err.value.message == (f"'{name}' was not uploaded to this window; drop the file "
                                     "into the window to add it.")
        assert scripted_core.jobs() == [] and library_state() == before
    uploaded = link.with_name("doc.pdf")
    shutil.copy(secret, uploaded)  # where Gradio puts what the browser uploads
    on_upload([str(uploaded)], "")
    [job] = scripted_core.jobs()
    assert scripted_core.wait(job.id, timeout=300).status == "done"
    assert [d.file_name for d in scripted_core.documents()] == ["doc.pdf"]


def test_a_server_side_path_posted_as_an_upload_is_refused(server):
    config = httpx.get(server.url + "config", timeout=30).json()
    drop = next(c["id"] for c in config["components"]
                if c.get("props", {}).get("elem_id") == DROP_ID)
    index = next(i for i, d in enumerate(config["dependencies"]) if [drop, "upload"] in d["targets"])
    secret = make_pdf(server.home / "secret.pdf", [needle_text("9876")])
    payload = {"data": [[{"path": str(secret), "meta": {"_type": "gradio.FileData"}}], ""],
               "fn_index": index, "session_hash": "intruder", "trigger_id": drop}
    assert httpx.post(server.url + "gradio_api/queue/join", json=payload, timeout=30).is_success
    with httpx.stream("GET", server.url + "gradio_api/queue/data", timeout=120,
                      params={"session_hash": "intruder"}) as events:
        done = next(line for line in events.iter_lines() if "process_completed" in line)
    assert '"success":false' in done
    library = sqlite3.connect(server.home / "library.db")
    assert library.execute("SELECT count(*) FROM jobs").fetchone() == (0,)
    library.close()
