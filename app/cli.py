"""The ``doclora`` command line: add PDFs, list them, ask and chat, manage the library.

Every command goes through ``app.api.DocLoRA``. Domain errors become one sentence on stderr and
exit status 2 (set ``DOCLORA_RAISE_ERRORS=1`` to see the traceback instead).
"""

from __future__ import annotations

import json
import sqlite3
import sys
import time
from pathlib import Path

import click

from app.api import DocLoRA
from app.chunks import answered_from
from app.errors import DocLoRAError, raise_errors
from app.grounding import PASSAGES_NOTE
from app.exports import FORMATS, scale_note
from app.pipeline import display_name
from app.records import (
    JOB_DONE, JOB_QUEUED, JOB_RUNNING, MATCHES_TITLE, NO_SUPPORT, SUPPORT_TITLE, ProgressEvent)
from app.settings import parsed, rule, value_text
from app.sizes import human_size


class UserError(click.ClickException):
    """A domain error shown as one sentence; exit status 2."""

    exit_code = 2


def shown(text: str) -> str:
    """``text`` safe for a terminal: control characters, bidi overrides and undecodable bytes
    are escaped (``\\x1b``, ``\\u202e``), so a title cannot recolour, move or reorder output."""
    return "".join(ch if ch.isprintable() or ch in " \n" else ascii(ch)[1:-1] for ch in text)


class DocLoRAGroup(click.Group):
    """Translates domain errors; mounts ``models`` lazily (its package loads only when used)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), "models"])

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name == "models":
            try:
                from app.models.cli import models
            except ImportError:
                return _models_missing
            return models
        return super().get_command(ctx, name)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except BrokenPipeError:  # the reader left (`doclora list | head -1`): click exits quietly
            raise
        except (DocLoRAError, sqlite3.Error, OSError) as exc:
            if raise_errors():
                raise
            if not isinstance(exc, DocLoRAError):  # the library's disk or database failed
                from app.database import storage_error
                exc = storage_error(exc)
            raise UserError(shown(str(exc))) from exc


@click.command(name="models")
def _models_missing() -> None:
    """Manage model pairs (not available in this installation)."""
    raise DocLoRAError("Model management is not installed in this build; reinstall DocLoRA.")


@click.group(cls=DocLoRAGroup)
@click.option("--model", "model", envvar="DOCLORA_MODEL", metavar="NAME",
              help="Model pair to use (default: the active one, else the demo tiny-needle).")
@click.version_option(package_name="doclora")
@click.pass_context
def cli(ctx: click.Context, model: str | None) -> None:
    """DocLoRA: chat with your PDFs offline; every document becomes a LoRA adapter.

    \b
    Examples:
        doclora add paper.pdf
        doclora ask paper "What is the main result?"
        doclora chat paper
    """
    ctx.obj = {"model": model, "app": None, "told": False}


def facade(ctx: click.Context, announce: bool = False) -> DocLoRA:
    """The DocLoRA of this invocation: created on first use (the library is opened once per
    command) and closed when the command ends; says once when the demo is used."""
    root = ctx.find_root()
    if not isinstance(root.obj, dict):  # a group invoked on its own (``models`` in tests)
        root.obj = {"model": None, "app": None, "told": False}
    obj = root.obj
    if obj["app"] is None:
        obj["app"] = DocLoRA(obj["model"])
        root.call_on_close(obj["app"].close)
        for warning in obj["app"].warnings:
            click.echo(f"Warning: {shown(warning)}", err=True)
        obj["app"].offline()  # once the active pair is installed, nothing touches the network
    app = obj["app"]
    if announce and not obj["told"] and app.pair.demo:
        obj["told"] = True
        click.echo(f"Using the bundled demo model {app.pair.name} (it knows needles only; "
                   "install a real one with 'doclora models pull').", err=True)
    return app


def _rank(adapter) -> str:
    if adapter is None:
        return "no adapter"
    if adapter.original_rank and adapter.original_rank > adapter.rank:
        return f"rank {adapter.rank}, compressed from {adapter.original_rank} ({adapter.energy:.1%})"
    return f"rank {adapter.rank}"


def _print_json(data) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def _count(n: int, noun: str) -> str:
    """``1 page``, ``2 pages``."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


