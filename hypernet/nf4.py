"""NF4 quantize -> dequantize of weights in plain torch (the released recipes' 4-bit encoder).

The reference encodes documents with a bitsandbytes NF4 copy of the base (double quantization,
bf16 compute). Where bitsandbytes cannot run (CPU, CUDA without it) the encoder's Linear weights
are replaced by the values bitsandbytes would compute with, following its public scheme:
- NormalFloat4 (QLoRA): 16 values, quantiles of N(0, 1) scaled to [-1, 1], exactly 0 included;
- blocks of 64 consecutive weights (row-major), each divided by its absmax and rounded to the
  nearest NF4 value (ties to the lower one);
- double quantization: the absmaxes, less their mean, quantized again in blocks of 256 with the
  signed 8-bit dynamic map; dequantized absmax = map value * block absmax + mean;
- weights are stored in bf16 before quantizing, and the dequantized values rounded to bf16.
"""

from __future__ import annotations

import torch
from torch import nn

# bitsandbytes' NF4 table (QLoRA appendix E), index 0..15.
NF4_CODE = torch.tensor([
    -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
    -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
    0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
    0.7229568362236023, 1.0,
])  # fmt: skip
BLOCK_SIZE = 64  # weights per NF4 absmax (bitsandbytes' default for 4-bit)
ABSMAX_BLOCK_SIZE = 256  # absmaxes per 8-bit block in double quantization


def dynamic_code() -> torch.Tensor:
    """The signed 8-bit dynamic map of bitsandbytes (256 sorted values in [-1, 1]).

    Exponent levels 1e-6 .. 1e0; level i holds 2**i magnitudes (the midpoints of
    linspace(0.1, 1, 2**i + 1) times 10**(i - 6)), each with both signs; plus 0 and 1.
    Computed in float32 as bitsandbytes does, so that the values agree to the bit.
    """
    values = [0.0, 1.0]
    for i in range(7):
        edges = torch.linspace(0.1, 1, 2**i + 1)
        mids = (edges[:-1] + edges[1:]) / 2 * 10 ** (i - 6)
        values += mids.tolist() + (-mids).tolist()
    return torch.tensor(sorted(values), dtype=torch.float32)


_DYNAMIC_CODE = dynamic_code()


def quantize_blockwise(x: torch.Tensor, code: torch.Tensor, block: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(index of the nearest `code` value per element, float32 absmax per block) of flat `x`.

    The last block may be shorter; an all-zero block has absmax 0 and quantizes to code value 0.
    """
    flat, code = x.reshape(-1).float(), code.to(x.device)
    n = flat.numel()
    blocks = torch.nn.functional.pad(flat, (0, -n % block)).view(-1, block)  # zeros leave absmax as is
    absmax = blocks.abs().amax(dim=1)
    scaled = (blocks * (1.0 / absmax.clamp(min=1e-38))[:, None]).clamp(-1, 1)
    idx = torch.bucketize(scaled, (code[:-1] + code[1:]) / 2, out_int32=True)
    return idx.view(-1)[:n], absmax


def dequantize_blockwise(idx: torch.Tensor, absmax: torch.Tensor, code: torch.Tensor, block: int) -> torch.Tensor:
    """Flat float32 values code[idx] * absmax of their block (the inverse of quantize_blockwise)."""
    n = idx.numel()
    values = torch.nn.functional.pad(code.to(idx.device)[idx.long()], (0, -n % block)).view(-1, block)
    return (values * absmax[:, None]).view(-1)[:n]


def nf4_roundtrip(weight: torch.Tensor, storage_dtype: torch.dtype = torch.bfloat16,
                  double_quant: bool = True) -> torch.Tensor:
    """`weight` after bitsandbytes-style NF4 quantization and dequantization, in weight's dtype.

    storage_dtype: the dtype the weights had when quantized and the dequantized values get
    (bf16 in the released recipes).
    """
    stored = weight.detach().to(storage_dtype)
    idx, absmax = quantize_blockwise(stored, NF4_CODE, BLOCK_SIZE)
    if double_quant:
        offset = absmax.mean()
        qidx, absmax2 = quantize_blockwise(absmax - offset, _DYNAMIC_CODE, ABSMAX_BLOCK_SIZE)
        absmax = dequantize_blockwise(qidx, absmax2, _DYNAMIC_CODE, ABSMAX_BLOCK_SIZE) + offset
    out = dequantize_blockwise(idx, absmax, NF4_CODE, BLOCK_SIZE).to(storage_dtype)
    return out.view(weight.shape).to(weight.dtype)


@torch.no_grad()
def nf4_roundtrip_linears_(model: nn.Module, storage_dtype: torch.dtype = torch.bfloat16) -> int:
    """Replace, in place, the weight of every nn.Linear in `model` (except an LM head, which
    bitsandbytes leaves unquantized) by its NF4 round trip; returns how many were replaced."""
    count = 0
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear) and name.rsplit(".", 1)[-1] != "lm_head":
            module.weight.copy_(nf4_roundtrip(module.weight, storage_dtype))
            count += 1
    return count
