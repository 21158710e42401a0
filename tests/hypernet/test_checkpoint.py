"""Checkpoint loading: reference pytorch_model.bin (allow-listed unpickling) and our folder format."""

from __future__ import annotations

import os
import pickle
import shutil
import sys
import types
from pathlib import Path

import pytest
import torch

from hypernet import CheckpointFormatError, UnsafeCheckpointError, load_hypernet
from hypernet import unpickler
from hypernet.checkpoint import load_checkpoint, save_checkpoint
from hypernet.model import HypernetConfig, HypernetModel
from hypernet.unpickler import load_reference_state

REFERENCE_NAMES = {
    unpickler.HypernetConfigState: ("ctx_to_lora.modeling.hypernet", "HypernetConfig"),
    unpickler.AggregatorConfigState: ("ctx_to_lora.modeling.aggregator", "AggregatorConfig"),
    unpickler.CtxEncoderArgsState: ("ctx_to_lora.configs", "CtxEncoderArguments"),
    unpickler.LoraConfigState: ("peft.tuners.lora.config", "LoraConfig"),
    unpickler.LoraRuntimeConfigState: ("peft.tuners.lora.config", "LoraRuntimeConfig"),
}


def save_reference_like(state: dict, path: Path) -> Path:
    """torch.save `state` so that its config objects pickle under the reference's class names."""
    saved = {cls: (cls.__module__, cls.__qualname__) for cls in REFERENCE_NAMES}
    with pytest.MonkeyPatch.context() as mp:
        try:
            for cls, (module, name) in REFERENCE_NAMES.items():
                parts = module.split(".")
                for i in range(1, len(parts) + 1):  # the package chain must be importable for pickle
                    mod = ".".join(parts[:i])
                    if mod not in sys.modules:
                        mp.setitem(sys.modules, mod, types.ModuleType(mod))
                mp.setattr(sys.modules[module], name, cls, raising=False)
                cls.__module__, cls.__qualname__ = module, name
            torch.save(state, path)
        finally:
            for cls, (module, name) in saved.items():
                cls.__module__, cls.__qualname__ = module, name
    return path


