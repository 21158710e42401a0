"""The pair's adapter scale: chosen from held-out losses (hypernet.train.calibrate), recorded in the
hypernetwork's config.json and read back (hypernet.checkpoint.adapter_scale)."""

from __future__ import annotations

import json

import pytest

from hypernet import CheckpointFormatError
from hypernet.checkpoint import adapter_scale
from hypernet.train.calibrate import best_scale, recorded_scale


def test_the_scale_of_the_lowest_loss_is_chosen():
    assert best_scale({0.0: 3.0, 0.25: 2.9, 0.5: 2.7, 0.75: 2.8, 1.0: 2.95}) == 0.5


def test_an_adapter_that_makes_answers_less_likely_is_switched_off():
    assert best_scale({0.0: 3.0, 0.25: 3.1, 0.5: 3.4, 1.0: 4.2}) == 0.0


def test_a_larger_scale_must_beat_the_smaller_ones_by_more_than_noise():
    assert best_scale({0.0: 3.000, 0.5: 2.995, 1.0: 2.992}) == 0.0
    assert best_scale({0.0: 3.0, 0.5: 2.95, 1.0: 2.945}) == 0.5


def test_the_recorded_scale_is_read_back_and_a_missing_record_is_none(tmp_path):
    record = tmp_path / "adapter_scale.json"
    assert recorded_scale(record) is None
    record.write_text(json.dumps({"adapter_scale": 0.25, "losses": {"0": 3.0, "0.25": 2.9}}))
    assert recorded_scale(record) == 0.25


def test_a_hypernetwork_folder_without_a_scale_applies_its_adapters_whole(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"format": "doclora-hypernet", "version": 1, "hypernet": {}}))
    assert adapter_scale(tmp_path) == 1.0
    assert adapter_scale(tmp_path / "pytorch_model.bin") == 1.0  # a reference checkpoint file: no config beside it


@pytest.mark.parametrize("value, ok", [(0.5, True), (0, True), (1.5, False), (-0.1, False), ("0.5", False),
                                       (True, False), (None, False)])
def test_a_recorded_scale_must_be_a_number_from_0_to_1(tmp_path, value, ok):
    (tmp_path / "config.json").write_text(json.dumps({"format": "doclora-hypernet", "adapter_scale": value}))
    if ok:
        assert adapter_scale(tmp_path) == value
    else:
        with pytest.raises(CheckpointFormatError, match="adapter_scale"):
            adapter_scale(tmp_path)


def test_a_damaged_config_is_one_clear_error(tmp_path):
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(CheckpointFormatError, match="not readable JSON"):
        adapter_scale(tmp_path)