@cli.command(name="add")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=True))
@click.option("--password", help="Password of encrypted PDFs.")
@click.option("--title", help="Title to give the document (one file only).")
@click.option("--max-pages", type=click.IntRange(min=1), envvar="DOCLORA_MAX_PAGES",
              help="Refuse PDFs with more pages (default 2000; env DOCLORA_MAX_PAGES).")
@click.option("--json", "as_json", is_flag=True, help="Print the added documents as JSON.")
@click.pass_context
def add_cmd(ctx, files, password, title, max_pages, as_json) -> None:
    """Add PDFs: internalize each one into a LoRA adapter (a progress bar per file).

    \b
    Example:
        doclora add report.pdf notes.pdf
        doclora add secret.pdf --password hunter2
    """
    app = facade(ctx, announce=True)
    if max_pages:
        app.configure(max_pages=max_pages, save=False)  # this command only
    added, failed = [], 0
    for file in files:
        start = time.monotonic()
        name = shown(display_name(Path(file)))
        if not Path(file).exists():  # before the progress bar, which would print a stray line
            click.echo(f"Error: '{shown(str(file))}' does not exist; check the path and add it again.",
                       err=True)
            failed += 1
            continue
        with click.progressbar(length=1000, label=name[:32].ljust(32), file=sys.stderr,
                               show_eta=True, show_percent=True) as bar:
            def progress(event: ProgressEvent, bar=bar) -> None:
                bar.label = f"{name[:24]:<24} {event.stage:>7}"
                bar.update(int(event.fraction * 1000) - bar.pos)
            try:
                done = app.ingest(file, password=password, progress=progress,
                                  title=title if len(files) == 1 else None)
            except DocLoRAError as exc:
                if raise_errors():
                    raise
                bar.render_finish()
                click.echo(f"Error: {shown(str(exc))}", err=True)
                failed += 1
                continue
        doc = done.document
        added.append(doc)
        if not as_json and done.known:
            click.echo(f"Already in the library: [{doc.id}] {shown(doc.title)}; ask it with "
                       f"'doclora ask {doc.id} \"...\"'.")
        elif not as_json:
            click.echo(f"Ready: [{doc.id}] {shown(doc.title)} ({_count(doc.pages, 'page')}, "
                       f"{_count(doc.tokens, 'token')}, "
                       f"{_rank(doc.adapter)}) in {time.monotonic() - start:.1f} s")
    if as_json:
        _print_json([d.to_dict() for d in added])
    if failed:
        ctx.exit(2)


@cli.command(name="redo")
@click.argument("doc")
@click.option("--password", help="Password, if the PDF is encrypted.")
@click.pass_context
def redo_cmd(ctx, doc, password) -> None:
    """Internalize DOC again for the active model pair (from its stored copy)."""
    app = facade(ctx, announce=True)
    found = app.get(doc)
    job = app.redo(found.id, password=password)
    with click.progressbar(length=1000, label=shown(found.title[:32]), file=sys.stderr) as bar:
        while job.status in (JOB_QUEUED, JOB_RUNNING):
            job = app.wait(job.id, timeout=0.2)
            bar.update(int(job.fraction * 1000) - bar.pos)
    if job.status != JOB_DONE:
        raise DocLoRAError(job.error or f"Re-internalizing '{found.title}' was cancelled; "
                                        "nothing changed.")
    done = app.get(job.document_id)
    click.echo(f"Ready: [{done.id}] {shown(done.title)} for {app.pair.name} ({_rank(done.adapter)})")


