"""The settings (``Settings``), each field with the rule of what it accepts, checked in one place.

``checked`` guards ``DocLoRA.configure`` (bad input gets one sentence naming what is valid),
``parsed`` reads the text typed after ``doclora config set``, ``valid_saved`` keeps the saved
values this version accepts (``read_saved``: with a sentence for each it refuses),
``context_refusal`` bounds ``n_ctx`` by the model, and ``value_text`` writes a value as
``doclora config`` prints it. Every number has an upper bound: what the machine and the models
can use, with the reason in the refusal.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from app.errors import DocLoRAError
from converters.llama_host import MODES

CORES = os.cpu_count() or 1
THREADS_PER_CORE = 4
MAX_CONTEXT = 1 << 20  # tokens: no model llama.cpp runs was trained on a longer window
MAX_RANK = 1 << 16


@dataclass(frozen=True)
class Rule:
    """The values one setting accepts."""

    kind: type  # int, float, bool or str
    low: float | None = None  # the smallest number accepted
    above: bool = False  # ``low`` itself is not accepted
    high: float | None = None  # the largest number accepted
    choices: tuple[str, ...] = ()  # the words accepted
    none: str = ""  # what None means, where None is accepted
    why: str = ""  # the reason for the bounds, said when a value is refused

    def describe(self) -> str:
        """The valid values, as words for a sentence."""
        if self.kind is bool:
            text = "true or false"
        elif self.choices:
            text = "one of " + ", ".join(self.choices)
        else:
            text = "a whole number" if self.kind is int else "a number"
            if self.kind is int and self.low == 1 and self.high is None:
                text = "a positive whole number"
            elif self.above:
                text += f" above {_number(self.low)}" + (
                    f" and at most {_number(self.high)}" if self.high is not None else "")
            elif self.low is not None and self.high is not None:
                text += f" from {_number(self.low)} to {_number(self.high)}"
            elif self.low is not None:
                text += f" of at least {_number(self.low)}"
        return f"{text}, or none ({self.none})" if self.none else text

    def accepts(self, value: Any) -> bool:
        """Whether ``value`` (already of a Python type) is valid."""
        if value is None:
            return bool(self.none)
        if isinstance(value, bool) or self.kind is bool:
            return isinstance(value, bool) and self.kind is bool
        if self.kind is str:
            return value in self.choices
        if not isinstance(value, int if self.kind is int else (int, float)):
            return False
        if not math.isfinite(value):
            return False
        if self.low is not None and (value <= self.low if self.above else value < self.low):
            return False
        return self.high is None or value <= self.high


def _number(x: float) -> str:
    """1048576 as such (not 1.04858e+06), 0.5 as 0.5."""
    return str(int(x)) if x == int(x) else f"{x:g}"


def _setting(default: Any, rule: Rule, reload: bool = False) -> Any:
    """A field of ``Settings`` with its rule; ``reload``: a change reloads the engines (llama.cpp
    and the hypernetwork) that read it when they load."""
    return field(default=default, metadata={"rule": rule, "reload": reload})


@dataclass
class Settings:
    """Generation/runtime settings, each with the rule of the values it accepts;
    ``DocLoRA.configure(**changes)`` checks, applies and saves them in the library."""

    n_ctx: int = _setting(0, Rule(  # 0: the model's training window
        int, low=0, high=MAX_CONTEXT,
        why="0 is the model's own window, and no model is trained on a longer one"), reload=True)
    n_threads: int | None = _setting(None, Rule(  # None: llama.cpp's default
        int, low=1, high=THREADS_PER_CORE * CORES, none="llama.cpp decides",
        why=f"this computer has {CORES} CPU cores; more than {THREADS_PER_CORE} threads per core "
            "only slow llama.cpp down, and thousands crash it"), reload=True)
    device: str = _setting("auto", Rule(str, choices=("auto", "cpu", "gpu")), reload=True)
    # Sampling of every answer (llama.cpp's); temperature 0 is greedy.
    temperature: float = _setting(0.0, Rule(float, low=0, high=10,
                                            why="above 10 every answer is noise"))
    max_tokens: int = _setting(256, Rule(int, low=1, high=MAX_CONTEXT,
                                         why="no model's window holds a longer answer"))
    top_k: int = _setting(40, Rule(int, low=0, high=MAX_CONTEXT,  # 0: no top-k cut
                                   why="no vocabulary is larger"))
    top_p: float = _setting(0.95, Rule(float, low=0, above=True, high=1))
    min_p: float = _setting(0.05, Rule(float, low=0, high=1))
    repeat_penalty: float = _setting(1.0, Rule(  # 1: none
        float, low=0, above=True, high=10, why="above 10 it forbids every word already said"))
    # Documents' adapters kept loaded beside the base model (LRU).
    adapter_cache_size: int = _setting(4, Rule(
        int, low=1, high=256, why="each kept adapter takes memory beside the model"))
    max_pages: int = _setting(2000, Rule(  # ingestion page limit
        int, low=1, high=100_000, why="a larger PDF would take weeks to internalize"))
    # Adapters above this rank are compressed (exact truncated SVD, hypernet.compress); None keeps
    # them uncompressed. Equal to hypernet.compress.DEFAULT_MAX_ADAPTER_RANK (a test checks).
    max_adapter_rank: int | None = _setting(64, Rule(
        int, low=1, high=MAX_RANK, none="adapters stay uncompressed",
        why="no adapter has a higher rank; none keeps them all whole"))
    # Chatting with several documents: above this total rank their adapters are composed into
    # one temporary adapter compressed to this rank (exact truncated SVD; app.compose).
    max_composed_rank: int = _setting(128, Rule(
        int, low=1, high=MAX_RANK, why="the composed adapter must fit in memory"))
    # Chatting with several documents: a question whose words point to only some of them (FTS5
    # bm25, app.compose.focus) is answered under those documents' adapters alone; False: always
    # under all of them.
    compose_focus: bool = _setting(True, Rule(bool))
    # A document of more than this many chunks is answered under its opening chunk and the chunks
    # that best match the question, this many at most (app.chunks; issue 30); it also bounds the
    # chunks any composition sums at full scale (app.chunks.adapter_scale).
    max_chunks: int = _setting(4, Rule(int, low=1, high=64))
    # An answer under a document's adapter that names what the document does not hold (app.grounding)
    # is answered again with the document's best passages in the prompt; a document whose adapter the
    # pair does not apply (its kind's scale is 0) is answered from its best passages from the start.
    grounding: bool = _setting(True, Rule(bool))
    # Internalize with the context encoder under bf16 autocast on CPUs with native bf16
    # (AVX512-BF16 or AMX: 3-6x faster); elsewhere, and when False, float32.
    cpu_bf16: bool = _setting(True, Rule(bool), reload=True)
    # llama.cpp's extra CPU buffer types (AMX, repacked weights): "auto" probes the host once
    # (converters.llama_host), "on" / "off" force them; "auto" also honours
    # $DOCLORA_LLAMA_EXTRA_BUFTS.
    llama_extra_bufts: str = _setting("auto", Rule(str, choices=MODES), reload=True)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of the values."""
        return asdict(self)