class Evil:
    """Unpickling this would run a shell command."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_reference_checkpoint_config_is_translated(parity_dir):
    ck = load_checkpoint(parity_dir / "qwen3_niah")
    c = ck.config
    assert (c.n_layers, c.base_hidden_size, c.d_in, c.d_out) == (4, 64, 128, 64)
    assert (c.encoder_type, c.early_exit_layer, c.n_latent_queries, c.num_blocks, c.n_out) == ("early_exit", 1, 208, 8, 32)
    assert (c.rank, c.latent_size, c.num_pre_head_layers, c.use_bias) == (8, 8, 1, True)
    assert c.lora_alpha == pytest.approx(45.254833995939045)
    assert ck.base_model_name_or_path == "base_model"
    main = load_checkpoint(parity_dir / "gemma2_main" / "pytorch_model.bin").config
    assert (main.encoder_type, main.n_latent_queries, main.num_blocks, main.n_out) == ("per_layer_activations", 8, 9, 8)


def test_foreign_class_is_refused_without_running_it(parity_dir, tmp_path):
    marker = tmp_path / "pwned"
    state = load_reference_state(parity_dir / "qwen3_main" / "pytorch_model.bin")
    state["payload"] = Evil(marker)
    bad = save_reference_like(state, tmp_path / "pytorch_model.bin")
    with pytest.raises(UnsafeCheckpointError, match="posix.system|os.system|system"):
        load_hypernet(bad, base_model=parity_dir / "qwen3_main" / "base_model")
    assert not marker.exists(), "the pickled os.system call ran"


def _zip_save(obj, path):
    torch.save(obj, path)


def _legacy_save(obj, path):
    torch.save(obj, path, _use_new_zipfile_serialization=False)


def _raw_pickle(obj, path):
    path.write_bytes(pickle.dumps(obj))


FORMATS = [("zip", _zip_save), ("legacy", _legacy_save), ("raw-pickle", _raw_pickle)]


@pytest.mark.parametrize("save", [f[1] for f in FORMATS], ids=[f[0] for f in FORMATS])
def test_every_pickle_format_goes_through_the_allow_list(tmp_path, save):
    marker = tmp_path / "pwned"
    save({"step": 1, "payload": Evil(marker)}, tmp_path / "pytorch_model.bin")
    with pytest.raises(UnsafeCheckpointError, match="system"):
        load_checkpoint(tmp_path)
    assert not marker.exists(), "the pickled os.system call ran"


def test_a_legacy_torch_file_with_only_allowed_classes_still_loads(tmp_path):
    _legacy_save({"w": torch.arange(3.0)}, tmp_path / "legacy.bin")
    assert torch.equal(load_reference_state(tmp_path / "legacy.bin")["w"], torch.arange(3.0))


def test_torchscript_and_safetensors_files_are_not_checkpoints(tmp_path):
    script = torch.jit.script(torch.nn.Linear(2, 2))
    torch.jit.save(script, tmp_path / "script.bin")
    with pytest.raises(UnsafeCheckpointError, match="TorchScript archive"):
        load_checkpoint(tmp_path / "script.bin")
    from safetensors.torch import save_file
    save_file({"w": torch.zeros(2)}, tmp_path / "weights.safetensors")
    with pytest.raises(CheckpointFormatError, match="not a Doc-to-LoRA checkpoint"):
        load_checkpoint(tmp_path / "weights.safetensors")


def test_builtin_eval_is_refused(tmp_path):
    class EvalCall:
        def __reduce__(self):
            return (eval, ("1 + 1",))

    torch.save({"x": EvalCall()}, tmp_path / "pytorch_model.bin")
    with pytest.raises(UnsafeCheckpointError, match="_builtin__.eval"):
        load_checkpoint(tmp_path)


def test_orig_mod_prefix_and_checkpoint_step_folder(parity_dir, tmp_path):
    src = parity_dir / "qwen3_main"
    state = load_reference_state(src / "pytorch_model.bin")
    prefixed = {(f"_orig_mod.{k}" if isinstance(v, torch.Tensor) else k): v for k, v in state.items()}
    run = tmp_path / "run"
    for step in (100, 2000):
        (run / f"checkpoint-{step}").mkdir(parents=True)
        save_reference_like(prefixed, run / f"checkpoint-{step}" / "pytorch_model.bin")
    shutil.copytree(src / "base_model", run / "checkpoint-2000" / "base_model")
    ck = load_checkpoint(run)
    assert ck.folder == run / "checkpoint-2000"
    assert not any(k.startswith("_orig_mod.") for k in ck.state_dict)
    ref = load_checkpoint(src)
    assert all(torch.equal(ck.state_dict[k], ref.state_dict[k]) for k in ref.state_dict)
    hn = load_hypernet(run, device="cpu")  # the relative base path resolves against checkpoint-2000/
    assert hn.base_model_path == (run / "checkpoint-2000" / "base_model").resolve()


def test_damaged_or_wrong_files_give_clear_errors(tmp_path):
    with pytest.raises(CheckpointFormatError, match="No hypernetwork checkpoint"):
        load_checkpoint(tmp_path / "missing")
    with pytest.raises(CheckpointFormatError, match="holds no hypernetwork checkpoint"):
        load_checkpoint(tmp_path)
    (tmp_path / "pytorch_model.bin").write_bytes(b"not a zip at all")
    with pytest.raises(CheckpointFormatError, match="damaged"):
        load_checkpoint(tmp_path)
    torch.save({"just": torch.zeros(2)}, tmp_path / "pytorch_model.bin")
    with pytest.raises(CheckpointFormatError, match="not a Doc-to-LoRA checkpoint"):
        load_checkpoint(tmp_path)


def test_our_format_round_trip(tmp_path):
    cfg = HypernetConfig(n_layers=2, base_hidden_size=16, d_in=32, d_out=16, latent_size=8, n_heads=2, head_dim=4,
                         n_kv_heads=1, num_blocks=1, early_exit_layer=None)  # fmt: skip
    torch.manual_seed(0)
    model = HypernetModel(cfg)
    out = save_checkpoint(tmp_path / "hn", model, cfg, "../base")
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model.safetensors"]
    ck = load_checkpoint(out)
    assert ck.config == cfg and ck.base_model_name_or_path == "../base"
    loaded = ck.build_model()
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.state_dict().values()))
    first_id = ck.hypernet_id
    with torch.no_grad():
        model.head.weight.add_(1.0)
    save_checkpoint(out, model, cfg, "../base")
    assert load_checkpoint(out).hypernet_id != first_id