@cli.command(name="list")
@click.option("--search", "-s", help="Only documents whose title or text matches.")
@click.option("--json", "as_json", is_flag=True, help="Print the documents as a JSON array.")
@click.pass_context
def list_cmd(ctx, search, as_json) -> None:
    """List the documents in the library."""
    docs = facade(ctx).documents(search=search)
    if as_json:
        _print_json([d.to_dict() for d in docs])
        return
    if not docs and search:
        click.echo(f"No document matches '{shown(search)}'; 'doclora list' shows them all.")
        return
    if not docs:
        click.echo("The library is empty; add a PDF with 'doclora add FILE.pdf'.")
        return
    click.echo(f"{'ID':>4}  {'TITLE':<48} {'PAGES':>5} {'TOKENS':>7}  {'RANK':>4}  "
               f"{'STATUS':<13} ADDED")
    for d in docs:
        rank = d.adapter.rank if d.adapter else "-"
        click.echo(f"{d.id:>4}  {shown(d.title[:48]):<48} {d.pages:>5} {d.tokens:>7}  "
                   f"{rank!s:>4}  {d.status:<13} {d.created[:10]}")


def _doc_ref(ref: str) -> str | None:
    return None if ref == "-" else ref


def _snippet(snippet: str) -> str:
    """A page snippet for the terminal: its marked words (between ``**``) in bold, no marks
    (click.echo drops the bold where the output is not a terminal)."""
    parts = shown(snippet).split("**")
    return "".join(click.style(p, bold=True) if i % 2 else p for i, p in enumerate(parts))


def _print_sources(answer) -> None:
    """The pages that hold the answer, each with its passage; or a sentence saying that none
    does, and the pages that match the question."""
    if not answer.documents:
        return
    held = [s for s in answer.sources if s.supports]
    if not held:
        click.echo(f"\n{NO_SUPPORT}")
    if answer.sources:
        click.echo(f"\n{SUPPORT_TITLE if held else MATCHES_TITLE}:")
        for s in held or answer.sources:
            where = f"{shown(s.title)}, p. {s.page}" if s.title else f"p. {s.page}"
            click.echo(f"  {where}: {_snippet(s.snippet)}")


@cli.command(name="ask")
@click.argument("doc")
@click.argument("question")
@click.option("--continue", "-c", "continue_", is_flag=True,
              help="Replay the document's chat history before the question.")
@click.option("--json", "as_json", is_flag=True, help="Print answer and sources as JSON.")
@click.pass_context
def ask_cmd(ctx, doc, question, continue_, as_json) -> None:
    """Ask one question about DOC (id or title prefix; '-' for no document; '3,5,8' or @NAME
    for several documents at once).

    \b
    Example:
        doclora ask 3 "What is the special magic number?"
        doclora ask 3,5,8 "Which report mentions the harbour?"
    """
    app = facade(ctx, announce=True)
    on_token = None if as_json else (lambda t: click.echo(t, nl=False))
    answer = app.ask(_doc_ref(doc), question, on_token=on_token, history=continue_)
    if as_json:
        _print_json({"answer": answer.text, "sources": [s.to_dict() for s in answer.sources],
                     "document": answer.document, "documents": answer.documents,
                     "answered_from_pages": {str(d): p for d, p in answer.chunk_pages.items()},
                     "from_passages": answer.from_passages, "revised": answer.revised, "quoted": answer.quoted})
        return
    click.echo()
    _print_notes(answer)
    _print_sources(answer)


def _print_notes(answer) -> None:
    """How the answer was made, where the terminal's stream did not say it: from the document's passages
    (its adapter not applied), from the chunks of some pages."""
    if answer.from_passages:
        click.echo(f"{PASSAGES_NOTE}.")
    for pages in answer.chunk_pages.values():
        click.echo(answered_from(pages))


