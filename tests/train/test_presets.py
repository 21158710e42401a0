"""The whole recipe (corpus, tokenizer, stage 1, GGUF, stage 2, long-document fine-tune) runs end to end."""

from __future__ import annotations

import json

from hypernet import load_hypernet
from hypernet.train.presets import run_preset


def test_smoke_preset_builds_a_loadable_pair_and_resumes(tmp_path):
    out = tmp_path / "pair"
    logs: list[str] = []
    run_preset("smoke", out, log=logs.append)
    for f in ("base/model.safetensors", "model.gguf", "heldout.txt", "hypernet/model.safetensors"):
        assert (out / f).is_file(), f
    # the published hypernet is the long-document fine-tune, started from stage 2's weights
    recorded = json.loads((out / "hypernet" / "training_config.json").read_text())
    assert recorded["init_from"] == str(out / "work" / "hypernet")
    hn = load_hypernet(out / "hypernet")
    adapter = hn.internalize("The special magic number is 4821. " * 20)
    assert adapter.n_chunks >= 1 and adapter.rank == 8 * (adapter.n_chunks + 1)
    # a second run finds every stage done and trains nothing
    logs.clear()
    run_preset("smoke", out, log=logs.append)
    assert sum("skipped" in m for m in logs) == 7, logs
