"""pdf_layout's pure helpers: column detection, reading order, line reflow, margin noise."""

from __future__ import annotations

from converters.pdf_layout import Box, join_lines, reading_order, strip_repeated_margins


def texts(boxes):
    return [b.text for b in boxes]


def test_three_columns_between_full_width_blocks():
    boxes = [
        Box(50, 700, 560, 720, "footer-wide"),
        Box(400, 100, 560, 300, "c1"), Box(50, 100, 210, 300, "a1"), Box(225, 100, 385, 300, "b1"),
        Box(50, 320, 210, 500, "a2"), Box(225, 320, 385, 500, "b2"),
        Box(50, 40, 560, 80, "title"),
        Box(50, 520, 560, 560, "wide-middle"),
        Box(50, 580, 300, 680, "left-after"), Box(310, 580, 560, 680, "right-after"),
    ]
    assert texts(reading_order(boxes)) == [
        "title", "a1", "a2", "b1", "b2", "c1", "wide-middle", "left-after", "right-after", "footer-wide",
    ]


def test_single_column_is_top_to_bottom():
    boxes = [Box(72, 300, 540, 400, "second"), Box(72, 100, 540, 200, "first"), Box(72, 410, 200, 420, "short")]
    assert texts(reading_order(boxes)) == ["first", "second", "short"]


def test_join_lines_reflows_prose_keeps_short_lines_and_dehyphenates():
    lines = [(540, "A long line of prose that reaches the right"), (538, "edge and continues with an exam-"),
             (300, "ple that ends early."), (200, "> code(line)"), (250, "well-"), (540, "Known start")]
    assert join_lines(lines, right=540, width=468) == (
        "A long line of prose that reaches the right edge and continues with an example that ends early.\n"
        "> code(line)\nwell-\nKnown start"
    )


def test_repeated_margin_lines_are_noise_single_ones_are_not():
    def page(n, header):
        return [Box(72, 20, 300, 40, header), Box(72, 100, 540, 600, f"body {n}"), Box(280, 760, 320, 780, f"{n}")]

    pages = [page(1, "Chapter 1: Start"), page(2, "Chapter 1: Start"), page(3, "Chapter 1: Start"),
             page(4, "Chapter 2: End"), page(5, "Chapter 2: End")]
    cleaned = strip_repeated_margins(pages, [792] * 5)
    assert [texts(p) for p in cleaned] == [
        ["body 1"], ["body 2"], ["body 3"], ["Chapter 2: End", "body 4"], ["Chapter 2: End", "body 5"],
    ]


def test_margin_lines_that_are_all_the_text_there_is_are_kept():
    """Issue 31: such a document lost every line and was refused as scanned."""
    pages = [[Box(72, 20, 300, 40, f"Label {n}")] for n in range(1, 4)]
    assert strip_repeated_margins(pages, [792] * 3) == pages
