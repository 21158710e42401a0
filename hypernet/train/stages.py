"""Resumable recipe stages: each runs unless its output file already exists."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path


class Stages:
    """Runs the stages of one recipe, logging each one's time or that it was skipped."""

    def __init__(self, name: str, log: Callable[[str], None]):
        self.name, self.log = name, log
        self.timings: dict[str, float] = {}

    def __call__(self, label: str, done: Path, fn: Callable[[], object]) -> None:
        """Run ``fn`` unless ``done`` exists (an earlier run finished this stage)."""
        if done.exists():
            self.log(f"[{self.name}] {label}: found {done}, skipped")
            return
        t0 = time.time()
        fn()
        self.timings[label] = time.time() - t0
        self.log(f"[{self.name}] {label}: {self.timings[label]:.0f} s")

    def summary(self) -> str:
        return ", ".join(f"{k} {v:.0f} s" for k, v in self.timings.items())
