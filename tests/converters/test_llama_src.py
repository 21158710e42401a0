"""llama_src: the sdist's converter tree is extracted once, selectively, atomically; offline is a clear error."""

from __future__ import annotations

import io
import tarfile

import pytest

from converters import llama_src
from converters.errors import ConverterUnavailableError


def make_sdist(path, version):
    """A small source distribution laid out like llama-cpp-python's."""
    prefix = f"llama_cpp_python-{version}/"
    files = {
        "vendor/llama.cpp/convert_hf_to_gguf.py": b"print('converter')\n",
        "vendor/llama.cpp/conversion/__init__.py": b"",
        "vendor/llama.cpp/gguf-py/gguf/__init__.py": b"",
        "vendor/llama.cpp/models/ggml-vocab-llama-spm.gguf": b"GGUF",
        "vendor/llama.cpp/models/templates/chatml.jinja": b"{{ messages }}",
        "vendor/llama.cpp/ggml/src/ggml.c": b"int main(){}",
        "llama_cpp/llama.py": b"",
    }
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(prefix + name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_extracts_only_what_the_converter_and_tests_need(tmp_path, monkeypatch):
    version = llama_src.installed_version()
    monkeypatch.delenv("DOCLORA_CACHE", raising=False)  # tests/conftest.py sets it
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv(llama_src.SDIST_ENV, str(make_sdist(tmp_path / "sdist.tar.gz", version)))
    root = llama_src.llama_cpp_source_dir()
    assert root == tmp_path / "cache" / "doclora" / "llama_cpp_src" / f"llama_cpp_python-{version}"
    assert (root / "convert_hf_to_gguf.py").read_text() == "print('converter')\n"
    assert llama_src.vocab_ggufs() == {"llama-spm": root / "models" / "ggml-vocab-llama-spm.gguf"}
    assert (llama_src.chat_templates_dir() / "chatml.jinja").is_file()
    assert not (root / "ggml").exists()
    assert [p.name for p in root.parent.iterdir()] == [root.name]  # no staging folder left
    monkeypatch.setenv(llama_src.SDIST_ENV, str(tmp_path / "deleted.tar.gz"))
    assert llama_src.llama_cpp_source_dir() == root  # cached: the sdist is not needed again


def test_offline_without_cache_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("DOCLORA_CACHE", raising=False)  # tests/conftest.py sets it
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv(llama_src.SDIST_ENV, raising=False)
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # pip behaves as if the package index were unreachable
    monkeypatch.setenv("PIP_FIND_LINKS", "")
    with pytest.raises(ConverterUnavailableError, match=r"Could not download the llama-cpp-python .* source "
                       r"distribution \(needed for the model converter\): .*Connect to the package index once"):
        llama_src.llama_cpp_source_dir()
    assert list((tmp_path / "cache" / "doclora" / "llama_cpp_src").iterdir()) == []


def test_sdist_without_converter_is_refused(tmp_path, monkeypatch):
    monkeypatch.delenv("DOCLORA_CACHE", raising=False)  # tests/conftest.py sets it
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    bad = tmp_path / "bad.tar.gz"
    with tarfile.open(bad, "w:gz") as tar:
        info = tarfile.TarInfo("llama_cpp_python-0/README.md")
        tar.addfile(info, io.BytesIO(b""))
    monkeypatch.setenv(llama_src.SDIST_ENV, str(bad))
    with pytest.raises(ConverterUnavailableError, match="bad.tar.gz has no vendor/llama.cpp/convert_hf_to_gguf.py"):
        llama_src.llama_cpp_source_dir()
