"""Byte counts as short text: the one size formatter of the CLI and the window."""

from __future__ import annotations


def human_size(n_bytes: int | None) -> str:
    """Decimal units, as file managers show sizes (1 KB = 1000 bytes): 999 -> '999 B',
    1536 -> '1.5 KB', 2_400_000 -> '2.4 MB'; None (unknown) -> '?'."""
    if n_bytes is None:
        return "?"
    if n_bytes < 1000:
        return f"{n_bytes} B"
    size = float(n_bytes)
    for unit in ("KB", "MB", "GB"):
        size /= 1000
        if round(size, 1) < 1000:  # 999_999 is '1.0 MB', not '1000.0 KB'
            break
    return f"{size:.1f} {unit}"