RULES: dict[str, Rule] = {f.name: f.metadata["rule"] for f in fields(Settings)}
# The settings whose change reloads the engines (``DocLoRA.configure``).
RELOADING: tuple[str, ...] = tuple(f.name for f in fields(Settings) if f.metadata["reload"])

_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def rule(name: str) -> Rule:
    """The rule of the setting ``name``; DocLoRAError naming every setting when there is none."""
    if name not in RULES:
        raise DocLoRAError(f"There is no setting '{name}'; use one of {', '.join(RULES)}.")
    return RULES[name]


def _refused(name: str, value: Any, typed: str | None = None) -> DocLoRAError:
    """The sentence refusing ``value`` (shown as ``typed``, the text it was read from, if any),
    with the reason for the upper bound when it is above it."""
    found = RULES[name]
    text = repr(value if typed is None else typed)
    text = text if len(text) <= 40 else text[:36] + "…" + text[-1]
    above = (isinstance(value, (int, float)) and found.high is not None and value > found.high)
    why = f" ({found.why})" if above and found.why else ""
    return DocLoRAError(f"{name} must be {found.describe()}, not {text}{why}.")


def checked(changes: dict[str, Any]) -> dict[str, Any]:
    """``changes`` (setting name -> value) as stored, numbers as their field's type;
    DocLoRAError with one sentence for an unknown name or a value its rule refuses."""
    out = {}
    for name, value in changes.items():
        found = rule(name)
        if not found.accepts(value):
            raise _refused(name, value)
        out[name] = float(value) if found.kind is float and value is not None else value
    return out


def parsed(name: str, text: str) -> Any:
    """The value ``text`` (as typed after ``doclora config set NAME``) stands for, checked."""
    found = rule(name)
    word = text.strip().lower()
    value: Any = text
    if found.none and word == "none":
        value = None
    elif found.kind is bool and word in _TRUE + _FALSE:
        value = word in _TRUE
    elif found.kind is str:
        value = word
    elif found.kind in (int, float):
        try:
            value = found.kind(word)
        except ValueError:
            pass
    if not found.accepts(value):
        raise _refused(name, value, text)
    return checked({name: value})[name]


def valid_saved(values: dict[str, Any]) -> dict[str, Any]:
    """The saved values this version knows and accepts (the others are left to the defaults)."""
    out = {}
    for name, value in values.items():
        try:
            out.update(checked({name: value}))
        except DocLoRAError:
            continue
    return out


def read_saved(rows: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The values of the settings table (name -> JSON text) this version accepts, and one
    sentence for each value it refuses (not JSON, or against its rule: the default applies
    until ``doclora config set`` replaces it). Names of other versions' settings are skipped."""
    values, problems = {}, []
    for name, text in rows.items():
        if name not in RULES:
            continue
        try:
            values.update(checked({name: json.loads(text)}))
        except (ValueError, TypeError, DocLoRAError) as exc:  # JSONDecodeError is a ValueError
            why = exc if isinstance(exc, DocLoRAError) else _refused(name, text)
            default = value_text(getattr(Settings(), name))
            problems.append(f"Ignoring the saved {name}: {str(why).rstrip('.')}; the default "
                            f"{default} applies until 'doclora config set {name} VALUE' "
                            "replaces it.")
    return values, problems


def context_refusal(n_ctx: int, gguf: Path) -> DocLoRAError | None:
    """Why a context of ``n_ctx`` tokens is too long for the chat model ``gguf`` (longer than
    the window it was trained on), or None (fits, 0, or the file says nothing)."""
    from converters.errors import GGUFError
    from converters.gguf_info import read_gguf_info
    try:
        trained = read_gguf_info(gguf).get("{arch}.context_length")
    except GGUFError:
        return None  # opening the model says what is wrong with the file
    if not n_ctx or not isinstance(trained, int) or n_ctx <= trained:
        return None
    return DocLoRAError(f"n_ctx must be at most {trained}, the context length {gguf.name} was "
                        f"trained on (0 uses all of it), not {n_ctx}.")


def value_text(value: Any) -> str:
    """A setting's value as ``doclora config`` prints it (and ``config set`` reads it back)."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)

