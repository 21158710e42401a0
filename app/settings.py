"""What each setting (``app.records.Settings``) accepts, checked in one place.

``checked`` guards ``DocLoRA.configure`` (bad input gets one sentence naming what is valid),
``parsed`` reads the text typed after ``doclora config set``, ``valid_saved`` keeps the saved
values this version accepts, and ``value_text`` writes a value as ``doclora config`` prints it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from app.errors import DocLoRAError
from converters.llama_host import MODES


@dataclass(frozen=True)
class Rule:
    """The values one setting accepts."""

    kind: type  # int, float, bool or str
    low: float | None = None  # the smallest number accepted
    above: bool = False  # ``low`` itself is not accepted
    high: float | None = None  # the largest number accepted
    choices: tuple[str, ...] = ()  # the words accepted
    none: str = ""  # what None means, where None is accepted

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
                text += f" above {self.low:g}" + (f" and at most {self.high:g}"
                                                   if self.high is not None else "")
            elif self.low is not None and self.high is not None:
                text += f" from {self.low:g} to {self.high:g}"
            elif self.low is not None:
                text += f" of at least {self.low:g}"
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


RULES: dict[str, Rule] = {  # in the order of the Settings fields (a test checks)
    "n_ctx": Rule(int, low=0),
    "n_threads": Rule(int, low=1, none="llama.cpp decides"),
    "device": Rule(str, choices=("auto", "cpu", "gpu")),
    "temperature": Rule(float, low=0),
    "max_tokens": Rule(int, low=1),
    "top_k": Rule(int, low=0),
    "top_p": Rule(float, low=0, above=True, high=1),
    "min_p": Rule(float, low=0, high=1),
    "repeat_penalty": Rule(float, low=0, above=True),
    "adapter_cache_size": Rule(int, low=1),
    "max_pages": Rule(int, low=1),
    "max_adapter_rank": Rule(int, low=1, none="adapters stay uncompressed"),
    "max_composed_rank": Rule(int, low=1),
    "compose_focus": Rule(bool),
    "max_chunks": Rule(int, low=1, high=64),
    "cpu_bf16": Rule(bool),
    "llama_extra_bufts": Rule(str, choices=MODES),
}

_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def rule(name: str) -> Rule:
    """The rule of the setting ``name``; DocLoRAError naming every setting when there is none."""
    if name not in RULES:
        raise DocLoRAError(f"There is no setting '{name}'; use one of {', '.join(RULES)}.")
    return RULES[name]


def _refused(name: str, value: Any) -> DocLoRAError:
    return DocLoRAError(f"{name} must be {RULES[name].describe()}, not {value!r}.")


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
        raise _refused(name, text)
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


def value_text(value: Any) -> str:
    """A setting's value as ``doclora config`` prints it (and ``config set`` reads it back)."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)

