"""Pure functions that turn the core's records into what the window shows (text, HTML, chat)."""

from __future__ import annotations

import html
import re
from collections.abc import Collection
from datetime import datetime, timezone

from app.chunks import answered_from
from app.grounding import PASSAGES_NOTE, QUOTED_NOTE, REVISED_NOTE
from app.records import (
    JOB_CANCELLED, JOB_DONE, JOB_FAILED, JOB_QUEUED, JOB_RUNNING, KNOWN, MATCHES_TITLE, NO_SUPPORT,
    STAGES, SUPPORT_TITLE, Answer, Document, Job, Message, Source, Status)
from app.sizes import human_size

STAGE_LABELS = {name: stage.label for name, stage in STAGES.items()}  # what each stage means
# Markdown's active punctuation (images, links, emphasis, code, tables, LaTeX); backslash-escaped,
# each shows as itself.
_MARKDOWN = re.compile(r"([\\`*_\[\]()!~|$])")
# Bare URLs become links (GFM autolinks), inside which escapes show raw: break the pattern.
_WWW = re.compile(r"(?i)\b(www)\.")
_NAME_BREAKS = re.compile(r"([_.-])")  # where a long file name may wrap
RECENT_JOB_S = 30 * 60  # finished jobs stay listed this long, so a failure is not missed
MAX_JOBS_SHOWN = 8


def as_text(text: str) -> str:
    """``text`` for a Markdown component (chat, Markdown) so that it shows as these characters:
    HTML escaped and Markdown punctuation backslash-escaped, so no image, link, tag or formula
    can come from a document's (or an answer's) text."""
    escaped = _MARKDOWN.sub(r"\\\1", html.escape(text, quote=False))
    return _WWW.sub(r"\1\\.", escaped.replace("://", "\\://"))


def snippet_markup(snippet: str, tag: str = "b") -> str:
    """A snippet as text, with its matches (between the library's ``**`` marks) in ``<tag>``."""
    parts = snippet.strip().split("**")
    return "".join(f"<{tag}>{as_text(p)}</{tag}>" if i % 2 else as_text(p)
                   for i, p in enumerate(parts))


def human_eta(seconds: float | None) -> str:
    """Seconds left as 'about 8 s' / 'about 2 min 5 s'; '' when unknown."""
    if seconds is None or seconds < 0:
        return ""
    seconds = round(seconds)
    if seconds < 60:
        return f"about {max(seconds, 1)} s left"
    minutes, rest = divmod(seconds, 60)
    return f"about {minutes} min {rest} s left" if rest else f"about {minutes} min left"


def parse_time(iso: str) -> datetime:
    """The library's UTC ISO timestamps (naive ones are taken as UTC)."""
    stamp = datetime.fromisoformat(iso)
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)


def short_date(iso: str) -> str:
    """'2026-11-26T12:07:00+00:00' -> '26 Nov 2026' in local time."""
    try:
        return parse_time(iso).astimezone().strftime("%d %b %Y").lstrip("0")
    except ValueError:
        return iso


def document_choice(doc: Document) -> tuple[str, int]:
    """A library list entry: (two-line label, document id)."""
    pages = f"{doc.pages} page{'s' if doc.pages != 1 else ''}"
    return f"{doc.title}\n{pages} · {short_date(doc.created)} · {doc.status}", doc.id


def finished(job: Job) -> bool:
    """Whether the job is over (ready, failed or cancelled): only then can its card be dismissed."""
    return job.status not in (JOB_QUEUED, JOB_RUNNING)


def job_key(job: Job) -> str:
    """What the browser keeps of a dismissed card: the job's id and creation time (a new library
    reuses ids)."""
    return f"{job.id}@{job.created}"


def recently_finished(job: Job, now: datetime | None = None) -> bool:
    """Whether the job finished in the last half hour (its card is listed until then)."""
    now = now or datetime.now(timezone.utc)
    return finished(job) and (now - parse_time(job.updated)).total_seconds() < RECENT_JOB_S


def visible_jobs(jobs: list[Job], now: datetime | None = None,
                 dismissed: Collection[str] = ()) -> list[Job]:
    """Running and queued jobs, then those finished in the last half hour (newest first) whose
    card was not dismissed (``dismissed``: their ``job_key``)."""
    active = [j for j in jobs if not finished(j)]
    recent = [j for j in jobs if recently_finished(j, now) and job_key(j) not in dismissed]
    return (active + recent)[:MAX_JOBS_SHOWN]


def window_wording(error: str) -> str:
    """The core's messages name CLI options; in the window the password has its own field."""
    return error.replace("(--password)", "(under “Password-protected PDF?”)")


def job_html(job: Job) -> str:
    """One file's progress card: name, stage, bar, ETA or the error."""
    name = html.escape(job.file_name)
    if job.status == JOB_FAILED:
        state, detail = "failed", html.escape(window_wording(job.error or "Failed."))
    elif job.status == JOB_CANCELLED:
        state, detail = "cancelled", "Cancelled; nothing was kept."
    elif job.status == JOB_DONE:
        state = "done"
        detail = "Already in the library" if job.stage == KNOWN else "Ready to chat"
    else:
        state = job.status
        detail = " · ".join(filter(None, [STAGE_LABELS.get(job.stage, job.stage),
                                          human_eta(job.eta_s)]))
    percent = 100 if job.status == JOB_DONE else round(100 * min(max(job.fraction, 0.0), 1.0))
    close = (f'<button class="dl-job-close" data-dismiss="{html.escape(job_key(job))}" '
             f'title="Dismiss" aria-label="Dismiss {name}">×</button>' if finished(job) else "")
    return (f'<div class="dl-job dl-job-{state}" data-job="{job.id}" data-status="{state}" '
            f'data-stage="{html.escape(job.stage)}">'
            f'<div class="dl-job-head"><span class="dl-job-name">{name}</span>'
            f'<span class="dl-job-pct">{percent}%</span>{close}</div>'
            f'<div class="dl-bar"><div style="width:{percent}%"></div></div>'
            f'<div class="dl-job-detail">{detail}</div></div>')


