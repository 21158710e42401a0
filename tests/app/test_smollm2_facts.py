"""The bundled real pair's hypernetwork learns facts it cannot know: made-up commands' names, from their PDFs.

The pages are manual pages (``hypernet.doc_kind``), which the pair applies at its manual-page scale (1,
chosen on manual pages no training stage read: ``hypernet.train.calibrate``); at the ordinary documents'
scale its adapters name none of them. Grounding is on, as for a user: a name the page holds passes."""

from __future__ import annotations

import random

import pytest

from app.api import DocLoRA
from app.settings import Settings
from hypernet.train.renamed import made_up_name

from app_helpers import make_pdf

pytestmark = pytest.mark.slow

NAME_QUESTION = "What is the name of the command this manual page describes?"
JOBS = ["repair cracked lanterns by humming", "count the sheep in a meadow file", "sort recipes by colour",
        "print the tides of a harbour", "rename photographs after their weather", "measure the echo of a folder",
        "translate birdsong into tables", "fold maps along their rivers", "water the plants listed in a file",
        "tune pianos over a serial line", "polish the timestamps of a log", "list the moons of a planet file"]


def _page(name: str, job: str) -> str:
    return (f"{name.upper()}(1)            User Commands            {name.upper()}(1)\n\n"
            f"NAME\n       {name} - {job}\n\nSYNOPSIS\n       {name} [OPTION]... FILE\n\n"
            f"DESCRIPTION\n       {name} reads FILE and does its work; {name} stays quiet unless asked.\n")


def test_the_adapter_names_made_up_commands_the_base_cannot_know(tmp_path):
    rng = random.Random(2026)
    names = [made_up_name(rng) for _ in JOBS]
    app = DocLoRA(model="smollm2-135m", settings=Settings(temperature=0.0, max_tokens=12))
    hits = {"adapter": 0, "none": 0}
    try:
        for i, (name, job) in enumerate(zip(names, JOBS)):
            doc = app.add(make_pdf(tmp_path / f"{i}.pdf", [_page(name, job)]))
            hits["adapter"] += name in app.ask(doc.id, NAME_QUESTION, history=False).text.lower()
            hits["none"] += name in app.ask(None, NAME_QUESTION, history=False).text.lower()
    finally:
        app.close()
    assert hits["none"] == 0  # the names are made up: no base model knows them
    # measured on AMD EPYC, llama.cpp Q4_1: 3 of 12 with the adapter (the copy stage, step 900)
    assert hits["adapter"] >= 2, hits
