"""pull / add against the fake hub with the real huggingface_hub client (tests/models/conftest.py)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from app.models import active_pair, add_pair, get_pair, list_pairs, pull
from app.models.errors import (
    CorruptDownloadError, DownloadError, HubAccessError, IncompatiblePairError,
    InsufficientDiskError)
from app.models.install import staging_dir
from app.paths import models_dir

GGUF_OK = "someone/Qwen3-tiny-GGUF:qwen3-tiny-F32.gguf"
GGUF_OTHER = "someone/Qwen3-tiny-GGUF:qwen3-other-ffn.gguf"
BASE = "Qwen/Qwen3-4B-Instruct-2507"


def file_gets(hub) -> list[str]:
    return [path for method, path, _ in hub.log if method == "GET" and "/resolve/" in path]


def assert_nothing_installed(library) -> None:
    assert not (models_dir() / "qwen3-4b").exists()
    assert not get_pair(library, "qwen3-4b").installed
    assert active_pair(library).name == "tiny-needle"


@pytest.mark.slow
def test_pull_converts_verifies_installs_and_activates(library, fake_hub):
    events = []
    pair = pull(library, "qwen3-4b", quant="Q8_0", progress=lambda *e: events.append(e))

    root = models_dir() / "qwen3-4b"
    assert pair.installed and pair.active
    assert pair.base_dir == root / "base" and pair.gguf == root / "model.gguf"
    assert pair.hypernet == root / "hypernet" / "qwen_4b_d2l/checkpoint-20000/pytorch_model.bin"
    # The files arrived byte for byte; only the needed ones were fetched.
    served = fake_hub.repos[BASE].files
    assert (pair.base_dir / "model.safetensors").read_bytes() == served["model.safetensors"]
    assert pair.hypernet.read_bytes() == fake_hub.repos["SakanaAI/doc-to-lora"].files[
        "qwen_4b_d2l/checkpoint-20000/pytorch_model.bin"]
    fetched = file_gets(fake_hub)
    assert not any("README" in p or "consolidated" in p or "gemma_2b" in p for p in fetched)
    assert not (pair.base_dir / "README.md").exists()
    # The chat GGUF was converted locally from the base, quantised as asked, and fits the base.
    from converters.gguf_info import read_gguf_info
    info = read_gguf_info(pair.gguf)
    assert info.architecture == "qwen3" and info.n_layers == 4
    assert info.tensors["blk.0.ffn_down.weight"] == (64, 128)
    assert info.get("tokenizer.chat_template")
    # Nothing left in staging; no hub bookkeeping copied into the install.
    assert not staging_dir("qwen3-4b").exists() and not list(root.rglob(".cache"))
    # Recorded in the library with the commits and hashes, and active from now on.
    assert active_pair(library).name == "qwen3-4b"
    source = get_pair(library, "qwen3-4b").source
    assert source["base"]["commit"] == fake_hub.repos[BASE].commit
    assert source["gguf"] == {"method": "convert", "quant": "Q8_0"}
    assert source["files"][f"{BASE}/model.safetensors"] == {
        "commit": fake_hub.repos[BASE].commit, "blob_id": None,
        "sha256": hashlib.sha256(served["model.safetensors"]).hexdigest()}
    wanted = sum(len(data) for name, data in served.items() if name not in
                 ("README.md", "original/consolidated.bin")) + pair.hypernet.stat().st_size
    downloads = [e for e in events if e[0] == "download"]
    assert downloads[-1] == ("download", wanted, wanted)
    assert [e[0] for e in events].index("convert") > events.index(downloads[-1])
    assert ("convert", 2, 2) in events and events[-1] == ("install", 1, 1)
    # A second pull of an installed pair does not touch the hub.
    before = len(fake_hub.log)
    assert pull(library, "qwen3-4b").installed and len(fake_hub.log) == before


def test_interrupted_download_resumes_with_a_range_request(library, fake_hub):
    fake_hub.faults[(BASE, "model.safetensors")] = "drop_once"
    size = len(fake_hub.repos[BASE].files["model.safetensors"])
    with pytest.raises(DownloadError, match="interrupted.*run the same pull again to resume"):
        pull(library, "qwen3-4b", gguf_from=GGUF_OK)
    assert_nothing_installed(library)
    partial = list(staging_dir("qwen3-4b").rglob("*.incomplete"))
    assert len(partial) == 1
    kept = partial[0].stat().st_size
    assert size // 4 < kept <= size // 2  # what arrived before the cut was kept

    pair = pull(library, "qwen3-4b", gguf_from=GGUF_OK)
    assert pair.installed and pair.active
    assert fake_hub.gets("/model.safetensors") == [None, f"bytes={kept}-"]
    assert (pair.base_dir / "model.safetensors").read_bytes() == \
        fake_hub.repos[BASE].files["model.safetensors"]


def test_corrupt_file_is_rejected_and_fetched_again_next_time(library, fake_hub):
    hyper = ("SakanaAI/doc-to-lora", "qwen_4b_d2l/checkpoint-20000/pytorch_model.bin")
    fake_hub.faults[hyper] = "corrupt"
    with pytest.raises(CorruptDownloadError, match="arrived corrupted.*pull qwen3-4b"):
        pull(library, "qwen3-4b", gguf_from=GGUF_OK)
    assert_nothing_installed(library)
    assert not list(staging_dir("qwen3-4b").rglob("pytorch_model.bin"))  # the bad copy is gone

    del fake_hub.faults[hyper]
    pair = pull(library, "qwen3-4b", gguf_from=GGUF_OK)
    assert pair.installed
    assert len(fake_hub.gets("/pytorch_model.bin")) == 2  # fetched again
    assert len(fake_hub.gets("/model.safetensors")) == 1  # the good files were kept


def test_gguf_that_does_not_fit_the_base_is_rejected(library, fake_hub):
    with pytest.raises(IncompatiblePairError,
                       match=r"blk\.0\.ffn_down\.weight is \(64, 96\) but the base config says \(64, 128\)"):
        pull(library, "qwen3-4b", gguf_from=GGUF_OTHER)
    assert_nothing_installed(library)
    assert not (staging_dir("qwen3-4b") / "model.gguf").exists()


def test_gated_repo_needs_a_token_with_access(library, fake_hub, monkeypatch):
    fake_hub.repos[BASE].gated = True
    with pytest.raises(HubAccessError, match="is gated: accept its licence at .*hf auth login"):
        pull(library, "qwen3-4b", gguf_from=GGUF_OK)
    assert file_gets(fake_hub) == []  # refused before downloading anything
    monkeypatch.setenv("HF_TOKEN", "hf_token_without_access")
    with pytest.raises(HubAccessError, match="no access yet: accept its licence"):
        pull(library, "qwen3-4b", gguf_from=GGUF_OK)
    assert_nothing_installed(library)

    monkeypatch.setenv("HF_TOKEN", fake_hub.repos[BASE].token)
    assert pull(library, "qwen3-4b", gguf_from=GGUF_OK).installed


def test_not_enough_disk_space_stops_before_downloading(library, fake_hub, monkeypatch):
    import shutil
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 1000, 1000))
    with pytest.raises(InsufficientDiskError, match=r"needs 0\.0 GB free .* only 0\.0 GB is free"):
        pull(library, "qwen3-4b", gguf_from=GGUF_OK)
    assert file_gets(fake_hub) == []
    assert_nothing_installed(library)


@pytest.mark.slow
def test_add_checks_gguf_and_hypernet_against_the_base(library, tiny_base, make_gguf, parity_dir, tmp_path):
    config = json.loads((tiny_base / "config.json").read_text())
    good, other = make_gguf(config), make_gguf(config, ffn_override=96)
    hypernet = parity_dir / "qwen3_main" / "pytorch_model.bin"  # trained for ffn 128
    other_base = tmp_path / "other-base"  # another model: feed-forward width 96
    other_base.mkdir()
    (other_base / "config.json").write_text(json.dumps({**config, "intermediate_size": 96}))

    with pytest.raises(IncompatiblePairError, match="ffn_down.weight is .64, 96. but"):
        add_pair(library, "mine", tiny_base, other, hypernet)
    with pytest.raises(IncompatiblePairError, match="intermediate 128.*intermediate 96"):
        add_pair(library, "mine", other_base, other, hypernet)  # GGUF fits its base, hypernet does not
    with pytest.raises(IncompatiblePairError, match="name of a registry pair"):
        add_pair(library, "qwen3-4b", tiny_base, good, hypernet)
    with pytest.raises(IncompatiblePairError, match="Hypernetwork checkpoint not found"):
        add_pair(library, "mine", tiny_base, good, tmp_path / "missing.bin")
    assert [p.name for p in list_pairs(library) if p.kind == "user"] == []

    pair = add_pair(library, "mine", tiny_base, good, hypernet, use=True)
    assert pair.installed and pair.kind == "user" and active_pair(library).name == "mine"
    assert [Path(p).resolve() for p in (pair.base_dir, pair.gguf, pair.hypernet)] == [
        p.resolve() for p in (tiny_base, good, hypernet)]


def test_unreachable_hub_says_so_and_changes_nothing(library, fake_hub, monkeypatch):
    import socket
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    with pytest.raises(DownloadError, match=f"Could not reach the hub at http://127.0.0.1:{port}"):
        pull(library, "qwen3-4b")
    assert_nothing_installed(library)


def test_a_second_pull_of_the_same_pair_waits_its_turn(library, fake_hub):
    from filelock import FileLock

    lock = staging_dir("qwen3-4b").with_name("qwen3-4b.lock")
    lock.parent.mkdir(parents=True)
    with FileLock(lock):  # as if another process were pulling qwen3-4b
        with pytest.raises(DownloadError, match="Another pull of qwen3-4b is already running"):
            pull(library, "qwen3-4b", gguf_from=GGUF_OK)
    assert file_gets(fake_hub) == []
    assert pull(library, "qwen3-4b", gguf_from=GGUF_OK).installed


HYPER_REPO, HYPER_FILE = "SakanaAI/doc-to-lora", "qwen_4b_d2l/checkpoint-20000/pytorch_model.bin"


REFUSED = {  # what the hub serves -> what the pull says
    "not a D2L checkpoint": "not a Doc-to-LoRA checkpoint",
    "trained for another base": "intermediate 128.*intermediate 96",
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_a_checkpoint_the_loader_refuses_is_not_installed(library, fake_hub, tmp_path, case):
    import torch

    if case == "not a D2L checkpoint":
        torch.save({"weight": torch.zeros(3)}, tmp_path / "plain.bin")
        fake_hub.repos[HYPER_REPO].files[HYPER_FILE] = (tmp_path / "plain.bin").read_bytes()
    else:  # the base as served is another model (the GGUF is not checked before the hypernetwork)
        config = json.loads(fake_hub.repos[BASE].files["config.json"])
        fake_hub.repos[BASE].files["config.json"] = json.dumps({**config, "intermediate_size": 96}).encode()
    with pytest.raises(IncompatiblePairError, match=f"{HYPER_REPO}/{HYPER_FILE} cannot be used by DocLoRA, so "
                                                    f"nothing was installed: .*{REFUSED[case]}"):
        pull(library, "qwen3-4b", gguf_from=GGUF_OK)
    assert_nothing_installed(library)
    assert not (staging_dir("qwen3-4b") / "model.gguf").exists()  # refused before the GGUF step


def test_chat_template_jinja_is_fetched_when_the_base_has_one(library, fake_hub):
    from transformers import AutoTokenizer

    template = "{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}"
    files = fake_hub.repos[BASE].files
    tok_config = json.loads(files["tokenizer_config.json"])
    del tok_config["chat_template"]  # as in repositories that keep it beside the config
    files["tokenizer_config.json"] = json.dumps(tok_config).encode()
    files["chat_template.jinja"] = template.encode()
    pair = pull(library, "qwen3-4b", gguf_from=GGUF_OK)
    assert (pair.base_dir / "chat_template.jinja").read_text() == template
    assert AutoTokenizer.from_pretrained(pair.base_dir).chat_template == template


def test_pull_records_commits_and_revision_pins_a_repository(library, fake_hub):
    commit = fake_hub.repos[BASE].commit
    with pytest.raises(DownloadError, match=f"{BASE} has no revision 'f00d': check the commit"):
        pull(library, "qwen3-4b", gguf_from=GGUF_OK, revisions={"base": "f00d"})
    with pytest.raises(IncompatiblePairError, match="--revision takes PART=REV with PART one of base, hypernet"):
        pull(library, "qwen3-4b", revisions={"weights": commit})
    assert file_gets(fake_hub) == []
    pull(library, "qwen3-4b", gguf_from=GGUF_OK, revisions={"base": commit})
    source = get_pair(library, "qwen3-4b").source
    assert source["base"] == {"repo": BASE, "revision": commit, "commit": commit}
    assert source["hypernet"]["revision"] == "main"
    assert source["hypernet"]["commit"] == fake_hub.repos[HYPER_REPO].commit
    assert {f["commit"] for k, f in source["files"].items() if k.startswith(BASE)} == {commit}
    assert set(source["files"]) == {f"{BASE}/{n}" for n in fake_hub.repos[BASE].files
                                    if n not in ("README.md", "original/consolidated.bin")} | {
        f"{HYPER_REPO}/{HYPER_FILE}", "someone/Qwen3-tiny-GGUF/qwen3-tiny-F32.gguf"}
    assert all(f"/resolve/{commit}/" in p for p in file_gets(fake_hub) if BASE in p)


def test_a_file_whose_hash_changed_under_the_same_commit_is_refused(library, fake_hub):
    pair = pull(library, "qwen3-4b", gguf_from=GGUF_OK)
    served = fake_hub.repos[BASE].files
    before = served["model.safetensors"]
    served["model.safetensors"] = before[:-1] + bytes([before[-1] ^ 1])  # same commit, other content
    gets = len(file_gets(fake_hub))
    with pytest.raises(DownloadError, match="model.safetensors now has another hash at the same commit"):
        pull(library, "qwen3-4b", gguf_from=GGUF_OK, force=True)
    assert len(file_gets(fake_hub)) == gets  # nothing downloaded
    assert get_pair(library, "qwen3-4b").installed and (pair.base_dir / "model.safetensors").read_bytes() == before
    fake_hub.repos[BASE].commit = "c0ffee" * 6 + "c0ff"  # a new commit may change it
    assert pull(library, "qwen3-4b", gguf_from=GGUF_OK, force=True).installed
