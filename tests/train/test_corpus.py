"""Corpus cleaning and the held-out split."""

from __future__ import annotations

from hypernet.train.corpus import Source, clean_paragraphs, is_heldout, read_sources, write_sources

PROSE = ("The archive format stores each member with its own header. Readers skip members they do\n"
         "not understand, which keeps old tools working with newer archives.")
CODE = "    for (i = 0; i < n; i++) {\n        x[i] = f(i);\n    }"


def test_clean_paragraphs_keeps_prose_and_drops_code():
    paras = clean_paragraphs(f"{PROSE}\n\n{CODE}\n\n>>> print(x)\n\nShort line.")
    assert paras == [PROSE.replace("\n", " ")]


def test_heldout_split_is_deterministic_and_about_the_fraction():
    names = [f"/usr/share/doc/pkg{i}/README" for i in range(2000)]
    held = [n for n in names if is_heldout(n)]
    assert held == [n for n in names if is_heldout(n)]
    assert 0.09 < len(held) / len(names) < 0.15


def test_sources_round_trip(tmp_path):
    sources = [Source("a", ["First paragraph here.", "Second one."]), Source("b", ["Third."])]
    path = write_sources(sources, tmp_path / "c.txt")
    assert read_sources(path) == [["First paragraph here.", "Second one."], ["Third."]]
