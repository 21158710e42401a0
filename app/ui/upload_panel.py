"""The drop zone and the per-file progress list (polled from the core's persistent job queue).

Progress lives in the library's jobs table, so a reloaded page finds it again; a timer polls it
while anything is queued or running and switches itself off when all is finished. When the files
of one drop are all finished, the last of them that is ready opens (a file that becomes ready
while nothing is open opens at once); never in the middle of an answer. A finished
card (ready, failed, cancelled) can be dismissed, by its × or by "Clear finished"; the browser
keeps what was dismissed, so a reload does not bring it back. A running or queued card cannot be
dismissed ("Cancel adding" stops it).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import gradio as gr

from app.errors import DocLoRAError
from app.records import JOB_DONE, Job
from app.ui.errors import user_error
from app.ui.format import finished, job_key, jobs_html, recently_finished, visible_jobs
from app.ui.guard import uploaded
from app.ui.theme import DROP_ID

if TYPE_CHECKING:
    from app.ui.window import Window

POLL_S = 1.0
# The progress list's × buttons (format.job_html) send the card's key with a click event.
DISMISS_JS = """element.addEventListener('click', (event) => {
  const button = event.target.closest('[data-dismiss]');
  if (button) trigger('click', {dismiss: button.dataset.dismiss});
});"""


@dataclass
class UploadPanel:
    files: gr.File
    password: gr.Textbox
    progress: gr.HTML
    cancel: gr.Button
    clear: gr.Button  # "Clear finished"
    timer: gr.Timer
    done_seen: gr.State  # ids of finished jobs this page has already taken into the list
    drop: gr.State  # job ids of the latest drop, until its last ready file is opened
    dismissed: gr.BrowserState  # job_key of each dismissed card, kept in the browser


def progress_updates(jobs: list[Job], dismissed: list[str] | None) -> tuple:
    """The progress list (without dismissed cards), "Cancel adding" while anything is queued or
    running, and "Clear finished" while a finished card shows."""
    shown = visible_jobs(jobs, dismissed=set(dismissed or ()))
    active = any(not finished(j) for j in jobs)
    cards = jobs_html(shown)
    return (gr.HTML(cards, visible=True if cards else "hidden"),
            gr.Button(visible=True if active else "hidden"),
            gr.Button(visible=True if any(finished(j) for j in shown) else "hidden"))


def opened_from_drop(jobs: list[Job], drop: list[int] | None) -> tuple[int | None, list | None]:
    """The document to open for a drop (its job ids) and what remains of the drop: once all its
    files are finished, the last one that is ready (or none, if all failed) and nothing."""
    if not drop:
        return None, None
    mine = [j for j in jobs if j.id in set(drop)]
    if any(not finished(j) for j in mine):
        return None, drop
    ready = [j for j in mine if j.status == JOB_DONE and j.document_id is not None]
    return (max(ready, key=lambda j: j.id).document_id if ready else None), None


def build() -> UploadPanel:
    """The drop zone (also fed by drops anywhere in the window) and the progress list."""
    files = gr.File(file_count="multiple", file_types=[".pdf"], label="Add PDFs",
                    elem_id=DROP_ID, height=120)
    with gr.Accordion("Password-protected PDF?", open=False, elem_id="dl-password-box"):
        password = gr.Textbox(type="password", label="PDF password",
                              info="Used for the files you add next.", elem_id="dl-password")
    progress = gr.HTML(elem_id="dl-progress", visible="hidden", js_on_load=DISMISS_JS)
    cancel = gr.Button("Cancel adding", size="sm", visible="hidden", elem_id="dl-cancel-jobs")
    clear = gr.Button("Clear finished", size="sm", visible="hidden", elem_id="dl-clear-finished")
    dismissed = gr.BrowserState([], storage_key="doclora-dismissed-jobs",
                                secret="doclora-local-ui")
    return UploadPanel(files, password, progress, cancel, clear, gr.Timer(POLL_S), gr.State(None),
                       gr.State(None), dismissed)


def wire(win: Window) -> None:
    """Queue dropped files; poll progress; refresh the library when a file is ready."""
    core, up, lib = win.core, win.uploads, win.library

    def on_upload(paths: list[str] | None, password: str) -> tuple:
        foreign = [Path(p).name for p in paths or [] if not uploaded(p)]
        if foreign:  # a client named a file of this computer: nothing is added
            raise user_error(DocLoRAError(f"'{foreign[0]}' was not uploaded to this window; "
                                          "drop the file into the window to add it."))
        # What was done before these files: the next tick then sees each of them finish.
        seen = sorted(j.id for j in core.jobs() if j.status == JOB_DONE)
        drop = []
        for path in paths or []:
            try:
                drop.append(core.submit(path, password or None).id)
            except DocLoRAError as exc:
                raise user_error(exc) from exc
        return None, gr.Timer(active=True), seen, drop or None

    def on_tick(search: str, selected: int | None, seen: list[int] | None,
                dismissed: list[str] | None, drop: list[int] | None,
                request: gr.Request) -> tuple:
        jobs = core.jobs()
        active = any(not finished(j) for j in jobs)
        done = sorted(j.id for j in jobs if j.status == JOB_DONE)
        busy = win.stops.busy(request.session_hash)  # opening now would cut into the answer
        target, drop_after = opened_from_drop(jobs, drop)
        if target is None and selected is None and seen is not None:
            target = next((j.document_id for j in jobs  # nothing open: the first file ready
                           if j.status == JOB_DONE and j.id not in seen), None)
        if busy and target is not None:
            target, drop_after = None, drop  # try again on the next tick
        head = progress_updates(jobs, dismissed) + (
            gr.Timer(active=active or drop_after is not None),)
        if target is not None:
            return head + (done, drop_after) + win.open(target, search)
        if seen is not None and done == seen:
            return head + (gr.skip(), drop_after) + (gr.skip(),) * len(win.open_outputs)
        # the first tick after a load (a file may have become ready since the load drew the
        # list), or a file became ready: redraw the lists
        return head + (done, drop_after) + win.list_only(search, selected)

    def on_cancel() -> None:
        for job in core.jobs(active_only=True):
            core.cancel(job.id)
        gr.Info("Cancelled; nothing of the cancelled files is kept.")

    def dismiss(dismissed: list[str] | None, key: str | None = None) -> tuple:
        """Dismiss the card ``key`` (None: every finished card). The browser keeps only the keys
        of cards that would still be listed, so what it keeps stays small."""
        jobs = core.jobs()
        listed = {job_key(j) for j in jobs if recently_finished(j)}
        keys = listed if key is None else {key}
        kept = sorted(listed & (set(dismissed or ()) | keys))
        return (kept,) + progress_updates(jobs, kept)

    def on_dismiss(dismissed: list[str] | None, event: gr.EventData) -> tuple:
        return dismiss(dismissed, str(getattr(event, "dismiss", "")))

    def on_clear(dismissed: list[str] | None) -> tuple:
        return dismiss(dismissed)

    progress = [up.progress, up.cancel, up.clear]
    up.files.upload(on_upload, [up.files, up.password],
                    [up.files, up.timer, up.done_seen, up.drop], show_progress="hidden")
    up.timer.tick(on_tick, [lib.search, win.selected, up.done_seen, up.dismissed, up.drop],
                  progress + [up.timer, up.done_seen, up.drop] + win.open_outputs,
                  show_progress="hidden")
    up.cancel.click(on_cancel)
    up.progress.click(on_dismiss, up.dismissed, [up.dismissed] + progress, show_progress="hidden")
    up.clear.click(on_clear, up.dismissed, [up.dismissed] + progress, show_progress="hidden")
