"""Where the two engines run for the ``device`` setting ("auto", "cpu" or "gpu"): the one rule.

"cpu" keeps both on the CPU; otherwise each uses a GPU when its own runtime has one (torch for the
context encoder and hypernetwork, llama.cpp for the chat) and falls back to the CPU.
"""

from __future__ import annotations


def encoder_device(setting: str) -> str:
    """The torch device ("cuda" or "cpu") of the encoder and hypernetwork."""
    from hypernet.device import select_device

    return select_device("cpu" if setting == "cpu" else None)[0].type


def chat_device(setting: str) -> str:
    """Where llama.cpp runs the chat model: "gpu" or "cpu"."""
    from converters.llama import supports_gpu_offload

    return "gpu" if setting != "cpu" and supports_gpu_offload() else "cpu"
