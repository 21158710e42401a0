"""The one size formatter of the CLI and the window: decimal units."""

from __future__ import annotations

import pytest

from app.sizes import human_size

CASES = [  # (bytes, text)
    (None, "?"), (0, "0 B"), (999, "999 B"), (1000, "1.0 KB"), (1536, "1.5 KB"),
    (999_999, "1.0 MB"), (2_400_000, "2.4 MB"), (3_200_000_000, "3.2 GB"),
    (4_500_000_000_000, "4500.0 GB"),
]


@pytest.mark.parametrize("n, text", CASES)
def test_human_size(n, text):
    assert human_size(n) == text
