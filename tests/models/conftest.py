"""Fixtures of the models tests: a local stand-in for the Hugging Face hub serving tiny repos.

The fake hub serves what the real ``huggingface_hub`` client needs, pointed at it through
``HF_ENDPOINT``:
- ``GET /api/models/{repo}/revision/{rev}?blobs=True``: model info with the commit id and the
  file listing (``siblings``: size, git blob id, LFS sha256/size);
- ``HEAD|GET /{repo}/resolve/{rev}/{path}``: ``X-Repo-Commit``, ``ETag`` (``X-Linked-Etag`` and
  ``X-Linked-Size`` for LFS files), ``Accept-Ranges``, and ``Range: bytes=N-`` answered with 206;
- gated repositories: listed for anyone (``gated: "manual"``), but files answer 401 with
  ``X-Error-Code: GatedRepo`` unless the request carries the repo's token.

Faults for tests: ``drop_once`` (the first full GET of a file sends half the bytes, then closes
the connection) and ``corrupt`` (same size, one byte flipped; the listing keeps the true hash).
Binds 127.0.0.1 on a free port; every request is logged.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BytesIO
from pathlib import Path

import gguf
import numpy as np
import pytest

LFS_SUFFIXES = (".safetensors", ".bin", ".gguf", ".model")
RESOLVE = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<path>.+)$")
INFO = re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+)(/revision/(?P<rev>[^/?]+))?$")


@dataclass
class Repo:
    files: dict[str, bytes]
    commit: str
    gated: bool = False
    token: str = "hf_test_token_with_access"  # the one token that may read a gated repo

    def is_lfs(self, path: str) -> bool:
        return path.endswith(LFS_SUFFIXES)

    def etag(self, path: str) -> str:
        data = self.files[path]
        if self.is_lfs(path):
            return hashlib.sha256(data).hexdigest()
        return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()

    def sibling(self, path: str) -> dict:
        data = self.files[path]
        entry = {"rfilename": path, "size": len(data), "blobId": hashlib.sha1(data).hexdigest()}
        if self.is_lfs(path):
            entry["lfs"] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data),
                            "pointerSize": 134}
        else:
            entry["blobId"] = self.etag(path)
        return entry


@dataclass
class FakeHub:
    """Repositories by id, faults by (repo, path), and a log of (method, path, range header)."""

    repos: dict[str, Repo] = field(default_factory=dict)
    faults: dict[tuple[str, str], str] = field(default_factory=dict)
    log: list[tuple[str, str, str | None]] = field(default_factory=list)
    url: str = ""

    def add_repo(self, repo_id: str, files: dict[str, bytes], gated: bool = False) -> Repo:
        digest = hashlib.sha1(repo_id.encode())
        for path in sorted(files):
            digest.update(path.encode() + files[path])
        commit = digest.hexdigest()
        self.repos[repo_id] = Repo(files=dict(files), commit=commit, gated=gated)
        return self.repos[repo_id]

    def gets(self, path_suffix: str) -> list[str | None]:
        """Range headers of every GET whose URL path ends with ``path_suffix``."""
        return [rng for method, path, rng in self.log if method == "GET" and path.endswith(path_suffix)]


def _handler(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # keep test output quiet
            pass

        def _send(self, status: int, body: bytes = b"", headers: dict | None = None,
                  length: int | None = None) -> None:
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body) if length is None else length))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _error(self, status: int, code: str, message: str) -> None:
            body = json.dumps({"error": message}).encode()
            self._send(status, body, {"X-Error-Code": code, "X-Error-Message": message,
                                      "Content-Type": "application/json"})

        def _repo(self, repo_id: str, files: bool = False) -> Repo | None:
            """The repo, or None after answering 404 (unknown) or 401 (gated files, no token)."""
            repo = hub.repos.get(repo_id)
            if repo is None:
                self._error(404, "RepoNotFound", f"Repository {repo_id} not found")
                return None
            if files and repo.gated and repo.token not in self.headers.get("authorization", ""):
                self._error(401, "GatedRepo", f"Access to model {repo_id} is restricted.")
                return None
            return repo

        def do_HEAD(self) -> None:
            self._serve()

        def do_GET(self) -> None:
            self._serve()

        def _serve(self) -> None:
            path = self.path.split("?")[0]
            hub.log.append((self.command, path, self.headers.get("Range")))
            if m := INFO.match(path):
                self._info(m["repo"], m["rev"] or "main")
            elif m := RESOLVE.match(path):
                self._file(m["repo"], m["rev"], m["path"])
            else:
                self._error(404, "NotFound", f"no route for {path}")

        def _info(self, repo_id: str, rev: str) -> None:
            repo = self._repo(repo_id)
            if repo is None:
                return
            if rev not in ("main", repo.commit):
                return self._error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
            body = json.dumps({
                "_id": repo.commit[:24], "id": repo_id, "modelId": repo_id, "sha": repo.commit,
                "private": False, "gated": "manual" if repo.gated else False, "disabled": False,
                "tags": [], "siblings": [repo.sibling(p) for p in sorted(repo.files)],
            }).encode()
            self._send(200, body, {"Content-Type": "application/json"})

        def _file(self, repo_id: str, rev: str, file: str) -> None:
            repo = self._repo(repo_id, files=True)
            if repo is None:
                return
            if rev not in ("main", repo.commit):
                return self._error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
            if file not in repo.files:
                self._send(404, b"", {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": repo.commit})
                return
            data = repo.files[file]
            fault = hub.faults.get((repo_id, file))
            if fault == "corrupt":
                data = data[:-1] + bytes([data[-1] ^ 0xFF])
            headers = {"X-Repo-Commit": repo.commit, "ETag": f'"{repo.etag(file)}"',
                       "Accept-Ranges": "bytes", "Content-Type": "application/octet-stream"}
            if repo.is_lfs(file):
                headers["X-Linked-Etag"] = f'"{repo.etag(file)}"'
                headers["X-Linked-Size"] = str(len(data))
            start, status = 0, 200
            if (rng := self.headers.get("Range")) and (m := re.match(r"bytes=(\d+)-$", rng)):
                start, status = int(m[1]), 206
                headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
            if self.command == "GET" and fault == "drop_once" and start == 0:
                del hub.faults[(repo_id, file)]
                self._send_then_drop(data, headers)
                return
            self._send(status, data[start:], headers)

        def _send_then_drop(self, data: bytes, headers: dict) -> None:
            """Announce the whole file, send half of it, and cut the connection."""
            self.send_response(200)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)

    return Handler


class FakeHubServer:
    """Runs a FakeHub on 127.0.0.1 in a daemon thread; ``stop()`` shuts it down."""

    def __init__(self, hub: FakeHub) -> None:
        self.hub = hub
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(hub))
        self.server.daemon_threads = True
        self.server.timeout = 5
        hub.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def library():
    """The test's library (its ``models`` table records installed and active pairs)."""
    from app.library import Library

    lib = Library.open()
    yield lib
    lib.close()


