"""Ingestion through `doclora add`: every bad input gets one sentence, exit status 2 and leaves the
library exactly as it was (rows, FTS index, files, integrity). Also: reuse, cancel, cleanup."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path

import gguf
import numpy as np
import pytest
from click.testing import CliRunner
from converters.errors import CorruptPdfError
from hypernet.errors import AdapterFormatError, ChunkingError

import app.pipeline as pipeline
from app.api import DocLoRA
from app.cli import cli
from app.errors import AdapterError, CancelledError, InvalidDocumentError, PasswordRequiredError
from app.library import Library
from app.models import demo_pair
from app.paths import REPO_ROOT, adapters_dir, home_dir

from app_helpers import (
    library_state, make_cyclic_pdf, make_image_pdf, make_pdf, needle_text, one_line_pdf,
    unowned_files)


@pytest.fixture
def existing(insert_document):
    """A library that already holds one document, so 'unchanged' means something."""
    lib = Library.open()
    insert_document(lib, "Existing", ["Some earlier text."])
    lib.close()
    return library_state()


def add(*args):
    return CliRunner().invoke(cli, ["add", *map(str, args)])


def _corrupt(path):
    path.write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog >>\n" + os.urandom(300))


def _encrypted(path):
    make_pdf(path, [needle_text("1234")], password="opensesame")


CASES = [  # (name, make the file, extra args, words of the message)
    ("zero-byte", lambda p: p.write_bytes(b""), [], "is empty (0 bytes)"),
    ("corrupt", _corrupt, [], "is a damaged PDF"),
    ("page-tree-cycle", make_cyclic_pdf, [], "Error: 'page-tree-cycle.pdf' is a damaged PDF that "
     "cannot be read (cycle in page tree); re-download or re-export it."),
    ("not-a-pdf", lambda p: p.write_text("just some notes, not a PDF\n" * 20), [],
     "is not a PDF file"),
    ("png-named-pdf", lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64), [],
     "is not a PDF file"),
    ("encrypted", _encrypted, [], "is password-protected; add it again with its password"),
    ("wrong-password", _encrypted, ["--password", "guess"], "The password for"),
    ("scanned", make_image_pdf, [], "has no extractable text (scanned pages?)"),
    ("too-many-pages", lambda p: make_pdf(p, ["one", "two", "three"]), ["--max-pages", "2"],
     "has more pages than the limit"),
    ("missing", lambda p: None, [], "does not exist"),
    ("folder", lambda p: p.mkdir(), [], "is a folder"),
    ("dev-zero-link", lambda p: p.symlink_to("/dev/zero"), [], "is not a regular file"),
    ("fifo", lambda p: os.mkfifo(p), [], "is not a regular file"),
    ("bad-max-pages", lambda p: make_pdf(p, ["one"]), ["--max-pages", "-1"],
     "Invalid value for '--max-pages': -1 is not in the range x>=1"),
]


@pytest.mark.parametrize("name, make, extra, words", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_refused_and_changes_nothing(existing, pdfs, name, make, extra, words):
    path = pdfs / f"{name}.pdf"
    make(path)
    result = add(path, *extra)
    assert result.exit_code == 2, result.output
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("Error:")]
    assert len(errors) == 1 and words in errors[0], result.stderr
    assert "Traceback" not in result.output
    assert library_state() == existing


def test_a_page_of_endless_text_is_refused_before_any_chunk_is_made(demo_pair, existing, pdfs):
    """Issue 31: 5 MB of text on one line of one page ran for over 10 minutes, no cap said so."""
    line = ("The harbour wakes slowly. " * 8000)[:200_000]  # drawn at 0.001 pt: it fits the page
    path = one_line_pdf(pdfs / "endless.pdf", line, size=0.001)

    def progress(event):
        assert event.stage == "extract", "the text was internalized"
    app = DocLoRA()
    with pytest.raises(InvalidDocumentError) as err:
        app.add(path, progress=progress)
    app.close()
    assert str(err.value) == (
        "Page 1 of 'endless.pdf' holds 200,000 characters of text, more than any page shows (at "
        "most 100,000), and would take hours to internalize; split that text into pages of their "
        "own.")
    assert library_state() == existing


def test_a_file_name_that_is_not_utf8_gets_a_sentence(existing, pdfs):
    path = pdfs / os.fsdecode(b"caf\xe9.pdf")
    path.write_bytes(b"")
    result = add(path)
    assert result.exit_code == 2
    assert "Error: 'caf\ufffd.pdf' is empty (0 bytes)" in result.stderr
    assert "Traceback" not in result.output
    assert library_state() == existing


def test_converter_errors_reach_api_callers_as_one_sentence(existing, pdfs):
    corrupt = pdfs / "corrupt.pdf"
    _corrupt(corrupt)
    encrypted = pdfs / "locked.pdf"
    _encrypted(encrypted)
    app = DocLoRA()
    with pytest.raises(InvalidDocumentError) as info:
        app.add(corrupt)
    assert str(info.value) == ("'corrupt.pdf' is a damaged PDF that cannot be read; "
                               "re-download or re-export it.")
    assert isinstance(info.value.__cause__, CorruptPdfError)
    with pytest.raises(PasswordRequiredError, match="'locked.pdf' is password-protected"):
        app.add(encrypted)
    job = app.wait(app.submit(encrypted).id, timeout=30)  # the queue says the same sentence
    assert job.status == "failed" and job.error.startswith("'locked.pdf' is password-protected")
    app.close()
    assert library_state() == existing


def test_a_hypernet_error_reaches_api_callers_as_one_sentence(demo_pair, existing, pdfs):
    app = DocLoRA()
    app.ingestor.hypernet.tokenizer = None  # a base model without a tokenizer: ChunkingError
    with pytest.raises(InvalidDocumentError, match=r"^The base model .* has no tokenizer; ") as info:
        app.add(make_pdf(pdfs / "doc.pdf", [needle_text("5509")]))
    assert isinstance(info.value.__cause__, ChunkingError)
    assert library_state() == existing
    assert list((adapters_dir() / ".staging").iterdir()) == []


def test_an_export_of_a_damaged_adapter_is_one_sentence(existing, tmp_path):
    app = DocLoRA()  # the existing document's adapter files are stand-ins, not safetensors
    with pytest.raises(AdapterError, match="is not a readable DocLoRA adapter") as info:
        app.export(1, "peft", tmp_path / "out")
    assert isinstance(info.value.__cause__, AdapterFormatError)
    assert list(tmp_path.iterdir()) == []  # no folder, no temporary
    assert library_state() == existing


def test_the_file_is_read_once_even_if_it_changes_meanwhile(demo_pair, pdfs):
    """The stored copy, the hash and the pages all come from the one read of the file."""
    path = make_pdf(pdfs / "doc.pdf", [needle_text("5510")])
    first = path.read_bytes()

    def rewrite_the_file(event):
        if event.stage == "chunk":
            make_pdf(path, [needle_text("9999")])

    doc = DocLoRA().add(path, progress=rewrite_the_file)
    assert path.read_bytes() != first
    assert doc.sha256 == hashlib.sha256(first).hexdigest()
    lib = Library.open()
    try:
        assert Path(lib.source_file(doc.id)).read_bytes() == first
        pages = lib.db.execute("SELECT text FROM pages WHERE document_id = ?", [doc.id]).fetchall()
    finally:
        lib.close()
    assert "5510" in pages[0][0] and "9999" not in pages[0][0]


def test_several_files_good_and_bad_in_one_call_report_each(existing, pdfs):
    empty = pdfs / "empty.pdf"
    empty.write_bytes(b"")
    missing = pdfs / "missing.pdf"
    result = add(empty, missing)
    assert result.exit_code == 2
    assert result.stderr.count("Error:") == 2
    assert library_state() == existing


# -- with the real demo pair ---------------------------------------------------------------

def test_full_disk_while_writing_the_adapter(demo_pair, existing, pdfs, monkeypatch):
    path = make_pdf(pdfs / "doc.pdf", [needle_text("5501")])
    write = pipeline.write_adapter

    def write_then_disk_full(adapter, staging, base_gguf, full=None):
        write(adapter, staging, base_gguf, full)
        with open(staging / "source.pdf.partial", "wb") as f:
            f.write(b"%PDF partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pipeline, "write_adapter", write_then_disk_full)
    result = add(path)
    assert result.exit_code == 2
    assert "The disk is full while adding 'doc.pdf'; free some space" in result.stderr
    assert library_state() == existing
    assert list((adapters_dir() / ".staging").iterdir()) == []


def test_full_disk_while_placing_files(demo_pair, existing, pdfs, monkeypatch):
    """ENOSPC after some files were already renamed into place: those are removed again."""
    path = make_pdf(pdfs / "doc.pdf", [needle_text("5502")])
    place = pipeline._place
    calls = []

    def place_then_fail(tmp, final, placed):
        calls.append(final)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return place(tmp, final, placed)

    monkeypatch.setattr(pipeline, "_place", place_then_fail)
    result = add(path)
    assert result.exit_code == 2 and "The disk is full" in result.stderr
    assert not calls[0].exists()
    assert library_state() == existing


def _safetensors_full(*args, **kwargs):
    from safetensors import SafetensorError
    raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")


def _sqlite_full(*args, **kwargs):
    raise sqlite3.OperationalError("database or disk is full")


def _enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


DISK_FULL_AT = [  # (where the disk fills up, the function that fails there)
    ("staging-folder", "app.pipeline.new_staging", _enospc),
    ("adapter-safetensors", "hypernet.adapter.save_file", _safetensors_full),
    ("source-copy", "pathlib.Path.write_bytes", _enospc),
    ("journal", "app.pipeline.note_files", _enospc),
    ("database-commit", "app.library.Library.commit_ingest", _sqlite_full),
]


@pytest.mark.parametrize("target, fail", [c[1:] for c in DISK_FULL_AT],
                         ids=[c[0] for c in DISK_FULL_AT])
def test_full_disk_at_every_step_leaves_the_library_as_it_was(demo_pair, existing, pdfs,
                                                              monkeypatch, target, fail):
    path = make_pdf(pdfs / "doc.pdf", [needle_text("5507")])
    monkeypatch.setattr(target, fail)
    result = add(path)
    assert result.exit_code == 2, result.output
    assert "Error: The disk is full while adding 'doc.pdf'; free some space" in result.stderr
    assert "Traceback" not in result.output
    assert library_state() == existing
    assert list((adapters_dir() / ".staging").iterdir()) == []


def test_titles_lose_control_characters_on_the_way_in(demo_pair, existing, pdfs):
    path = make_pdf(pdfs / "doc.pdf", [needle_text("5508")],
                    title="Evil\x1b[2J\x00 \u202eTitle\x07")
    result = add(path)
    assert result.exit_code == 0, result.output
    assert "Ready: [2] Evil[2J Title (1 page, " in result.stdout
    assert "\x1b" not in result.output and "\u202e" not in result.output
    assert DocLoRA().get(2).title == "Evil[2J Title"


def _mismatched_gguf(path, n_layers=4, d_in=999, d_out=77):
    """A GGUF header of a llama model whose ffn_down has other shapes than the demo's."""
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_block_count(n_layers)
    writer.add_head_count(4)
    writer.add_head_count_kv(4)
    for i in range(n_layers):
        writer.add_tensor(f"blk.{i}.ffn_down.weight", np.zeros((d_out, d_in), np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_adapter_for_another_base_model_is_refused(demo_pair, existing, pdfs, tmp_path,
                                                   monkeypatch):
    other = _mismatched_gguf(tmp_path / "other.gguf")
    pair = demo_pair_with(other)
    monkeypatch.setattr("app.api.active_pair", lambda library, name=None: pair)
    result = add(make_pdf(pdfs / "doc.pdf", [needle_text("5503")]))
    assert result.exit_code == 2
    assert "The adapter does not fit the chat model other.gguf" in result.stderr
    assert library_state() == existing


def demo_pair_with(gguf_path):
    return replace(demo_pair(), name="other-pair", gguf=gguf_path)


def test_cancel_during_encoding_keeps_nothing(demo_pair, existing, pdfs):
    path = make_pdf(pdfs / "doc.pdf", [needle_text("5504")])
    cancel = threading.Event()
    stages = []

    def progress(event):
        stages.append(event.stage)
        if event.stage == "encode":
            cancel.set()

    app = DocLoRA()
    with pytest.raises(CancelledError, match="nothing was added"):
        app.add(path, progress=progress, cancel=cancel)
    assert "encode" in stages and "commit" not in stages
    assert library_state() == existing


def test_the_same_file_twice_reuses_the_adapter(demo_pair, pdfs):
    path = make_pdf(pdfs / "doc.pdf", [needle_text("5505")])
    app = DocLoRA()
    first = app.add(path)
    state = library_state()
    events = []
    copy = pdfs / "renamed copy.pdf"
    copy.write_bytes(path.read_bytes())
    again = app.add(copy, progress=events.append)
    assert again.id == first.id and again.adapter.file == first.adapter.file
    assert library_state() == state
    assert "reusing its adapter" in events[-1].message
    assert [e.stage for e in events] == ["extract", "commit"]


def test_progress_events_cover_every_stage_in_order(demo_pair, pdfs):
    path = make_pdf(pdfs / "doc.pdf", [needle_text("5506")] * 3)
    events = []
    doc = DocLoRA().add(path, progress=events.append)
    stages = list(dict.fromkeys(e.stage for e in events))
    assert stages == ["extract", "chunk", "encode", "write", "commit"]
    fractions = [e.fraction for e in events]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any(e.eta_s is not None for e in events)
    assert doc.pages == 3 and doc.status == "ready" and doc.tokens > 0


# -- two processes adding at once (issue 31) ----------------------------------------------------

ADDER = """
import json, sys
from app.api import DocLoRA
from app.errors import DocLoRAError
app = DocLoRA()
print("ready", flush=True)
for line in sys.stdin:
    try:
        print(json.dumps({"id": app.add(line.strip()).id}), flush=True)
    except DocLoRAError as exc:
        print(json.dumps({"error": str(exc)}), flush=True)
"""


@pytest.fixture
def adders():
    """Two processes that each add the file named on a line of their input, and answer with
    the document's id (or the error) on a line."""
    procs = [subprocess.Popen([sys.executable, "-c", ADDER], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT)
             for _ in range(2)]
    for proc in procs:
        assert proc.stdout.readline().strip() == "ready"
    yield procs
    for proc in procs:
        proc.stdin.close()
        proc.wait(timeout=60)


@pytest.mark.parametrize("same", [True, False], ids=["same file", "different files"])
def test_two_processes_adding_at_once_leave_one_document_each_and_no_stray_file(
        demo_pair, pdfs, adders, same):
    files = [make_pdf(pdfs / "a.pdf", [needle_text("5150")]),
             make_pdf(pdfs / "b.pdf", [needle_text("6262")])]
    if same:
        files[1] = files[0]
    for attempt in range(20):
        for proc, file in zip(adders, files):
            proc.stdin.write(f"{file}\n")
        for proc in adders:
            proc.stdin.flush()
        answers = [json.loads(proc.stdout.readline()) for proc in adders]
        assert all("id" in a for a in answers), (attempt, answers)
        app = DocLoRA()  # refuses a library with files no row owns, as every command would
        assert len(app.documents()) == len(set(files)) == len({a["id"] for a in answers})
        assert unowned_files() == [] and list((adapters_dir() / ".staging").iterdir()) == []
        for doc in app.documents():
            app.remove(doc.id)
        app.close()
        assert library_state()["integrity"] == "ok"
        assert unowned_files() == [] and DocLoRA().documents() == []
