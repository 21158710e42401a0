"""Base model resolution, compatibility check and fingerprint."""

from __future__ import annotations

import shutil

import pytest
from hn_testlib import save_tiny_base

from hypernet import BaseModelMismatchError, BaseModelNotFoundError, load_hypernet
from hypernet.base_model import base_fingerprint, resolve_base_model


def test_mismatched_base_is_refused_naming_both(parity_dir, tmp_path):
    other = save_tiny_base(tmp_path / "three-layer-qwen", "qwen3", layers=3, hidden=64, intermediate=128)
    with pytest.raises(BaseModelMismatchError) as err:
        load_hypernet(parity_dir / "qwen3_main", base_model=other)
    msg = str(err.value)
    assert "base_model (4 layers, hidden 64, intermediate 128)" in msg
    assert "three-layer-qwen" in msg and "3 layers, hidden 64, intermediate 128" in msg
    wider = save_tiny_base(tmp_path / "wide", "qwen3", layers=4, hidden=64, intermediate=256)
    with pytest.raises(BaseModelMismatchError, match="intermediate 256"):
        load_hypernet(parity_dir / "qwen3_main", base_model=wider)


def test_unknown_hub_id_offline_is_a_clear_error(parity_dir):
    with pytest.raises(BaseModelNotFoundError, match="not in the local Hugging Face cache"):
        load_hypernet(parity_dir / "qwen3_main", base_model="no-such-org/no-such-model-xyz")


def test_resolution_rules(parity_dir, tmp_path):
    folder = parity_dir / "qwen3_main"
    assert resolve_base_model("base_model", folder) == (folder / "base_model").resolve()
    assert resolve_base_model("ignored", folder, override=folder / "base_model") == (folder / "base_model").resolve()
    with pytest.raises(BaseModelNotFoundError, match="does not exist"):
        resolve_base_model("../missing/base", folder)
    with pytest.raises(BaseModelNotFoundError, match="records no base model"):
        resolve_base_model("", folder)


def test_fingerprint_tracks_structure_not_location(tmp_path):
    a = save_tiny_base(tmp_path / "a", "llama", seed=0)
    b = save_tiny_base(tmp_path / "b", "llama", seed=1)  # other weights, same shapes
    shutil.copytree(a, tmp_path / "a_copy")
    c = save_tiny_base(tmp_path / "c", "llama", layers=5)
    assert base_fingerprint(a) == base_fingerprint(b) == base_fingerprint(tmp_path / "a_copy")
    assert base_fingerprint(a) != base_fingerprint(c)


def test_a_hypernet_for_the_last_layers_fits_any_base_that_deep_with_its_sizes():
    from hypernet.base_model import check_compatible
    from hypernet.model import HypernetConfig

    cfg = HypernetConfig(n_layers=2, layer_indices=[2, 3], base_hidden_size=64, d_in=128, d_out=64,
                         encoder_type="early_exit", early_exit_layer=1)
    sizes = {"hidden_size": 64, "intermediate_size": 128}
    check_compatible(cfg, {"num_hidden_layers": 4, **sizes}, "four", "hn", "four")  # 2 LoRA layers of 4: fine
    with pytest.raises(BaseModelMismatchError, match=r"\(at least 4 layers, hidden 64.*has 3 layers"):
        check_compatible(cfg, {"num_hidden_layers": 3, **sizes}, "three", "hn", "four")