@cli.command(name="chat")
@click.argument("doc")
@click.pass_context
def chat_cmd(ctx, doc) -> None:
    """Chat with DOC interactively ('-' for no document; '3,5' or @NAME for several); /clear,
    /exit."""
    app = facade(ctx, announce=True)
    chosen = app.selection(_doc_ref(doc))
    title = ", ".join(shown(d.title) for d in chosen.documents) or "no document"
    click.echo(f"Chatting with {title}. Type /exit (or Ctrl-D) to leave, /clear to forget.")
    for m in app.history(chosen)[-6:]:
        click.echo(f"{'you' if m.role == 'user' else 'doclora'}> {m.content}")
    while True:
        try:
            question = input("you> ")
        except EOFError:
            click.echo()
            return
        if question.strip() in ("/exit", "/quit"):
            return
        if question.strip() == "/clear":
            app.clear_history(chosen)
            click.echo("History cleared.")
            continue
        if not question.strip():
            continue
        click.echo("doclora> ", nl=False)
        try:
            answer = app.ask(chosen, question, on_token=lambda t: click.echo(t, nl=False))
        except KeyboardInterrupt:
            click.echo(" [stopped]")
            continue
        except DocLoRAError as exc:  # e.g. a question too long for the window: ask again
            click.echo()
            click.echo(f"Error: {shown(str(exc))}", err=True)
            continue
        click.echo()
        _print_notes(answer)
        _print_sources(answer)


@cli.command(name="rm")
@click.argument("doc")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def rm_cmd(ctx, doc, yes) -> None:
    """Remove DOC with its adapters, pages, chat and files."""
    app = facade(ctx)
    found = app.get(doc)
    if not yes:
        click.confirm(f"Remove [{found.id}] {shown(found.title)} and its chat?", abort=True)
    app.remove(found.id)
    click.echo(f"Removed [{found.id}] {shown(found.title)}.")


@cli.command(name="rename")
@click.argument("doc")
@click.argument("title")
@click.pass_context
def rename_cmd(ctx, doc, title) -> None:
    """Give DOC a new TITLE."""
    found = facade(ctx).rename(doc, title)
    click.echo(f"Renamed [{found.id}] to {shown(found.title)}.")


@cli.group(name="collections")
def collections() -> None:
    """Named selections of documents to ask together ('doclora ask @NAME ...').

    \b
    Example:
        doclora collections add harbour 3,5
        doclora ask @harbour "Who keeps the lighthouse?"
    """


@collections.command(name="add")
@click.argument("name")
@click.argument("docs")
@click.pass_context
def collections_add(ctx, name, docs) -> None:
    """Save DOCS ('3,5,8': ids or title prefixes) as the collection NAME (replacing it)."""
    app = facade(ctx)
    found = app.save_collection(name, docs)
    titles = ", ".join(f"[{d}] {shown(app.get(d).title)}" for d in found.documents)
    click.echo(f"Saved @{shown(found.name)}: {titles}.")


@collections.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print the collections as JSON.")
@click.pass_context
def collections_list(ctx, as_json) -> None:
    """List the collections and their documents."""
    found = facade(ctx).collections()
    if as_json:
        _print_json([c.to_dict() for c in found])
        return
    if not found:
        click.echo("No collections yet; save one with 'doclora collections add NAME 3,5'.")
    for c in found:
        click.echo(f"@{shown(c.name)}: {', '.join(str(d) for d in c.documents) or '(empty)'}")


@collections.command(name="rm")
@click.argument("name")
@click.pass_context
def collections_rm(ctx, name) -> None:
    """Delete the collection NAME (its documents stay)."""
    found = facade(ctx).remove_collection(name)
    click.echo(f"Removed @{shown(found.name)}.")


@cli.group(name="config")
def config() -> None:
    """Settings, saved in the library and shared with the window's Settings.

    \b
    Example:
        doclora config set temperature 0.7
        doclora config set n_threads none
    """


@config.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print the settings as JSON.")
@click.pass_context
def config_list(ctx, as_json) -> None:
    """Show every setting and its value."""
    values = facade(ctx).settings.to_dict()
    if as_json:
        _print_json(values)
        return
    for name, value in values.items():
        click.echo(f"{name:<20} {value_text(value)}")


