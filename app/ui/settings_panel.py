"""Settings: model pair, device, threads, context length, temperature, max tokens, chunks per question
in long documents, the check of answers against the document, CPU kernels."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import gradio as gr

from app.api import DocLoRA, Settings
from app.errors import DocLoRAError
from app.ui.errors import user_error
from app.ui.views import expectation_line

if TYPE_CHECKING:
    from app.ui.window import Window

DEVICES = [("Automatic", "auto"), ("CPU", "cpu"), ("GPU", "gpu")]
EXTRA_BUFTS = [("Automatic (tested once on this computer)", "auto"), ("On", "on"), ("Off", "off")]


@dataclass
class SettingsPanel:
    model: gr.Dropdown
    device: gr.Dropdown
    threads: gr.Slider
    n_ctx: gr.Number
    temperature: gr.Slider
    max_tokens: gr.Slider
    max_chunks: gr.Slider
    grounding: gr.Checkbox
    extra_bufts: gr.Dropdown
    apply: gr.Button


def model_names(core: DocLoRA) -> list[str]:
    """Installed model pairs (and the active one, listed first if it is not installed)."""
    try:
        current = core.pair.name
    except DocLoRAError:
        current = None
    try:
        names = [p.name for p in core.pairs() if p.installed]
    except DocLoRAError:  # the active pair is always listed
        names = []
    if current and current not in names:
        names.insert(0, current)
    return names


def build(settings: Settings) -> SettingsPanel:
    """The settings tab, filled with the core's current settings; Apply stays in view at its foot while
    the tab scrolls (``theme.CSS``)."""
    with gr.Tab("Settings", id="settings", elem_id="dl-settings", render_children=True):
        model = gr.Dropdown(choices=[], label="Model", elem_id="dl-model")
        device = gr.Dropdown(DEVICES, value=settings.device, label="Device", elem_id="dl-device")
        threads = gr.Slider(0, max(os.cpu_count() or 1, 1), step=1,
                            value=settings.n_threads or 0, label="Threads",
                            info="0: llama.cpp decides", elem_id="dl-threads")
        n_ctx = gr.Number(value=settings.n_ctx, precision=0, minimum=0, label="Context length",
                          info="Tokens; 0: the model's own window", elem_id="dl-n-ctx")
        temperature = gr.Slider(0.0, 2.0, step=0.05, value=settings.temperature,
                                label="Temperature", elem_id="dl-temperature")
        max_tokens = gr.Slider(16, 4096, step=16, value=settings.max_tokens,
                               label="Max tokens per answer", elem_id="dl-max-tokens")
        max_chunks = gr.Slider(1, 64, step=1, value=settings.max_chunks, label="Chunks per question",
                               info="A long document answers from its opening and the chunks the question "
                                    "points to", elem_id="dl-max-chunks")
        grounding = gr.Checkbox(value=settings.grounding, label="Check answers against the document",
                                info="An answer naming what the document does not hold is answered again "
                                     "from its best passages", elem_id="dl-grounding")
        extra_bufts = gr.Dropdown(EXTRA_BUFTS, value=settings.llama_extra_bufts,
                                  label="Fast CPU kernels for quantized models",
                                  info="llama.cpp's AMX / repacked weights; Off if answers crash",
                                  elem_id="dl-extra-bufts")
        apply = gr.Button("Apply", size="sm", elem_id="dl-apply")
    return SettingsPanel(model, device, threads, n_ctx, temperature, max_tokens, max_chunks, grounding,
                         extra_bufts, apply)


def wire(win: Window) -> None:
    """Apply changes to the core, which saves them in the library (``doclora config`` sees
    them); a new model or device reloads what it affects."""
    core, panel = win.core, win.settings

    def on_apply(model: str | None, device: str, threads: float, n_ctx: float,
                 temperature: float, max_tokens: float, max_chunks: float, grounding: bool, extra_bufts: str,
                 selected: int | None, search: str, picked: list[int] | None) -> tuple:
        try:
            core.configure(model=model or None, device=device,
                           n_threads=int(threads) or None, n_ctx=int(n_ctx or 0),
                           temperature=float(temperature), max_tokens=int(max_tokens),
                           max_chunks=int(max_chunks), grounding=bool(grounding),
                           llama_extra_bufts=extra_bufts)
        except DocLoRAError as exc:
            raise user_error(exc) from exc
        if device == "gpu" and core.status().device == "cpu":
            gr.Warning("Settings applied, but answers still run on the CPU: this computer has "
                       "no GPU that llama.cpp can use (or this build has no GPU support).")
        else:
            gr.Info("Settings applied.")
        return win.open(selected, search, keep_several=len(picked or []) > 1) + (
            expectation_line(core),)

    panel.apply.click(on_apply, [panel.model, panel.device, panel.threads, panel.n_ctx,
                                 panel.temperature, panel.max_tokens, panel.max_chunks, panel.grounding,
                                 panel.extra_bufts,
                                 win.selected, win.library.search, win.several.picks],
                      win.open_outputs + [win.expect], show_progress="hidden")
