"""Allow-listing loader for the reference `pytorch_model.bin` (torch.save zip + pickle).

Only torch's tensor/storage rebuild machinery, OrderedDict, set, and stand-ins for the reference's
five config classes may be named by the pickle; any other global raises UnsafeCheckpointError
before anything is constructed, so no foreign code runs. This holds for every format torch.load
accepts: the zip format, the legacy (non-zip) format and a raw pickle both go through the
allow-listing unpickler (torch's legacy loader calls ``pickle_module.load`` too), a safetensors
file holds no code at all, and a TorchScript archive (which torch would hand to ``torch.jit.load``)
is refused outright.
"""

from __future__ import annotations

import collections
import pickle
import types
import zipfile
from pathlib import Path

import torch

from hypernet.errors import CheckpointFormatError, UnsafeCheckpointError


class _Stand:
    """Stand-in for a pickled dataclass: keeps its fields as attributes."""

    def __setstate__(self, state):  # BUILD with a dict, or (dict, slots) for slotted classes
        self.__dict__.update(state if isinstance(state, dict) else state[0])

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.__dict__})"


class HypernetConfigState(_Stand):
    pass


class AggregatorConfigState(_Stand):
    pass


class CtxEncoderArgsState(_Stand):
    pass


class LoraConfigState(_Stand):
    pass


class LoraRuntimeConfigState(_Stand):
    pass


def _enum_value(value):
    """Stand-in for peft's str enums (PeftType('LORA') -> 'LORA')."""
    return value


_STAND_INS = {
    ("ctx_to_lora.modeling.hypernet", "HypernetConfig"): HypernetConfigState,
    ("ctx_to_lora.modeling.aggregator", "AggregatorConfig"): AggregatorConfigState,
    ("ctx_to_lora.configs", "CtxEncoderArguments"): CtxEncoderArgsState,
    ("peft.tuners.lora.config", "LoraConfig"): LoraConfigState,
    ("peft.tuners.lora.config", "LoraRuntimeConfig"): LoraRuntimeConfigState,
    ("peft.utils.peft_types", "PeftType"): _enum_value,
    ("peft.utils.peft_types", "TaskType"): _enum_value,
}

_ALLOWED = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,
    ("__builtin__", "set"): set,
    ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
    ("torch._utils", "_rebuild_tensor"): torch._utils._rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,
}
_STORAGES = {"FloatStorage", "DoubleStorage", "HalfStorage", "BFloat16Storage", "LongStorage", "IntStorage",
             "ShortStorage", "CharStorage", "ByteStorage", "BoolStorage"}  # fmt: skip


class _AllowListUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        key = (module, name)
        if key in _STAND_INS:
            return _STAND_INS[key]
        if key in _ALLOWED:
            return _ALLOWED[key]
        if module == "torch" and name in _STORAGES:
            return getattr(torch, name)
        raise UnsafeCheckpointError(
            f"Refusing to load the checkpoint: it pickles '{module}.{name}', which is not an allowed class "
            "(only tensors and the Doc-to-LoRA config classes are); use a checkpoint from a trusted source."
        )


def _allow_list_load(file, **kwargs):
    """``pickle.load`` through the allow-list (torch's legacy format reads several pickles)."""
    return _AllowListUnpickler(file, **kwargs).load()


# What torch.load gets as ``pickle_module``: both entry points it uses are allow-listing.
_pickle_module = types.ModuleType("doclora_allowlist_pickle")
_pickle_module.Unpickler = _AllowListUnpickler
_pickle_module.load = _allow_list_load


def _refuse_torchscript(path: Path) -> None:
    """torch.load hands a TorchScript archive to torch.jit.load, past our unpickler: refuse it."""
    if not zipfile.is_zipfile(path):
        return
    with zipfile.ZipFile(path) as archive:
        if any(name.endswith("constants.pkl") for name in archive.namelist()):
            raise UnsafeCheckpointError(
                f"Refusing to load {path.name}: it is a TorchScript archive, not a Doc-to-LoRA "
                "checkpoint; use a checkpoint from a trusted source."
            )


def load_reference_state(path: str | Path) -> dict:
    """Load a reference `pytorch_model.bin` onto the CPU with the allow-listing unpickler."""
    path = Path(path)
    try:
        _refuse_torchscript(path)
        return torch.load(path, map_location="cpu", weights_only=False, pickle_module=_pickle_module)
    except UnsafeCheckpointError:
        raise
    except Exception as exc:  # torch raises RuntimeError / pickle errors / zip errors for damaged files
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, UnsafeCheckpointError):
            raise cause from None
        raise CheckpointFormatError(
            f"Could not read the checkpoint {path} ({type(exc).__name__}: {exc}); it is damaged or not a "
            "Doc-to-LoRA pytorch_model.bin: download it again."
        ) from exc
