"""Whether this host may use llama.cpp's extra CPU buffer types: decided once, by a probe.

llama.cpp puts quantized weights into "extra buffer types" (AMX tiles, repacked layouts) when the
CPU advertises them. On some Intel Xeon hosts the AMX kernels fault: every quantized model dies
with SIGSEGV at its first decode (shared/design/gguf-and-llamacpp.md). Loading with
``use_extra_bufts = False`` avoids that, at some speed where the kernels do work. So whether a
host may use them is decided once, by a probe in a child process (a crash there costs nothing),
and remembered in the cache dir per CPU and llama.cpp build. F16/F32 models never use those
buffers and need no probe. ``DOCLORA_LLAMA_EXTRA_BUFTS`` (auto|on|off) overrides the decision.
Models are opened by ``converters.llama.open_model``, which asks ``use_extra_bufts`` here.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from converters.cache import cache_dir
from converters.errors import LlamaHostError
from converters.files import atomic_write

MODES = ("auto", "on", "off")
EXTRA_BUFTS_ENV = "DOCLORA_LLAMA_EXTRA_BUFTS"
DECISIONS_FILE = "llama_host.json"
PROBE_TIMEOUT_S = 300
UNQUANTIZED = {"F32", "F16", "BF16"}  # tensor types that never go to AMX or repacked buffers
PROBE_SOURCE = Path(__file__).resolve().parent.parent / "assets" / "tiny-needle" / "model.gguf"
PROBE_PROMPT = b"The special magic number is"
# Decisions: "on" (extra buffer types work), "off" (they crash; the safe path works), "broken"
# (quantized models crash either way).
ON, OFF, BROKEN = "on", "off", "broken"


def resolve_mode(mode: str = "auto") -> str:
    """The effective mode: an explicit "on"/"off" wins, "auto" defers to $DOCLORA_LLAMA_EXTRA_BUFTS."""
    if mode not in MODES:
        raise ValueError(f"extra_bufts must be one of {', '.join(MODES)}, not {mode!r}")
    if mode != "auto":
        return mode
    env = os.environ.get(EXTRA_BUFTS_ENV, "auto").strip().lower() or "auto"
    if env not in MODES:
        raise ValueError(f"{EXTRA_BUFTS_ENV} must be one of {', '.join(MODES)}, not {env!r}")
    return env


def use_extra_bufts(path: str | Path, mode: str = "auto", *, vocab_only: bool = False) -> bool:
    """Whether to open ``path`` with llama.cpp's extra buffer types (probes the host if needed)."""
    mode = resolve_mode(mode)
    if mode != "auto":
        return mode == ON
    if vocab_only:
        return True  # no weights are loaded
    decision = cached_decision()
    if decision is None:
        if not is_quantized(path):
            return True  # nothing to decide for F16/F32 weights
        decision = probe_host(path)
    if decision == BROKEN and is_quantized(path):
        raise LlamaHostError(
            f"llama.cpp crashes on this computer's CPU with quantized models such as "
            f"{Path(path).name}, even without its extra CPU kernels; use an F16 or F32 model.")
    return decision == ON


def is_quantized(path: str | Path) -> bool:
    """Whether any tensor of the GGUF is stored in a quantized type (Q8_0, Q4_K, ...)."""
    from converters.gguf_info import read_gguf_info

    return any(t not in UNQUANTIZED for t in read_gguf_info(path).tensor_types.values())


# -- the per-host decision ------------------------------------------------------------------


def host_key() -> tuple[str, dict]:
    """(key, description) of this CPU and llama.cpp build, which the decision depends on."""
    import llama_cpp

    fields: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            name, _, value = line.partition(":")
            fields.setdefault(name.strip(), value.strip())
    except OSError:
        pass  # not Linux: the machine and the build's own feature list still tell hosts apart
    cpu = fields.get("model name") or platform.processor() or platform.machine()
    flags = " ".join(sorted(fields.get("flags", "").split()))
    build = llama_cpp.llama_print_system_info().decode(errors="replace").strip()
    about = {"cpu": cpu, "llama_cpp": llama_cpp.__version__, "build": build}
    digest = hashlib.sha256("\n".join([platform.machine(), flags, *about.values()]).encode())
    return digest.hexdigest()[:16], about