@config.command(name="get")
@click.argument("key")
@click.pass_context
def config_get(ctx, key) -> None:
    """Print the value of the setting KEY."""
    rule(key)  # an unknown KEY: the sentence naming every setting
    click.echo(value_text(getattr(facade(ctx).settings, key)))


@config.command(name="set")
@click.argument("key")
@click.argument("value")
@click.pass_context
def config_set(ctx, key, value) -> None:
    """Set KEY to VALUE, kept for the next start ('none': the setting's automatic choice)."""
    new = facade(ctx).configure(**{key: parsed(key, value)})
    click.echo(f"{key} = {value_text(getattr(new, key))}")


@cli.command(name="export")
@click.argument("doc")
@click.option("--format", "fmt", type=click.Choice(list(FORMATS)),
              default="gguf", show_default=True)
@click.option("--out", "-o", type=click.Path(),
              help="Target file, or folder (existing, or ending with '/'; default: here).")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@click.pass_context
def export_cmd(ctx, doc, fmt, out, force) -> None:
    """Export DOC's adapter (gguf, peft) or its chat (markdown).

    \b
    Example:
        doclora export paper -o ~/adapters/
    """
    core = facade(ctx)
    path = core.export(doc, fmt, out, force=force)
    click.echo(shown(str(path)))
    if fmt in ("gguf", "peft") and (note := scale_note(*core.applied_scale(doc), path)):
        click.echo(shown(note))


@cli.command(name="status")
@click.argument("doc", required=False)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def status_cmd(ctx, doc, as_json) -> None:
    """Show the active model pair, device and (with DOC) its adapter."""
    status = facade(ctx).status(doc)
    if as_json:
        _print_json(status.to_dict())
        return
    line = f"model {status.model}{' (demo)' if status.demo else ''} on {status.device}"
    if status.document is not None:
        line += f"; document {status.document}: rank {status.adapter_rank}, " \
                f"{human_size(status.adapter_size)}"
    click.echo(line)


@cli.command(name="ui")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=7860, show_default=True)
@click.option("--no-browser", is_flag=True, help="Do not open the default browser.")
@click.option("--share", is_flag=True, help="Create a public Gradio share link (off by default).")
@click.option("--allow-host", "allow_hosts", multiple=True, metavar="NAME",
              help="Also answer requests for this host name (repeatable); by default only "
                   "127.0.0.1, localhost and [::1] (and --host).")
@click.option("--max-upload-mb", type=click.IntRange(min=1), default=200, show_default=True,
              envvar="DOCLORA_MAX_UPLOAD_MB", help="Largest file the window accepts.")
@click.pass_context
def ui_cmd(ctx, host, port, no_browser, share, allow_hosts, max_upload_mb) -> None:
    """Start the desktop window (a local Gradio app)."""
    from app.ui import launch
    launch(host=host, port=port, open_browser=not no_browser, share=share,
           model=ctx.find_root().obj["model"], allow_hosts=allow_hosts,
           max_upload_mb=max_upload_mb)


@cli.command(name="train")
@click.option("--preset", default="tiny-needle", show_default=True,
              help="tiny-needle (the demo pair) or smollm2-135m (the real-language pair's hypernetwork).")
@click.option("--out", "out_dir", type=click.Path(),
              help="Output folder (default: the library's models folder / PRESET).")
@click.pass_context
def train_cmd(ctx, preset, out_dir) -> None:
    """Train a model pair from a preset, with a fixed seed; an interrupted run resumes.

    \b
    Examples:
        doclora train --preset tiny-needle --out ./my-demo
        doclora train --preset smollm2-135m --out ./my-smollm2
    """
    out = facade(ctx).train(preset, out_dir, log=click.echo)
    click.echo(f"Trained {preset} in {out}; use it with 'doclora models add --name NAME --base {out}/base "
               f"--gguf {out}/model.gguf --hypernet {out}/hypernet'.")


def main() -> None:
    """Entry point of the ``doclora`` script."""
    cli(prog_name="doclora")
