"""The background queue, driven by a stand-in ingestor (the real pipeline runs in
test_end_to_end.py): order, progress persisted, cancel (queued and running), errors."""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace

from app.errors import CancelledError, InvalidDocumentError
from app.jobs import JobQueue
from app.library import Library
from app.records import Ingested, ProgressEvent


class StandInIngestor:
    """Reports two progress events per file, waits for `release`, honours cancel."""

    pair = SimpleNamespace(name="stand-in")

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = threading.Event()
        self.order: list[str] = []

    def run(self, path: Path, password=None, progress=None, cancel=None):
        self.order.append(path.name)
        progress(ProgressEvent("extract", 0.05))
        progress(ProgressEvent("encode", 0.5, eta_s=3.0))
        self.started.set()
        while not self.release.wait(0.01):
            if cancel.is_set():
                raise CancelledError("Cancelled; nothing was added to the library.")
        if path.name.startswith("bad"):
            raise InvalidDocumentError(f"'{path.name}' is empty (0 bytes); choose the real PDF file.")
        if path.name.startswith("bug"):
            raise KeyError("boom")
        return Ingested(SimpleNamespace(id=len(self.order)))


def make_queue():
    lib = Library.open()
    ingestor = StandInIngestor()
    return lib, ingestor, JobQueue(lib, lambda: ingestor)


def test_jobs_run_in_order_and_record_progress_and_outcome():
    lib, ingestor, queue = make_queue()
    first = queue.submit(Path("/in/a.pdf"), None)
    second = queue.submit(Path("/in/bad.pdf"), None)
    ingestor.started.wait(5)
    running = lib.job(first.id)
    assert (running.status, running.stage, running.fraction) == ("running", "encode", 0.5)
    assert running.eta_s == 3.0 and running.model == "stand-in"
    assert lib.job(second.id).status == "queued"
    ingestor.release.set()
    done, failed = queue.wait(first.id, 5), queue.wait(second.id, 5)
    assert (done.status, done.fraction, done.document_id) == ("done", 1.0, 1)
    assert failed.status == "failed" and failed.error.startswith("'bad.pdf' is empty")
    assert ingestor.order == ["a.pdf", "bad.pdf"]
    queue.close()


def test_cancel_a_running_and_a_queued_job():
    lib, ingestor, queue = make_queue()
    running = queue.submit(Path("/in/a.pdf"), None)
    waiting = queue.submit(Path("/in/b.pdf"), None)
    ingestor.started.wait(5)
    assert queue.cancel(waiting.id).status == "cancelled"
    queue.cancel(running.id)
    assert queue.wait(running.id, 5).status == "cancelled"
    ingestor.release.set()
    later = queue.submit(Path("/in/c.pdf"), None)
    assert queue.wait(later.id, 5).status == "done"
    assert ingestor.order == ["a.pdf", "c.pdf"]
    queue.close()


def test_an_internal_error_fails_the_job_and_keeps_the_worker_alive():
    lib, ingestor, queue = make_queue()
    ingestor.release.set()
    bug = queue.submit(Path("/in/bug.pdf"), None)
    assert "Internal error (KeyError" in queue.wait(bug.id, 5).error
    ok = queue.submit(Path("/in/fine.pdf"), None)
    assert queue.wait(ok.id, 5).status == "done"
    queue.close()


def test_wait_times_out_on_an_unfinished_job():
    lib, ingestor, queue = make_queue()
    job = queue.submit(Path("/in/slow.pdf"), None)
    assert queue.wait(job.id, 0.2).status in ("queued", "running")
    ingestor.release.set()
    assert queue.wait(job.id, 5).status == "done"
    queue.close()