def decisions_path() -> Path:
    """The JSON file of remembered decisions (one entry per host key)."""
    return cache_dir() / DECISIONS_FILE


def _read_decisions() -> dict:
    try:
        data = json.loads(decisions_path().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def cached_decision() -> str | None:
    """The remembered decision for this host ("on", "off", "broken"), or None if not probed yet."""
    entry = _read_decisions().get(host_key()[0])
    value = entry.get("extra_bufts") if isinstance(entry, dict) else None
    return value if value in (ON, OFF, BROKEN) else None


def _remember(decision: str, detail: str) -> None:
    key, about = host_key()
    data = _read_decisions()
    data[key] = {"extra_bufts": decision, "detail": detail, **about}
    text = json.dumps(data, indent=1) + "\n"
    atomic_write(decisions_path(), lambda tmp: tmp.write_text(text))


def probe_command(source: Path, gguf: Path, extra_bufts: bool) -> list[str]:
    """The child process that quantizes ``source`` to ``gguf`` (unless there) and decodes two
    tokens with it; tests replace it to play a host whose kernels fault."""
    return [sys.executable, "-m", "converters.llama_host", str(source), str(gguf),
            ON if extra_bufts else OFF]


def _run_probe(source: Path, gguf: Path, extra_bufts: bool) -> tuple[bool, str | None]:
    """(crashed, why): (False, None) when the child decoded; crashed means killed by a signal or
    hung, as opposed to a Python error (which says nothing about the CPU)."""
    package_root = str(Path(__file__).resolve().parent.parent)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (package_root, os.environ.get("PYTHONPATH")) if p))
    try:
        proc = subprocess.run(probe_command(source, gguf, extra_bufts), capture_output=True,
                              text=True, env=env, timeout=PROBE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return True, f"no answer within {PROBE_TIMEOUT_S} s"
    if proc.returncode == 0 and "decoded" in proc.stdout:
        return False, None
    if proc.returncode < 0:
        return True, f"killed by {signal.Signals(-proc.returncode).name}"
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:]
    return False, f"exit {proc.returncode}" + (f": {tail[0]}" if tail else "")


def probe_host(model: str | Path | None = None) -> str:
    """Probe this host once with a small Q8_0 model, remember and return the decision.

    The Q8_0 is made from the bundled demo model; without it, ``model`` itself is probed.
    """
    source = PROBE_SOURCE if PROBE_SOURCE.is_file() else model
    if source is None:
        raise FileNotFoundError(f"no model to probe llama.cpp with ({PROBE_SOURCE} is missing)")
    with tempfile.TemporaryDirectory(dir=cache_dir(), prefix=".probe-") as tmp:
        gguf = Path(tmp) / "probe-q8_0.gguf" if source == PROBE_SOURCE else Path(source)
        _, why_on = _run_probe(Path(source), gguf, extra_bufts=True)
        if why_on is None:
            decision, detail = ON, "decoded with extra buffer types"
        else:  # any failure turns them off; only a crash on the safe path too means "broken"
            crashed, why_off = _run_probe(Path(source), gguf, extra_bufts=False)
            decision = BROKEN if crashed else OFF
            detail = f"with extra buffer types: {why_on}; without: {why_off or 'decoded'}"
    _remember(decision, detail)
    return decision


def _probe_main(source: str, gguf: str, mode: str) -> None:
    """Child side of the probe: make the Q8_0, load it with or without extra buffer types and
    decode two tokens (its output is captured, so llama.cpp's log stays out of the terminal)."""
    from converters.hf_to_gguf import quantize
    from converters.llama import open_model

    if not Path(gguf).is_file():
        quantize(source, gguf, "Q8_0", nthread=1)
    llm = open_model(gguf, n_ctx=64, n_batch=32, extra_bufts=mode)  # "on"/"off": no probe
    tokens = llm.generate(llm.tokenize(PROBE_PROMPT, add_bos=True), top_k=1, temp=0.0)
    for _ in range(2):
        next(tokens)
    print("decoded")


if __name__ == "__main__":
    _probe_main(*sys.argv[1:4])
