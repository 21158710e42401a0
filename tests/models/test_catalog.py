"""Which pairs exist, which one is active, and use/rm."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.models import active_pair, get_pair, list_pairs, remove_pair, stronger_pair, use_pair
from app.models.catalog import smollm2_pair
from app.models.registry import load_specs
from app.models.errors import BundledPairError, PairNotFoundError, PairNotInstalledError
from app.paths import demo_pair_dir


def fake_user_pair(library, tmp_path, name: str, active: bool = False) -> None:
    """Record a user pair whose files exist (as ``add`` would after its checks), ``active`` or not."""
    folder = tmp_path / name
    (folder / "base").mkdir(parents=True)
    (folder / "base" / "config.json").write_text("{}")
    (folder / "m.gguf").write_bytes(b"GGUF")
    (folder / "hn.bin").write_bytes(b"x")
    library.record_pair(name, folder / "base", folder / "m.gguf", folder / "hn.bin",
                        {"kind": "user"}, active=active)


def test_fresh_library_lists_the_registry_and_uses_the_bundled_pair(library):
    pairs = {p.name: p for p in list_pairs(library)}
    assert list(pairs) == ["tiny-needle", "smollm2-135m", "qwen3-4b", "gemma-2-2b", "mistral-7b"]
    demo = pairs["tiny-needle"]
    assert demo.installed and demo.active and demo.kind == "bundled"
    assert (demo.base_dir, demo.gguf, demo.hypernet) == (
        demo_pair_dir() / "base", demo_pair_dir() / "model.gguf", demo_pair_dir() / "hypernet")
    qwen = pairs["qwen3-4b"]
    assert qwen.facts.recommended and not qwen.facts.gated and not qwen.installed and not qwen.active
    assert qwen.base_repo == "Qwen/Qwen3-4B-Instruct-2507"
    assert qwen.hypernet_repo == "SakanaAI/doc-to-lora"
    assert qwen.hypernet_file == "qwen_4b_d2l/checkpoint-20000/pytorch_model.bin"
    assert qwen.gguf_method == "convert" and qwen.quant == "Q4_K_M"
    assert pairs["gemma-2-2b"].facts.gated and "token" in pairs["gemma-2-2b"].facts.licence
    assert pairs["mistral-7b"].hypernet_file.startswith("mistral_7b_d2l/")
    assert active_pair(library).name == "tiny-needle"


def test_active_pair_order_explicit_then_env_then_library_then_bundled(library, tmp_path, monkeypatch):
    fake_user_pair(library, tmp_path, "mine")
    fake_user_pair(library, tmp_path, "other")
    assert active_pair(library).name == "tiny-needle"
    use_pair(library, "mine")
    assert active_pair(library).name == "mine"
    assert [p.name for p in list_pairs(library) if p.active] == ["mine"]
    monkeypatch.setenv("DOCLORA_MODEL", "other")
    assert active_pair(library).name == "other"
    assert active_pair(library, "tiny-needle").name == "tiny-needle"
    monkeypatch.delenv("DOCLORA_MODEL")
    use_pair(library, "tiny-needle")
    assert active_pair(library).name == "tiny-needle"


def test_unknown_and_missing_pairs_say_what_to_do(library, tmp_path):
    with pytest.raises(PairNotFoundError, match="no model pair named 'nope'; choose one of: "
                                                "tiny-needle, smollm2-135m, qwen3-4b"):
        active_pair(library, "nope")
    with pytest.raises(PairNotInstalledError, match="run 'doclora models pull qwen3-4b'"):
        active_pair(library, "qwen3-4b")
    with pytest.raises(PairNotInstalledError, match="pull qwen3-4b' first"):
        use_pair(library, "qwen3-4b")
    fake_user_pair(library, tmp_path, "mine", active=True)
    (tmp_path / "mine" / "m.gguf").unlink()  # files vanished behind the app's back
    assert not get_pair(library, "mine").installed
    with pytest.raises(PairNotInstalledError, match="'mine' is not installed"):
        active_pair(library)


def test_remove_keeps_user_files_and_never_removes_the_bundled_pair(library, tmp_path):
    with pytest.raises(BundledPairError, match="cannot be removed"):
        remove_pair(library, "tiny-needle")
    with pytest.raises(PairNotInstalledError, match="nothing to remove"):
        remove_pair(library, "qwen3-4b")
    fake_user_pair(library, tmp_path, "mine", active=True)
    remove_pair(library, "mine")
    assert "mine" not in {p.name for p in list_pairs(library)}
    assert (tmp_path / "mine" / "m.gguf").exists()  # the user's own files stay
    assert active_pair(library).name == "tiny-needle"


def test_a_library_that_chose_no_pair_opens_on_the_bundled_smollm2_pair_once_built(library, tmp_path, monkeypatch):
    monkeypatch.delenv("DOCLORA_DEFAULT_MODEL")  # the suite pins the demo pair; this is the product's default
    assert get_pair(library, "smollm2-135m").installed  # make setup built it
    assert active_pair(library).name == "smollm2-135m"
    assert [p.name for p in list_pairs(library) if p.active] == ["smollm2-135m"]
    use_pair(library, "tiny-needle")  # choosing the demo pair is remembered, not taken as "none"
    assert active_pair(library).name == "tiny-needle"
    use_pair(library, "smollm2-135m")
    assert active_pair(library).name == "smollm2-135m"
    library.set_active_pair(None)
    monkeypatch.setattr("app.models.catalog.smollm2_dir", lambda: tmp_path / "not-built")
    assert active_pair(library).name == "tiny-needle"  # before make setup built it: the demo pair


def test_the_stronger_pair_is_offered_while_a_bundled_pair_is_active(library, tmp_path):
    demo = active_pair(library)
    assert stronger_pair(library, demo).name == "qwen3-4b"  # recommended, not installed
    fake_user_pair(library, tmp_path, "mine")
    assert stronger_pair(library, get_pair(library, "mine")) is None  # the user chose their own
    library.record_pair("qwen3-4b", tmp_path / "mine" / "base", tmp_path / "mine" / "m.gguf",
                        tmp_path / "mine" / "hn.bin", {"kind": "registry"}, active=False)
    assert stronger_pair(library, demo) is None  # installed already


README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readmes_first_screen_says_what_the_bundled_pair_can_do_and_what_to_pull():
    first_screen = README.read_text().splitlines()[:12]
    expect = next(line for line in first_screen if line.startswith("**What to expect:**"))
    qwen = load_specs()["qwen3-4b"].facts
    assert smollm2_pair().facts.notes in expect  # the window's line, word for word
    assert f"`doclora models pull qwen3-4b` ({qwen.download_gb:g} GB download)" in expect
    shot = next(line for line in first_screen if line.startswith("!["))
    assert "(docs/screenshot.png)" in shot and "manual page" in shot


def test_the_readmes_links_to_docs_resolve():
    root = README.parent
    for md in (README, root / "docs" / "recipes.md", root / "docs" / "measurements.md"):
        for target in re.findall(r"\]\(([^)#:]+)(?:#([^)]+))?\)", md.read_text()):
            path, anchor = (md.parent / target[0]).resolve(), target[1]
            assert path.exists(), (md.name, target)
            if anchor:
                headings = re.findall(r"^#+ (.+)$", path.read_text(), re.M)
                slugs = {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}
                assert anchor in slugs, (md.name, target)
    assert (root / "docs" / "screenshot.png").stat().st_size < 250_000  # small enough for git
