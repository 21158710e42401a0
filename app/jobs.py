"""A background queue of ingestions, so files can be added while chatting.

One worker thread runs the queued jobs in order through ``Ingestor.run``. Each job's status, stage,
fraction, ETA and error are written to the library's ``jobs`` table (throttled), so a UI page that
reloads finds them again. Passwords stay in memory only.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path

from app.errors import CancelledError, DocLoRAError
from app.library import Library
from app.records import (
    JOB_CANCELLED, JOB_DONE, JOB_FAILED, JOB_QUEUED, JOB_RUNNING, KNOWN, Job, ProgressEvent)

_FINISHED = (JOB_DONE, JOB_FAILED, JOB_CANCELLED)
_MIN_UPDATE_S = 0.25  # at most ~4 progress writes per second per job


class JobQueue:
    """FIFO of ingestion jobs served by one daemon thread."""

    def __init__(self, library: Library, ingestor: Callable[[], object]) -> None:
        self.library = library
        self._ingestor = ingestor  # called in the worker, so the hypernet loads off the UI thread
        self._queue: queue.Queue[tuple[int, Path, str | None] | None] = queue.Queue()
        self._cancel: dict[int, threading.Event] = {}
        self._done = threading.Condition()
        self._thread = threading.Thread(target=self._work, name="doclora-jobs", daemon=True)
        self._thread.start()

    def submit(self, path: Path, password: str | None, file_name: str | None = None) -> Job:
        """Queue one file (shown as ``file_name``, default its name); returns its job."""
        job = self.library.create_job(str(path), file_name or path.name, self._model(),
                                      os.getpid())
        self._cancel[job.id] = threading.Event()
        self._queue.put((job.id, path, password))
        return job

    def _model(self) -> str:
        try:
            return self._ingestor().pair.name
        except DocLoRAError:
            return "?"

    def cancel(self, job_id: int) -> Job:
        """Ask a queued/running job to stop."""
        event = self._cancel.get(job_id)
        if event is not None:
            event.set()
        job = self.library.job(job_id)
        if job.status == JOB_QUEUED:
            self._finish(job_id, status=JOB_CANCELLED, error=None)
        return self.library.job(job_id)

    def wait(self, job_id: int, timeout: float | None = None) -> Job:
        """Block until the job has finished or the timeout passes; returns it."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._done:
            while self.library.job(job_id).status not in _FINISHED:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                self._done.wait(timeout=0.5 if left is None else min(left, 0.5))
        return self.library.job(job_id)

    def close(self) -> None:
        """Stop the worker after the current job (queued ones are cancelled)."""
        for event in self._cancel.values():
            event.set()
        self._queue.put(None)
        self._thread.join(timeout=30)

    def _finish(self, job_id: int, **values) -> None:
        self.library.update_job(job_id, **values)
        with self._done:
            self._done.notify_all()

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            job_id, path, password = item
            cancel = self._cancel.setdefault(job_id, threading.Event())
            if cancel.is_set() or self.library.job(job_id).status != JOB_QUEUED:
                self._finish(job_id, status=JOB_CANCELLED)
                continue
            self.library.update_job(job_id, status=JOB_RUNNING, stage="extract")
            last = [0.0, ""]

            def progress(event: ProgressEvent, job_id: int = job_id) -> None:
                t = time.monotonic()
                if event.stage != last[1] or t - last[0] >= _MIN_UPDATE_S:
                    last[:] = [t, event.stage]
                    self.library.update_job(job_id, stage=event.stage, fraction=event.fraction,
                                            eta_s=event.eta_s)
            try:
                done = self._ingestor().run(path, password=password, progress=progress,
                                            cancel=cancel)
            except CancelledError:
                self._finish(job_id, status=JOB_CANCELLED, error=None)
            except DocLoRAError as exc:
                self._finish(job_id, status=JOB_FAILED, error=str(exc))
            except Exception as exc:  # a bug: keep the worker alive and show it
                self._finish(job_id, status=JOB_FAILED,
                             error=f"Internal error ({type(exc).__name__}: {exc}); "
                                   "please report it.")
            else:
                self._finish(job_id, status=JOB_DONE, stage=KNOWN if done.known else "done",
                             fraction=1.0, eta_s=0.0, document_id=done.document.id)
            finally:
                self._cancel.pop(job_id, None)
