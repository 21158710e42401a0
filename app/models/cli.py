"""``doclora models ...``: list, pull, use, rm and add model pairs.

A group of the ``doclora`` command (``app.cli``), which shows its errors as one sentence. Each
command goes through the command's one ``DocLoRA`` (``app.cli.facade``).
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from app.api import DocLoRA
from app.cli import facade
from app.models import install
from app.models.pair import Pair
from app.models.registry import QUANTS


def _gb(x: float | None) -> str:
    return "?" if x is None else f"{x:g} GB"


def _commits(source: dict) -> str:
    """", base@1a2b3c4 hypernet@5d6e7f8": the commits a pulled pair came from (empty otherwise)."""
    parts = [f"{part}@{source[part]['commit'][:7]}" for part in ("base", "hypernet", "gguf")
             if source.get(part, {}).get("commit")]
    return ", " + " ".join(parts) if parts else ""


def _line(pair: Pair) -> str:
    mark = "*" if pair.active else " "
    if pair.installed:
        state = "installed" + _commits(pair.source)
    elif pair.kind == "bundled":
        state = "not built yet: run 'make setup'"
    else:
        state = f"not installed, ~{_gb(pair.facts.download_gb)} download"
    extra = " [recommended]" if pair.facts.recommended else ""
    extra += " [gated: needs a Hugging Face token + licence acceptance]" if pair.facts.gated else ""
    line = f"{mark} {pair.name:<12} {pair.title} ({state}){extra}"
    return line + (f"\n    {pair.facts.notes}" if pair.facts.notes else "")


@click.group(name="models")
@click.pass_context
def models(ctx: click.Context) -> None:
    """Manage model pairs (base model + chat GGUF + D2L hypernetwork).

    \b
    Examples:
        doclora models list
        doclora models pull qwen3-4b
        doclora models use tiny-needle
    """
    ctx.obj = facade(ctx)  # the subcommands' facade


@models.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print the pairs as a JSON array.")
@click.pass_obj
def models_list(app: DocLoRA, as_json: bool) -> None:
    """List the pairs; * marks the active one."""
    pairs = app.pairs()
    if as_json:
        click.echo(json.dumps([p.to_dict() for p in pairs], indent=2))
        return
    for pair in pairs:
        click.echo(_line(pair))


def _progress_printer() -> install.Progress:
    shown: set[str] = set()

    def report(stage: str, done: int, total: int) -> None:
        if stage != "download" and stage not in shown:  # huggingface_hub draws download bars
            shown.add(stage)
            click.echo({"convert": "Converting the base model to GGUF...",
                        "verify": "Verifying...", "install": "Installed."}[stage], err=True)
    return report


@models.command(name="pull")
@click.argument("name")
@click.option("--quant", type=click.Choice(QUANTS), default=None,
              help="Quantisation of the chat GGUF converted from the base (default Q4_K_M).")
@click.option("--gguf-from", metavar="REPO:FILE",
              help="Download this existing GGUF of the same weights instead of converting.")
@click.option("--force", is_flag=True, help="Download and install again even if installed.")
@click.option("--use/--no-use", default=True, show_default=True,
              help="Make the pair active once installed.")
@click.option("--revision", "revisions", multiple=True, metavar="PART=REV",
              help="Pin a repository (PART: base, hypernet or gguf) to a commit, branch or tag; "
                   "repeatable. Default: the registry's revision (main).")
@click.pass_obj
def models_pull(app: DocLoRA, name: str, quant: str | None, gguf_from: str | None,
                force: bool, use: bool, revisions: tuple[str, ...]) -> None:
    """Download, verify and install a pair (resumes an interrupted pull).

    \b
    Examples:
        doclora models pull qwen3-4b --quant Q8_0
        doclora models pull qwen3-4b --revision hypernet=1abe8ae --force
    """
    pins = {}
    for item in revisions:
        part, sep, rev = item.partition("=")
        if not sep or not rev:
            raise click.UsageError(f"--revision takes PART=REV (e.g. base=1abe8ae), not '{item}'.")
        pins[part] = rev
    pair = app.pull(name, quant=quant, gguf_from=gguf_from, force=force, use=use,
                    progress=_progress_printer(), revisions=pins)
    click.echo(f"{pair.name} is installed in {pair.base_dir.parent}"
               + (" and active." if pair.active else "."))


@models.command(name="use")
@click.argument("name")
@click.pass_obj
def models_use(app: DocLoRA, name: str) -> None:
    """Make an installed pair the active one."""
    pair = app.use_pair(name)
    click.echo(f"Now using {pair.name}; documents made with another pair need re-internalizing.")


@models.command(name="rm")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
def models_rm(app: DocLoRA, name: str, yes: bool) -> None:
    """Uninstall a pulled pair (or forget a pair you added; its files stay)."""
    pair = app.get_pair(name)
    if not yes and pair.kind == "registry":
        click.confirm(f"Delete {pair.name} and its files?", abort=True)
    app.remove_pair(name)
    click.echo(f"Removed {name}.")


@models.command(name="add")
@click.option("--name", required=True, help="A name for the pair.")
@click.option("--base", "base_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Hugging Face model folder of the base model (config.json + safetensors).")
@click.option("--gguf", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The chat GGUF made from that base (may be quantised).")
@click.option("--hypernet", required=True, type=click.Path(path_type=Path),
              help="D2L hypernetwork checkpoint (pytorch_model.bin or our folder format).")
@click.option("--use", is_flag=True, help="Make the pair active.")
@click.pass_obj
def models_add(app: DocLoRA, name: str, base_dir: Path, gguf: Path, hypernet: Path,
               use: bool) -> None:
    """Add your own pair after checking that the GGUF and hypernetwork fit the base."""
    pair = app.add_pair(name, base_dir, gguf, hypernet, use=use)
    click.echo(f"Added {pair.name}" + (" (active)." if pair.active else "."))
