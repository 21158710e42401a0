"""Document titles: control characters out, and the rules for a title a user types."""

from __future__ import annotations

import unicodedata

from app.errors import LibraryError

MAX_TITLE = 120  # as converters.pdf caps a PDF's own title
# Bidirectional overrides and isolates: they reorder what a terminal or page shows.
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def clean_title(text: str) -> str:
    """A title without control characters (NUL, terminal escapes, bidi overrides); line breaks
    and tabs become spaces, runs of spaces one."""
    kept = []
    for ch in text:
        category = unicodedata.category(ch)
        if ch in _BIDI or (category in ("Cc", "Cs") and not ch.isspace()):
            continue
        kept.append(" " if ch.isspace() or category in ("Zl", "Zp") else ch)
    return " ".join("".join(kept).split())


def checked_title(text: str) -> str:
    """A title a user typed, cleaned; refused when empty or longer than MAX_TITLE."""
    title = clean_title(text)
    if not title:
        raise LibraryError("The new title is empty; give a title with some text.")
    if len(title) > MAX_TITLE:
        raise LibraryError(f"The title has {len(title)} characters; give one of at most "
                           f"{MAX_TITLE}.")
    return title
