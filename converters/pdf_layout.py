"""Reading order and clean-up for PDF page text: columns, tables as Markdown, hyphenation,
repeated headers/footers. Works on pymupdf pages; pure helpers below take plain boxes."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

import pymupdf

MIN_GUTTER = 8.0  # points of empty x-range between two columns
NARROW = 0.55  # a block at least this fraction of the text width wide spans the columns
MARGIN = 0.1  # headers/footers live in the top/bottom 10% of the page
HYPHENATED_END = re.compile(r"[^\W\d_]-$")  # a letter, then a hyphen at the end of a line
FULL_LINE = 0.15  # a line ending within 15% of the block width from its right edge is "full"


@dataclass
class Box:
    """A block of page content: text or a table rendered as Markdown."""

    x0: float
    y0: float
    x1: float
    y1: float
    text: str


def column_bounds(boxes: list[Box]) -> list[float]:
    """x positions of the gutters: empty x-ranges (>= MIN_GUTTER) in the boxes' x-coverage."""
    bounds, reach = [], None
    for b in sorted(boxes, key=lambda b: b.x0):
        if reach is not None and b.x0 - reach >= MIN_GUTTER:
            bounds.append((reach + b.x0) / 2)
        reach = b.x1 if reach is None else max(reach, b.x1)
    return bounds


def reading_order(boxes: list[Box]) -> list[Box]:
    """Top to bottom; wide blocks (titles, full-width paragraphs, tables) split the page into
    sections, and within a section the columns are read left to right, each top to bottom."""
    if not boxes:
        return []
    left, right = min(b.x0 for b in boxes), max(b.x1 for b in boxes)
    ordered: list[Box] = []
    section: list[Box] = []

    def flush() -> None:
        bounds = column_bounds(section)
        column = lambda b: sum(g < b.x0 for g in bounds)  # noqa: E731
        ordered.extend(sorted(section, key=lambda b: (column(b), b.y0, b.x0)))
        section.clear()

    for b in sorted(boxes, key=lambda b: (b.y0, b.x0)):
        if b.x1 - b.x0 >= NARROW * (right - left):
            flush()
            ordered.append(b)
        else:
            section.append(b)
    flush()
    return ordered


def join_lines(lines: list[tuple[float, str]], right: float, width: float) -> str:
    """Reflow a block's lines: a line that reaches the block's right edge continues on the next
    (joined with a space, or without the hyphen of a word split across lines); a shorter line
    (paragraph end, code, list item) keeps its line break."""
    out = ""
    for i, (x1, text) in enumerate(lines):
        text = text.strip()
        if not text:
            continue
        if out:
            prev_full = lines[i - 1][0] >= right - FULL_LINE * width
            if HYPHENATED_END.search(out) and text[0].islower():
                out = out[:-1]  # "exam-" + "ple" -> "example"
            elif prev_full:
                out += " "
            else:
                out += "\n"
        out += text
    return out


def may_hold_table(page: pymupdf.Page) -> bool:
    """Cheap pre-check for a ruled table: >= 3 distinct horizontal and >= 2 vertical rules.

    find_tables costs ~0.3 s on a page with any drawing; most pages (rules under headings,
    code frames) fail this check and skip it.
    """
    xs, ys = set(), set()
    for path in page.get_cdrawings():
        for item in path["items"]:
            if item[0] == "l":
                (x0, y0), (x1, y1) = item[1], item[2]
            elif item[0] == "re":
                x0, y0, x1, y1 = item[1]
            else:
                continue
            if abs(y1 - y0) < 3:
                ys.add(round((y0 + y1) / 2))
            elif abs(x1 - x0) < 3:
                xs.add(round((x0 + x1) / 2))
            else:  # a framed box contributes its four edges
                ys.update((round(y0), round(y1)))
                xs.update((round(x0), round(x1)))
        if len(xs) >= 2 and len(ys) >= 3:
            return True
    return False


def page_boxes(page: pymupdf.Page, textpage: pymupdf.TextPage | None = None) -> list[Box]:
    """Text blocks and tables (as Markdown) of one page; text inside a table is not repeated."""
    tables = []
    if may_hold_table(page):
        # use_layout=False: line-based detection only; pymupdf_layout's ONNX model costs ~0.8 s/page.
        tables = [t for t in page.find_tables(use_layout=False).tables if t.row_count > 0]
    table_rects = [pymupdf.Rect(t.bbox) for t in tables]
    boxes = [Box(*t.bbox, t.to_markdown().strip()) for t in tables]
    flags = pymupdf.TEXTFLAGS_DICT & ~pymupdf.TEXT_PRESERVE_IMAGES
    for block in page.get_text("dict", flags=flags, textpage=textpage)["blocks"]:
        if block.get("type", 0) != 0:
            continue
        x0, y0, x1, y1 = block["bbox"]
        center = pymupdf.Point((x0 + x1) / 2, (y0 + y1) / 2)
        if any(center in r for r in table_rects):
            continue
        lines = [(line["bbox"][2], "".join(span["text"] for span in line["spans"])) for line in block["lines"]]
        text = join_lines(lines, x1, x1 - x0)
        if text:
            boxes.append(Box(x0, y0, x1, y1, text))
    return boxes


def _signature(text: str) -> str:
    """Header/footer identity: digits vary between pages ("Page 3", "3 / 10")."""
    return re.sub(r"\d+", "#", text.lower()).strip()


def strip_repeated_margins(pages: list[list[Box]], heights: list[float]) -> list[list[Box]]:
    """Drop blocks in the top/bottom margin whose text (digits aside) repeats across pages,
    unless they are all the text there is."""
    def in_margin(b: Box, h: float) -> bool:
        return b.y1 <= MARGIN * h or b.y0 >= (1 - MARGIN) * h

    counts = Counter()
    for boxes, h in zip(pages, heights):
        counts.update({_signature(b.text) for b in boxes if in_margin(b, h)})
    # Repeated on half the pages of a short document, or on 3 pages of a longer one (running
    # headers such as "Chapter 2: Methods 14" repeat per chapter, not on every page).
    threshold = min(3, max(2, (len(pages) + 1) // 2))
    noise = {sig for sig, n in counts.items() if n >= threshold}
    kept = [[b for b in boxes if not (in_margin(b, h) and _signature(b.text) in noise)]
            for boxes, h in zip(pages, heights)]
    # A document whose only text sits in the margins (labels, one line per page) is not all
    # running headers: it keeps them rather than look scanned.
    return kept if any(kept) else pages