def jobs_html(jobs: list[Job]) -> str:
    """The progress list, or '' when there is nothing to show."""
    return "".join(job_html(j) for j in jobs)


def download_html(file_name: str, size: int | None, url: str, note: str = "") -> str:
    """The export card: the file's whole name as its download link (a long one wraps after its
    ``_ . -``), its size beside it, and ``note`` (text) under them."""
    name = html.escape(file_name)
    shown = _NAME_BREAKS.sub(r"\1<wbr>", name)
    below = f'<div class="dl-download-note">{html.escape(note)}</div>' if note else ""
    return (f'<div class="dl-download-card"><a href="{html.escape(url)}" download="{name}">'
            f'{shown}</a><span class="dl-download-size">{human_size(size)}</span>{below}</div>')


def status_html(status: Status | None, doc: Document | None, error: str | None = None,
                several: list[Document] | None = None) -> str:
    """The status line: active model, device, and the document's adapter rank and size (or the
    documents ticked under "Several documents", asked together)."""
    if error:
        return f'<div class="dl-status dl-status-error">{html.escape(error)}</div>'
    if status is None:
        return '<div class="dl-status"></div>'
    model = html.escape(status.model) + (" (demo)" if status.demo else "")
    parts = [f"<b>Model</b> {model}", f"<b>Device</b> {html.escape(status.device)}"]
    if several:
        titles = " + ".join(f"<i>{html.escape(d.title)}</i>" for d in several)
        parts.append(f"<b>{len(several)} documents together</b> {titles}")
    elif doc is None:
        parts.append("<b>No document</b> chatting with the base model")
    else:
        parts.append(f"<b>Document</b> {html.escape(doc.title)}")
        if status.adapter_rank is not None:
            parts.append(f"<b>Adapter</b> rank {status.adapter_rank} · "
                         f"{human_size(status.adapter_size)}")
        else:
            parts.append(f"<b>Adapter</b> none ({html.escape(doc.status)})")
    items = "".join(f"<span>{p}</span>" for p in parts)
    return f'<div class="dl-status">{items}</div>'


def _where(s: Source) -> str:
    """'p. 3', or 'Title, p. 3' for a page of one of several documents."""
    return f"{as_text(s.title)}, p. {s.page}" if s.title else f"p. {s.page}"


def sources_messages(sources: list[Source], document: bool = True) -> list[dict]:
    """What follows an answer about a document: the pages that hold it, each with its best
    passage quoted and the answer's words highlighted; or, when no page holds it, a plain
    sentence saying so and the pages that match the question (folded: they are no support).
    Nothing follows an answer without a document."""
    if not document:
        return []
    held = [s for s in sources if s.supports]
    if held:
        quotes = [f"**{_where(s)}** — “{snippet_markup(s.snippet, 'mark')}”" for s in held]
        return [{"role": "assistant", "content": "\n\n".join(quotes),
                 "metadata": {"title": f"{SUPPORT_TITLE}: " + ", ".join(map(_where, held))}}]
    out = [{"role": "assistant", "content": NO_SUPPORT}]
    if sources:
        hits = [f"**{_where(s)}** — {snippet_markup(s.snippet)}" for s in sources]
        out.append({"role": "assistant", "content": "\n\n".join(hits),
                    "metadata": {"title": f"{MATCHES_TITLE}: " + ", ".join(map(_where, sources)),
                                 "status": "done"}})
    return out


def answer_notes(answer: Answer) -> list[dict]:
    """What the window says under an answer about how it was made: answered again from the document's
    best passages or quoted from it, or answered from its passages from the start (``app.grounding``),
    from the chunks of some pages of a long document (``app.chunks``)."""
    notes = [PASSAGES_NOTE + "."] if answer.from_passages else []
    notes += [QUOTED_NOTE + "."] if answer.quoted else [REVISED_NOTE + "."] if answer.revised else []
    notes += [answered_from(pages) for pages in answer.chunk_pages.values()]
    return [{"role": "assistant", "content": f"*{note}*"} for note in notes]


def chat_messages(history: list[Message], document: bool = True) -> list[dict]:
    """A stored chat as Gradio chatbot messages (each answer about a document followed by its
    sources)."""
    out: list[dict] = []
    for message in history:
        out.append({"role": message.role, "content": as_text(message.content)})
        if message.role == "assistant":
            out += sources_messages(message.sources, document)
    return out


def expectation_html(status: Status | None, stronger: tuple[str, float | None] | None) -> str:
    """One line on what the active pair can and cannot do, and (for a bundled pair) which pair
    to pull for stronger answers: ``stronger`` is its name and download size in GB."""
    if status is None or not (status.model_notes or stronger):
        return ""
    line = f"<b>{html.escape(status.model)}</b>: {html.escape(status.model_notes)}"
    if stronger:
        name, size = stronger
        size_text = f" ({size:g} GB download)" if size else ""
        line += (f' <span class="dl-stronger">Stronger: '
                 f"<code>doclora models pull {html.escape(name)}</code>{size_text}</span>")
    return f'<div class="dl-expect">{line}</div>'

