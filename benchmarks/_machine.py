"""The machine a benchmark ran on, in one line: lscpu's model name, cores, CPU features, load."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

# The CPU flags that decide bf16 speed in torch and which kernels llama.cpp may use.
FEATURES = ("avx2", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8")


def cpu_name() -> str:
    """lscpu's model name (else /proc/cpuinfo's, else platform's)."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.strip().startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    for line in _cpuinfo().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown CPU"


def cpu_features() -> str:
    """Which of FEATURES the CPU advertises, e.g. "avx2 yes, avx512f no, ..."."""
    flags = set(_cpuinfo().split())
    return ", ".join(f"{f} {'yes' if f in flags else 'no'}" for f in FEATURES)


def machine(*extra: str) -> str:
    """CPU model, cores, features and the load average now, then ``extra`` (versions, GPU...)."""
    parts = [cpu_name(), f"{os.cpu_count()} cores", cpu_features(),
             f"load average {os.getloadavg()[0]:.2f}", *extra]
    return "; ".join(parts)


def _cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""
