"""Device and dtype choice: CUDA + bf16 when present, else CPU + float32; both overridable."""

from __future__ import annotations

import importlib.util

import torch

_DTYPES = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
           "float16": torch.float16, "fp16": torch.float16}  # fmt: skip


def select_device(
    device: str | torch.device | None = None, dtype: str | torch.dtype | None = None, cuda_available: bool | None = None
) -> tuple[torch.device, torch.dtype]:
    """(device, dtype): explicit values win; otherwise cuda/bf16 when CUDA is available, else cpu/float32."""
    if cuda_available is None:
        cuda_available = torch.cuda.is_available()
    dev = torch.device(device) if device is not None else torch.device("cuda" if cuda_available else "cpu")
    if dtype is None:
        return dev, torch.bfloat16 if dev.type == "cuda" else torch.float32
    if isinstance(dtype, str):
        if dtype not in _DTYPES:
            raise ValueError(f"Unknown dtype {dtype!r}; use one of {sorted(_DTYPES)}.")
        dtype = _DTYPES[dtype]
    return dev, dtype


def use_4bit_encoder(requested: bool | None, recorded: bool, device: torch.device) -> bool:
    """Whether to load the context encoder in 4-bit NF4: needs CUDA and bitsandbytes.

    requested None follows the checkpoint's recipe when possible; True without CUDA/bitsandbytes
    raises, so that a user who asked for it learns why it did not happen.
    """
    possible = device.type == "cuda" and importlib.util.find_spec("bitsandbytes") is not None
    if requested and not possible:
        raise ValueError("A 4-bit context encoder needs a CUDA device and the bitsandbytes package.")
    return possible and (recorded if requested is None else requested)


def quantization_config(compute_dtype: torch.dtype):
    """The released recipe's bitsandbytes NF4 config (imported lazily: bitsandbytes is optional)."""
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=compute_dtype)


def cpu_has_native_bf16() -> bool:
    """True when the CPU computes bf16 natively (AVX512-BF16 or AMX-BF16): bf16 autocast then runs
    torch's matmuls 2-6x faster than float32; elsewhere bf16 is emulated and slower."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="ignore") as f:
            flags = next((ln for ln in f if ln.startswith("flags")), "").split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags
