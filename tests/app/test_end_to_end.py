"""End to end with the bundled demo pair and the real llama.cpp: add PDFs, ask, switch, remove.

The PDFs are generated here with a needle sentence in ordinary prose the demo model never saw.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from click.testing import CliRunner

from app.api import DocLoRA
from app.cli import cli
from app.paths import adapters_dir, home_dir

from app_helpers import PROSE, QUESTION, library_state, make_pdf, make_scanned_pdf, needle_text


def test_two_documents_each_answer_their_own_needle_without_reloading_the_base(demo_pair, pdfs):
    app = DocLoRA()
    a = app.add(make_pdf(pdfs / "harbour.pdf", [" ".join(PROSE[:2]), needle_text("4821")],
                         title="Harbour notes"))
    b = app.add(make_pdf(pdfs / "library.pdf", [needle_text("7390", position=1)],
                         title="Library notes"))
    assert (a.status, b.status) == ("ready", "ready")
    first = app.ask(a.id, QUESTION)
    assert "4821" in first.text
    assert first.sources[0].page == 2 and "**4821**" in first.sources[0].snippet
    assert "7390" in app.ask(b.id, QUESTION).text
    assert "4821" in app.ask(a.id, QUESTION).text  # history of a is replayed this time
    assert "7390" in app.ask(b.title[:4], QUESTION, history=False).text
    engine = app.engine
    assert engine.base_loads == 1 and engine.adapter_loads == 2
    # The chats were saved, and come back in a new session ("tomorrow").
    app.close()
    again = DocLoRA()
    assert [m.content for m in again.history(a.id)][0::2] == [QUESTION, QUESTION]
    assert "4821" in again.history(a.id)[1].content


def test_cli_add_ask_json_and_rm(demo_pair, pdfs):
    path = make_pdf(pdfs / "harbour.pdf", [needle_text("6152")], title="Harbour guide")
    runner = CliRunner()
    empty = library_state()
    added = runner.invoke(cli, ["add", str(path), "--json"])
    assert added.exit_code == 0, added.output
    doc = json.loads(added.stdout)[0]
    result = runner.invoke(cli, ["ask", str(doc["id"]), QUESTION, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert "6152" in data["answer"] and data["document"] == doc["id"]
    assert data["sources"][0]["page"] == 1
    streamed = runner.invoke(cli, ["ask", "harb", QUESTION])
    assert streamed.stdout.startswith("6152") and "Supporting pages:" in streamed.stdout
    listed = json.loads(runner.invoke(cli, ["list", "--json"]).stdout)
    assert listed[0]["status"] == "ready" and listed[0]["adapter"]["rank"] > 0
    assert runner.invoke(cli, ["rm", "harb", "--yes"]).exit_code == 0
    after = library_state()
    assert after["files"] == [] and after["integrity"] == "ok"
    assert {k: v for k, v in after["counts"].items() if k != "chats"} == \
        {k: v for k, v in empty["counts"].items() if k != "chats"}


def test_no_document_mode_and_stop(demo_pair, pdfs):
    app = DocLoRA()
    doc = app.add(make_pdf(pdfs / "doc.pdf", [needle_text("3307")]))
    plain = app.ask(None, QUESTION)
    assert plain.document is None and plain.sources == []
    stop = threading.Event()
    pieces = []

    def first_piece_then_stop(piece):
        pieces.append(piece)
        stop.set()

    stopped = app.ask(doc.id, "Tell me everything about the harbour town.",
                      on_token=first_piece_then_stop, stop=stop)
    assert stopped.stopped and len(pieces) == 1
    assert app.history(doc.id)[-1].content == stopped.text
    assert app.status(doc.id).adapter_rank == doc.adapter.rank and app.status().base_loaded


def test_export_gguf_and_peft(demo_pair, pdfs, tmp_path):
    app = DocLoRA()
    doc = app.add(make_pdf(pdfs / "doc.pdf", [needle_text("2468")]))
    gguf_out = app.export(doc.id, "gguf", tmp_path)
    assert gguf_out.read_bytes() == Path(doc.adapter.file).read_bytes()
    peft_out = app.export(doc.id, "peft", tmp_path)
    config = json.loads((peft_out / "adapter_config.json").read_text())
    assert config["r"] > 0 and (peft_out / "adapter_model.safetensors").is_file()


def test_background_jobs_report_progress_and_errors(demo_pair, pdfs):
    app = DocLoRA()
    good = app.submit(make_pdf(pdfs / "good.pdf", [needle_text("9012")]))
    empty = pdfs / "empty.pdf"
    empty.write_bytes(b"")
    bad = app.submit(empty)
    done, failed = app.wait(good.id, timeout=120), app.wait(bad.id, timeout=120)
    assert (done.status, done.stage, done.fraction) == ("done", "done", 1.0)
    assert "9012" in app.ask(done.document_id, QUESTION).text
    assert failed.status == "failed" and "is empty (0 bytes)" in failed.error
    # A new session (a reloaded page, a restarted app) still sees both outcomes.
    app.close()
    jobs = {j.id: j for j in DocLoRA().jobs()}
    assert jobs[good.id].status == "done" and jobs[bad.id].status == "failed"


def test_kill_9_during_add_leaves_no_half_document(demo_pair, pdfs):
    big = make_pdf(pdfs / "big.pdf", [needle_text(f"{1000 + i}") for i in range(40)])
    env = dict(os.environ, DOCLORA_HOME=str(home_dir()))
    proc = subprocess.Popen([sys.executable, "-m", "app", "add", str(big)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    staging = adapters_dir() / ".staging"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if staging.is_dir() and any(staging.iterdir()):
            break
        time.sleep(0.01)
    time.sleep(0.3)  # well into extraction / hypernetwork loading / encoding
    assert proc.poll() is None, "the add finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    app = DocLoRA()  # the next start
    app.tidy()  # what its first write runs
    assert app.documents() == []
    state = library_state()
    assert state["files"] == [] and state["integrity"] == "ok"
    assert state["counts"]["documents"] == state["counts"]["pages"] == 0
    assert list(staging.iterdir()) == []  # the killed attempt's staging folder is gone
    small = make_pdf(pdfs / "small.pdf", [needle_text("1357")])
    doc = app.add(small)
    assert "1357" in app.ask(doc.id, QUESTION).text


def test_redo_rebuilds_a_missing_adapter_from_the_stored_copy(demo_pair, pdfs):
    path = make_pdf(pdfs / "harbour.pdf", [needle_text("8642")])
    app = DocLoRA()
    doc = app.add(path)
    path.unlink()  # the original is gone; the library keeps its own copy
    Path(doc.adapter.file).unlink()
    assert app.get(doc.id).status == "failed"
    app.close()
    result = CliRunner().invoke(cli, ["redo", str(doc.id)])
    assert result.exit_code == 0, result.output
    again = DocLoRA()
    fixed = again.get(doc.id)
    assert fixed.status == "ready" and fixed.adapter.file != doc.adapter.file
    assert "8642" in again.ask(doc.id, QUESTION).text
    assert library_state()["counts"]["adapters"] == 1


def test_supporting_pages_hold_the_answer_and_say_when_none_does(demo_pair, pdfs):
    path = make_pdf(pdfs / "orders.pdf", [PROSE[0], needle_text("4821"), "Order 4821 shipped."],
                    title="Orders")
    runner = CliRunner()
    assert runner.invoke(cli, ["add", str(path)]).exit_code == 0
    data = json.loads(runner.invoke(cli, ["ask", "orders", QUESTION, "--json"]).stdout)
    assert "4821" in data["answer"]
    # a page supports the answer when it holds it: pages 2 and 3 hold 4821, page 1 does not
    assert sorted(s["page"] for s in data["sources"] if s["supports"]) == [2, 3]
    assert any("**4821**" in s["snippet"] for s in data["sources"] if s["supports"])
    # a document without the needle: whatever number the demo model answers, no page holds it
    path = make_pdf(pdfs / "plain.pdf", [PROSE[0], PROSE[1]], title="Plain")
    assert runner.invoke(cli, ["add", str(path)]).exit_code == 0
    unsupported = runner.invoke(cli, ["ask", "plain", QUESTION])
    assert unsupported.exit_code == 0, unsupported.output
    assert "No page contains this answer." in unsupported.stdout
    assert "Supporting pages:" not in unsupported.stdout


def test_adding_a_file_already_in_the_library_says_so(demo_pair, pdfs):
    path = make_pdf(pdfs / "harbour.pdf", [needle_text("6152")], title="Harbour guide")
    runner = CliRunner()
    first = runner.invoke(cli, ["add", str(path)])
    assert first.stdout.startswith("Ready: [1] Harbour guide (1 page, ")
    again = runner.invoke(cli, ["add", str(path)])
    assert again.exit_code == 0, again.output
    assert again.stdout == ("Already in the library: [1] Harbour guide; ask it with "
                            "'doclora ask 1 \"...\"'.\n")
    app = DocLoRA()
    job = app.wait(app.submit(path).id, timeout=60)
    assert (job.status, job.stage, job.document_id) == ("done", "known", 1)
    known = app.ingest(path)
    assert known.known and known.document.id == 1
    app.close()


def test_a_scanned_page_is_read_by_ocr_and_answered(demo_pair, pdfs):
    path = make_scanned_pdf(pdfs / "scan.pdf", needle_text("4821"))
    app = DocLoRA()
    doc = app.add(path)
    assert "The special magic number is 4821" in app.library.pages(doc.id)[0][1]
    answer = app.ask(doc.id, QUESTION)
    assert "4821" in answer.text and answer.sources[0].page == 1
    app.close()


def test_a_scanned_page_without_tesseract_is_refused_with_the_install_hint(demo_pair, pdfs,
                                                                           monkeypatch):
    import converters.pdf

    real_which = converters.pdf.shutil.which
    monkeypatch.setattr(converters.pdf.shutil, "which",
                        lambda name: None if name == "tesseract" else real_which(name))
    path = make_scanned_pdf(pdfs / "scan.pdf", needle_text("4821"))
    before = library_state()
    result = CliRunner().invoke(cli, ["add", str(path)])
    assert result.exit_code == 2
    assert ("Error: 'scan.pdf' has no extractable text (scanned pages?); install Tesseract OCR "
            "(apt install tesseract-ocr) or use a PDF with text.") in result.stderr
    assert library_state() == before