# --- tiny stand-ins for the real repositories ------------------------------------------------

BASE_REPO = "Qwen/Qwen3-4B-Instruct-2507"  # served with a tiny random Qwen3 (parity fixture)
HYPERNET_REPO = "SakanaAI/doc-to-lora"
HYPERNET_FILE = "qwen_4b_d2l/checkpoint-20000/pytorch_model.bin"
GGUF_REPO = "someone/Qwen3-tiny-GGUF"
CHAT_TEMPLATE = ("{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
                 "{% if add_generation_prompt %}<|assistant|>{% endif %}")
WORDS = ("the model reads a document once and writes a small adapter for the chat model so "
         "questions about pages tables numbers and names can be answered later without the text "
         "in the prompt offline on a laptop with a library of many files").split()


def train_tokenizer(vocab_size: int = 120) -> bytes:
    """A SentencePiece model trained here (ids: pad 0, eos 1, bos 2, unk 3, as the base config)."""
    import sentencepiece as spm

    rng = np.random.default_rng(0)
    lines = [" ".join(rng.choice(WORDS, size=12)) for _ in range(400)]
    out = BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_writer=out, vocab_size=vocab_size,
        model_type="bpe", pad_id=0, eos_id=1, bos_id=2, unk_id=3, minloglevel=2,
        num_threads=1)
    return out.getvalue()


