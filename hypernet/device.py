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


def encoder_quantization(requested: bool | None, recorded: bool, device: torch.device) -> str | None:
    """How the context encoder is quantized: "bitsandbytes" (CUDA with bitsandbytes installed),
    "nf4" (the same NF4 round trip of the weights in plain torch, see hypernet.nf4) or None.

    requested None follows the checkpoint's recipe (`recorded`, the released checkpoints' 4-bit
    encoder); True or False overrides it.
    """
    if not (recorded if requested is None else requested):
        return None
    if device.type == "cuda" and importlib.util.find_spec("bitsandbytes") is not None:
        return "bitsandbytes"
    return "nf4"


# The released recipe's bitsandbytes settings (reference model_loading.get_model, use_q_lora).
BNB_4BIT = {"load_in_4bit": True, "bnb_4bit_quant_type": "nf4", "bnb_4bit_use_double_quant": True,
            "bnb_4bit_compute_dtype": torch.bfloat16}  # fmt: skip


def quantization_config():
    """A transformers BitsAndBytesConfig of BNB_4BIT (bitsandbytes is the optional `cuda` extra)."""
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(**BNB_4BIT)


def cpu_has_native_bf16() -> bool:
    """True when the CPU computes bf16 natively (AVX512-BF16 or AMX-BF16): bf16 autocast then runs
    torch's matmuls 2-6x faster than float32; elsewhere bf16 is emulated and slower."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="ignore") as f:
            flags = next((ln for ln in f if ln.startswith("flags")), "").split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags
