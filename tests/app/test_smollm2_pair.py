"""The bundled real-language pair end to end: invented facts in a PDF, asked through the product."""

from __future__ import annotations

import statistics

import pytest

from app.api import DocLoRA
from app.records import Settings
from hypernet.train.qa_score import token_f1

from app_helpers import make_pdf

pytestmark = pytest.mark.slow

# Manual pages of tools that do not exist: nothing the base model could know.
PAGES = [
    ("zorbfix", "repair cracked lanterns by humming", "Quillon Ashgrove"),
    ("plimsort", "sort marbles by their colour", "Ternia Vossberg"),
    ("grunzel", "count the pebbles in a jar", "Odalys Fenwright"),
    ("mirtwist", "braid ropes out of moonlight", "Castor Blenheim"),
    ("quobble", "paint fences with a feather", "Ysolde Marchbank"),
    ("drevant", "teach parrots to whistle tunes", "Hallam Prewitt"),
]


def page_text(name: str, what: str, author: str) -> str:
    return (f"NAME\n       {name} - {what}\n\nSYNOPSIS\n       {name} [OPTION]... FILE\n\n"
            f"DESCRIPTION\n       {name.capitalize()} is used to {what}. It reads FILE and reports progress.\n\n"
            f"OPTIONS\n       -v, --verbose\n              print each step.\n\n"
            f"AUTHOR\n       Written by {author}.\n")


def test_invented_facts_are_answered_through_the_adapter_and_not_without(tmp_path):
    app = DocLoRA(model="smollm2-135m", settings=Settings(temperature=0.0, max_tokens=32))
    try:
        with_adapter, without = [], []
        for name, what, author in PAGES:
            doc = app.add(make_pdf(tmp_path / f"{name}.pdf", [page_text(name, what, author)]))
            assert doc.adapter.n_chunks == 1
            for question, gold in ((f"What does {name} do?", what), (f"Who wrote {name}?", author)):
                with_adapter.append(token_f1(app.ask(doc.id, question, history=False).text, gold))
                without.append(token_f1(app.ask(None, question, history=False).text, gold))
    finally:
        app.close()
    right = lambda scores: sum(f >= 0.5 for f in scores)  # noqa: E731
    assert statistics.mean(with_adapter) > statistics.mean(without) + 0.15, (with_adapter, without)
    assert right(with_adapter) >= right(without) + 3, (with_adapter, without)
