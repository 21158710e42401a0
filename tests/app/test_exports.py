"""app/exports.py: each format writes a whole, valid file (or folder) in one step; a failure leaves
nothing behind and an existing file untouched; bad input is one sentence."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from app import exports
from app.errors import DiskFullError, DocLoRAError, DocumentNotReadyError, ExportError
from app.library import Library
from app.records import Source
from app_helpers import library_state
from hypernet import DocumentAdapter

MODEL = "tiny-needle"


@pytest.fixture
def lib() -> Library:
    library = Library.open()
    yield library
    library.close()


@pytest.fixture
def town(lib, insert_document):
    """A ready document of three pages with one saved exchange."""
    doc_id = insert_document(lib, "Town guide", ["The harbour.", "The number is 4821.", "Pier."])
    lib.add_exchange(doc_id, "What is the number?", "4821",
                     [Source(page=2, snippet="The number is **4821**.", supports=True)])
    return lib.document(doc_id, MODEL)


@pytest.fixture
def out(tmp_path) -> Path:
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


def no_space_left(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def half_then_no_space(self: Path, data: bytes) -> int:
    """Path.write_bytes that writes half the bytes, then finds the disk full."""
    with open(self, "wb") as f:
        f.write(data[: len(data) // 2])
    no_space_left()


def assert_one_sentence(error: Exception) -> None:
    text = str(error)
    assert text.endswith(".") and "\n" not in text and text.count(". ") == 0, text


def test_default_names_come_from_the_title(town, lib, insert_document):
    assert exports.default_name(town, "gguf") == "Town_guide.lora.gguf"
    assert exports.default_name(town, "peft") == "Town_guide-peft"
    assert exports.default_name(town, "markdown") == "Town_guide.chat.md"
    odd = lib.document(insert_document(lib, "Q3 report: draft/2", ["x"]), MODEL)
    assert exports.default_name(odd, "gguf") == "Q3_report_draft_2.lora.gguf"
    symbols = lib.document(insert_document(lib, "***", ["y"]), MODEL)
    assert exports.default_name(symbols, "markdown") == f"document-{symbols.id}.chat.md"


def test_gguf_is_a_copy_of_the_adapter_file(town, lib, out):
    path = exports.export(lib, town, "gguf", out, force=False)
    assert path == out / "Town_guide.lora.gguf"
    assert path.read_bytes() == Path(town.adapter.file).read_bytes()
    assert path.read_bytes()[:4] == b"GGUF"
    assert sorted(out.iterdir()) == [path]  # no temporary left beside it


def test_markdown_is_the_chat_with_its_supporting_pages(town, lib, out):
    path = exports.export(lib, town, "markdown", out / "chat.md", force=False)
    assert path.read_text() == (
        "# Town guide\n"
        "\n"
        "Chat with `Town guide.pdf` (3 pages).\n"
        "\n"
        "**You:** What is the number?\n"
        "\n"
        "**DocLoRA:** 4821\n"
        "\n"
        "> Supporting pages:\n"
        "> p. 2: The number is **4821**.\n")
    assert sorted(out.iterdir()) == [path]


def test_markdown_says_when_no_page_holds_an_answer(town, lib, out):
    lib.add_exchange(town.id, "What is the number?", "Jikere",
                     [Source(page=2, snippet="The **number** is 4821.")])  # a keyword hit
    text = exports.export(lib, town, "markdown", out, force=False).read_text()
    assert text.endswith("**DocLoRA:** Jikere\n\n> No page contains this answer.\n"
                         "> Pages matching your question:\n> p. 2: The **number** is 4821.\n")


def test_peft_folder_holds_the_config_and_the_lora_tensors(town, lib, out):
    A = torch.arange(2 * 3 * 4, dtype=torch.float32).reshape(2, 3, 4)
    B = -torch.arange(2 * 3 * 5, dtype=torch.float32).reshape(2, 3, 5)
    DocumentAdapter(A=A, B=B, alpha=2.0, n_chunks=1, layer_indices=[0, 1]).save(
        town.adapter.peft_file)
    folder = exports.export(lib, town, "peft", out, force=False)
    assert folder == out / "Town_guide-peft" and sorted(p.name for p in out.iterdir()) == [folder.name]
    assert sorted(p.name for p in folder.iterdir()) == ["adapter_config.json",
                                                        "adapter_model.safetensors"]
    config = json.loads((folder / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA" and config["r"] == 3 and config["lora_alpha"] == 3
    assert config["target_modules"] == ["down_proj"]
    tensors = load_file(folder / "adapter_model.safetensors")
    for layer in (0, 1):
        name = f"base_model.model.model.layers.{layer}.mlp.down_proj"
        torch.testing.assert_close(tensors[f"{name}.lora_A.weight"], A[layer])
        torch.testing.assert_close(tensors[f"{name}.lora_B.weight"], 2.0 * B[layer].T)
    assert len(tensors) == 4


@pytest.mark.parametrize("format", ["gguf", "markdown"])
def test_a_full_disk_leaves_no_partial_file(town, lib, out, monkeypatch, format):
    before = library_state()
    monkeypatch.setattr(Path, "write_bytes", half_then_no_space)
    with pytest.raises(DiskFullError) as info:
        exports.export(lib, town, format, out, force=False)
    assert str(info.value) == (f"The disk holding {out} is full; nothing was exported. Free some space "
                               "and try again.")
    assert list(out.iterdir()) == []
    assert library_state() == before


@pytest.mark.parametrize("format", ["gguf", "markdown"])
def test_a_failed_overwrite_keeps_the_old_file(town, lib, out, monkeypatch, format):
    kept = out / "kept"
    kept.write_bytes(b"mine")
    monkeypatch.setattr(Path, "write_bytes", half_then_no_space)
    with pytest.raises(DiskFullError):
        exports.export(lib, town, format, kept, force=True)
    assert kept.read_bytes() == b"mine" and list(out.iterdir()) == [kept]


def test_a_failed_peft_export_leaves_no_folder(town, lib, out, monkeypatch):
    DocumentAdapter(A=torch.ones(1, 2, 4), B=torch.ones(1, 2, 5), alpha=1.0, n_chunks=1,
                    layer_indices=[0]).save(town.adapter.peft_file)

    def config_then_no_space(self, out_dir):
        Path(out_dir).mkdir()
        (Path(out_dir) / "adapter_config.json").write_text("{}")
        no_space_left()

    monkeypatch.setattr(DocumentAdapter, "save_peft", config_then_no_space)
    with pytest.raises(DiskFullError):
        exports.export(lib, town, "peft", out, force=False)
    assert list(out.iterdir()) == []


def test_a_file_that_appears_meanwhile_is_not_replaced(town, lib, out, monkeypatch):
    target = out / "chat.md"
    real = exports.chat_markdown

    def someone_else_writes_first(library, doc):
        target.write_text("theirs")
        return real(library, doc)

    monkeypatch.setattr(exports, "chat_markdown", someone_else_writes_first)
    with pytest.raises(ExportError) as info:
        exports.export(lib, town, "markdown", target, force=False)
    assert str(info.value) == f"{target} already exists; add --force to overwrite it, or choose another name."
    assert target.read_text() == "theirs" and list(out.iterdir()) == [target]


def test_bad_requests_are_one_sentence_and_write_nothing(town, lib, out, tmp_path):
    (out / "Town_guide-peft").mkdir()
    (out / "Town_guide.lora.gguf").write_bytes(b"mine")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    cases = [  # (format, out, force, the message)
        ("pdf", out, False, "Unknown export format 'pdf'; use one of gguf, peft, markdown."),
        ("gguf", tmp_path / "missing" / "x.gguf", False,
         f"The folder {tmp_path / 'missing'} does not exist; create it or pick another."),
        ("gguf", out, False, f"{out / 'Town_guide.lora.gguf'} already exists; add --force to "
                             "overwrite it, or choose another name."),
        ("peft", out, True,
         f"{out / 'Town_guide-peft'} already exists; remove it or choose another name."),
    ]
    for format, target, force, message in cases:
        with pytest.raises(ExportError) as info:
            exports.export(lib, town, format, target, force=force)
        assert str(info.value) == message
        assert_one_sentence(info.value)
    with pytest.raises(ExportError, match=r"^The folder .*a-file/sub cannot be created \(") as info:
        exports.export(lib, town, "gguf", f"{blocker}/sub/", force=False)
    assert_one_sentence(info.value)
    assert sorted(p.name for p in out.iterdir()) == ["Town_guide-peft", "Town_guide.lora.gguf"]
    assert not list((out / "Town_guide-peft").iterdir())
    assert (out / "Town_guide.lora.gguf").read_bytes() == b"mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "out"]


def test_force_never_replaces_a_folder(town, lib, out):
    (out / "Town_guide.lora.gguf" / "inside").mkdir(parents=True)
    with pytest.raises(ExportError) as info:
        exports.export(lib, town, "gguf", out, force=True)
    assert str(info.value) == f"{out / 'Town_guide.lora.gguf'} is a folder; remove it or choose another name."
    assert [p.name for p in (out / "Town_guide.lora.gguf").iterdir()] == ["inside"]


def test_an_adapter_export_without_the_adapter_file_says_how_to_fix_it(town, lib, out):
    Path(town.adapter.file).unlink()
    for format in ("gguf", "peft"):
        with pytest.raises(DocumentNotReadyError) as info:
            exports.export(lib, town, format, out, force=False)
        assert str(info.value) == ("'Town guide' has no adapter for the active model to export; "
                                   "add the file again first.")
    assert isinstance(info.value, DocLoRAError) and list(out.iterdir()) == []
    # the chat needs no adapter
    assert exports.export(lib, town, "markdown", out, force=False).name == "Town_guide.chat.md"
