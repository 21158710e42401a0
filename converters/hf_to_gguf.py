"""HF model folder -> GGUF with llama.cpp's own converter; GGUF -> quantized GGUF."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from converters.errors import ConversionError, GGUFError
from converters.files import atomic_write
from converters.llama_src import llama_cpp_source_dir

OUTTYPES = ("f32", "f16", "bf16", "q8_0")
STDERR_LINES = 6  # how much of the converter's stderr an error quotes


def _check_model_dir(model_dir: Path) -> None:
    """Refuse inputs the converter would turn into a silently wrong GGUF."""
    try:
        config = json.loads((model_dir / "config.json").read_text())
    except FileNotFoundError:
        raise ConversionError(f"{model_dir} has no config.json; pass a Hugging Face model folder.") from None
    except (OSError, ValueError) as exc:
        raise ConversionError(f"{model_dir.name}/config.json is unreadable ({exc}); download the model again.") from exc
    gemma2 = "Gemma2ForCausalLM" in config.get("architectures", [])
    if gemma2 and config.get("tie_word_embeddings", True) is False:
        raise ConversionError(
            f"{model_dir.name} is a Gemma2 model with an untied lm_head, which llama.cpp's converter drops; "
            "only tied Gemma2 models (like the released ones) convert correctly."
        )


def _has_chat_template(model_dir: Path) -> bool:
    if (model_dir / "chat_template.jinja").is_file() or (model_dir / "chat_template.json").is_file():
        return True
    try:
        return bool(json.loads((model_dir / "tokenizer_config.json").read_text()).get("chat_template"))
    except (OSError, ValueError):
        return False


def hf_to_gguf(model_dir: str | Path, out_path: str | Path, outtype: str = "f16") -> Path:
    """Convert a Hugging Face model folder to GGUF (`outtype`: f32, f16, bf16 or q8_0)."""
    import gguf

    from converters.gguf_info import read_gguf_info

    model_dir, out_path = Path(model_dir), Path(out_path)
    if outtype not in OUTTYPES:
        raise ValueError(f"outtype must be one of {', '.join(OUTTYPES)}, not {outtype!r}")
    _check_model_dir(model_dir)
    src = llama_cpp_source_dir()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    # The converter needs its bundled gguf-py, not the PyPI `gguf` this project uses (their APIs
    # differ), so it runs in its own process with gguf-py first on the path.
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(src / "gguf-py"), str(src)]), PYTHONNOUSERSITE="1")
    env.pop("NO_LOCAL_GGUF", None)

    def convert(tmp: Path) -> None:
        cmd = [sys.executable, str(src / "convert_hf_to_gguf.py"), str(model_dir),
               "--outfile", str(tmp), "--outtype", outtype]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=src)
        if proc.returncode != 0 or not tmp.is_file():
            tail = "\n".join(proc.stderr.strip().splitlines()[-STDERR_LINES:])
            raise ConversionError(
                f"llama.cpp's converter could not convert {model_dir.name} (exit {proc.returncode}); "
                f"its last messages:\n{tail}"
            )
        info = read_gguf_info(tmp)  # refuse to publish a file llama.cpp's reader would choke on
        if _has_chat_template(model_dir) and gguf.Keys.Tokenizer.CHAT_TEMPLATE not in info.metadata:
            # without it llama-cpp-python silently chats in the llama-2 [INST] format
            raise ConversionError(f"The converted {model_dir.name} lost its chat template; convert the folder as downloaded.")

    return atomic_write(out_path, convert)


def _ftype(name: str) -> int:
    import llama_cpp

    value = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{name.upper()}", None)
    if value is None:
        known = sorted(k.removeprefix("LLAMA_FTYPE_MOSTLY_") for k in dir(llama_cpp) if k.startswith("LLAMA_FTYPE_MOSTLY_"))
        raise ValueError(f"Unknown quantization {name!r}; use one of {', '.join(known)}.")
    return value


def quantize(gguf_in: str | Path, gguf_out: str | Path, qtype: str = "Q4_K_M", nthread: int = 0) -> Path:
    """Quantize a GGUF model with llama.cpp (`qtype`: Q4_K_M, Q8_0, Q5_K_M, Q6_K, ...)."""
    import llama_cpp

    from converters.gguf_info import read_gguf_info

    gguf_in, gguf_out = Path(gguf_in), Path(gguf_out)
    ftype = _ftype(qtype)
    read_gguf_info(gguf_in)  # a clear GGUFError for a missing or broken input, not a C-level failure
    gguf_out.parent.mkdir(parents=True, exist_ok=True)
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.nthread = nthread

    def quantize_to(tmp: Path) -> None:
        rc = llama_cpp.llama_model_quantize(str(gguf_in).encode(), str(tmp).encode(), params)
        if rc != 0 or not tmp.is_file():
            raise GGUFError(f"llama.cpp could not quantize {gguf_in.name} to {qtype} (code {rc}).")

    return atomic_write(gguf_out, quantize_to)
