"""Paths shared by the training tests (tests/train is on pytest's ``pythonpath``)."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
PAIR_DIR = REPO_ROOT / "assets" / "tiny-needle"
HELDOUT = PAIR_DIR / "heldout.txt"
