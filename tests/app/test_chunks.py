"""Choosing a long document's chunks per question (app.chunks), and the adapter rows they keep."""

from __future__ import annotations

import torch

from app.chunks import ChunkMap, adapter_scale, bm25, choose, chunk_map, document_text
from hypernet.adapter import DocumentAdapter
from hypernet.compose import select_chunks

CHUNKS = ["Harbour Notes, by Ada Quill. A guide to the harbour town and its boats.",
          "The bakery opens at six and sells rye bread to the fishermen.",
          "The lighthouse keeper writes the weather in a notebook every evening.",
          "Ships pass the lighthouse at night; the keeper counts them.",
          "The library opens on Tuesdays; the librarian knows every book.",
          "Coal prices and the state of the roads are argued about daily."]


def test_a_short_document_keeps_every_chunk():
    assert choose(CHUNKS[:3], "Who bakes the bread?", max_chunks=4) == [0, 1, 2]


def test_a_long_document_keeps_its_opening_and_the_chunks_the_question_names():
    assert choose(CHUNKS, "What does the lighthouse keeper write?", max_chunks=3) == [0, 2, 3]
    assert choose(CHUNKS, "When does the library open?", max_chunks=2) == [0, 4]


def test_a_whole_document_question_is_answered_from_the_opening():
    # "What is this document about?" has no content word: only the opening chunk answers
    assert choose(CHUNKS, "What is this document about?", max_chunks=4) == [0]


def test_bm25_prefers_rarer_words_and_scores_nothing_for_stopwords():
    scores = bm25(CHUNKS, "keeper notebook")
    assert scores.index(max(scores)) == 2
    assert bm25(CHUNKS, "what is the") == [0.0] * len(CHUNKS)


def test_chunk_pages_follow_the_spans_in_the_joined_page_text():
    pages = [(1, "alpha beta"), (2, ""), (3, "gamma delta"), (4, "epsilon")]
    text = document_text(pages)
    assert text == "alpha beta\n\ngamma delta\n\nepsilon"
    spans = [(0, text.index("gamma") + 5), (text.index("delta"), len(text))]
    cmap = chunk_map(pages, spans)
    assert cmap.pages == ((1, 3), (3, 4))
    assert cmap.texts(text) == ["alpha beta\n\ngamma", "delta\n\nepsilon"]
    assert cmap.pages_of([1]) == [3, 4]
    assert ChunkMap.from_extra(cmap.to_extra()) == cmap
    assert ChunkMap.from_extra({}) is None


def test_the_scale_guard_shrinks_only_sums_beyond_the_bound():
    assert adapter_scale(1, 4) == adapter_scale(4, 4) == 1.0
    assert adapter_scale(16, 4) == 0.5
    assert adapter_scale(42, 4) < adapter_scale(8, 4) < 1.0


def test_loading_some_chunks_reads_their_rows_and_the_bias_block(tmp_path):
    L, r, n = 2, 3, 4
    A, B = torch.randn(L, n * r + r, 5), torch.randn(L, n * r + r, 7)
    full = DocumentAdapter(A=A, B=B, alpha=2.0, n_chunks=n, layer_indices=[0, 1], chunk_rank=r)
    path = full.save(tmp_path / "doc.safetensors")
    part = DocumentAdapter.load(path, [1, 3])
    assert part.n_chunks == 2 and part.extra["chunks"] == [1, 3]
    assert torch.equal(part.A, torch.cat([A[:, 3:6], A[:, 9:12], A[:, 12:15]], dim=1))
    assert torch.equal(part.B, select_chunks(full, [1, 3]).B)


def test_page_ranges_join_runs_of_pages():
    from app.chunks import answered_from, page_ranges

    assert page_ranges([1, 2, 3, 7, 9, 10]) == "1-3, 7, 9-10"
    assert answered_from([4]) == "Answered from the chunks of pages 4."