def tiny_gguf(config: dict, ffn_override: int | None = None) -> bytes:
    """GGUF bytes of a tiny qwen3 model with the config's shapes (``ffn_override``: wrong
    feed-forward width in every layer, metadata included, as if made from another base)."""
    import tempfile

    hidden, heads, kv = config["hidden_size"], config["num_attention_heads"], config["num_key_value_heads"]
    head_dim, inter = config["head_dim"], ffn_override or config["intermediate_size"]
    rng = np.random.default_rng(1)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.gguf"
        w = gguf.GGUFWriter(path, "qwen3")
        w.add_block_count(config["num_hidden_layers"])
        w.add_context_length(config["max_position_embeddings"])
        w.add_embedding_length(hidden)
        w.add_feed_forward_length(inter)
        w.add_head_count(heads)
        w.add_head_count_kv(kv)
        w.add_key_length(head_dim)
        w.add_value_length(head_dim)
        w.add_layer_norm_rms_eps(config["rms_norm_eps"])

        def t(name: str, *shape: int) -> None:
            w.add_tensor(name, rng.standard_normal(shape).astype(np.float32))
        t("token_embd.weight", config["vocab_size"], hidden)
        t("output_norm.weight", hidden)
        for i in range(config["num_hidden_layers"]):
            t(f"blk.{i}.attn_norm.weight", hidden)
            t(f"blk.{i}.attn_q.weight", heads * head_dim, hidden)
            t(f"blk.{i}.attn_k.weight", kv * head_dim, hidden)
            t(f"blk.{i}.attn_v.weight", kv * head_dim, hidden)
            t(f"blk.{i}.attn_output.weight", hidden, heads * head_dim)
            t(f"blk.{i}.attn_q_norm.weight", head_dim)
            t(f"blk.{i}.attn_k_norm.weight", head_dim)
            t(f"blk.{i}.ffn_norm.weight", hidden)
            t(f"blk.{i}.ffn_gate.weight", inter, hidden)
            t(f"blk.{i}.ffn_up.weight", inter, hidden)
            t(f"blk.{i}.ffn_down.weight", hidden, inter)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        return path.read_bytes()


def base_files(parity_dir: Path) -> dict[str, bytes]:
    """The tiny random Qwen3 (parity fixture) with a tokenizer trained here, as repo files."""
    base = parity_dir / "qwen3_main" / "base_model"
    tok_config = {"tokenizer_class": "LlamaTokenizer", "chat_template": CHAT_TEMPLATE,
                  "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
                  "pad_token": "<pad>", "add_bos_token": False, "legacy": False}
    return {
        "config.json": (base / "config.json").read_bytes(),
        "generation_config.json": (base / "generation_config.json").read_bytes(),
        "model.safetensors": (base / "model.safetensors").read_bytes(),
        "tokenizer.model": train_tokenizer(),
        "tokenizer_config.json": json.dumps(tok_config).encode(),
    }


@pytest.fixture
def tiny_base(parity_dir, tmp_path) -> Path:
    """A local folder holding the tiny base model (what a user would pass to ``add``)."""
    folder = tmp_path / "tiny-base"
    folder.mkdir()
    for name, data in base_files(parity_dir).items():
        (folder / name).write_bytes(data)
    return folder


@pytest.fixture
def make_gguf(tmp_path):
    """Writes a tiny qwen3 GGUF for the base config (optionally with another ffn width)."""
    def make(config: dict, ffn_override: int | None = None) -> Path:
        path = tmp_path / f"tiny-{ffn_override or 'ok'}.gguf"
        path.write_bytes(tiny_gguf(config, ffn_override))
        return path
    return make


@pytest.fixture
def fake_hub(parity_dir, monkeypatch):
    """A running fake hub with the qwen3-4b registry repos (tiny stand-ins) and a GGUF repo;
    ``HF_ENDPOINT`` points at it and no token is configured."""
    base = parity_dir / "qwen3_main" / "base_model"
    config = json.loads((base / "config.json").read_text())
    hub = FakeHub()
    hub.add_repo(BASE_REPO, {
        **base_files(parity_dir),
        "README.md": b"# tiny stand-in\n",
        "original/consolidated.bin": b"\0" * 4096,  # in the repo, not needed: never fetched
    })
    hub.add_repo(HYPERNET_REPO, {
        HYPERNET_FILE: (parity_dir / "qwen3_main" / "pytorch_model.bin").read_bytes(),
        "gemma_2b_d2l/checkpoint-20000/pytorch_model.bin":
            (parity_dir / "gemma2_main" / "pytorch_model.bin").read_bytes(),
        "README.md": b"# doc-to-lora\n",
    })
    hub.add_repo(GGUF_REPO, {"qwen3-tiny-F32.gguf": tiny_gguf(config),
                             "qwen3-other-ffn.gguf": tiny_gguf(config, ffn_override=96)})
    server = FakeHubServer(hub)
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    from huggingface_hub import constants
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(base / "no-token-here"))  # no login
    # Real files are GBs and arrive in 10 MB blocks; tiny ones need small blocks so that a cut
    # connection leaves part of a file behind, as it does for real.
    monkeypatch.setattr(constants, "DOWNLOAD_CHUNK_SIZE", 32 * 1024)
    yield hub
    server.stop()
