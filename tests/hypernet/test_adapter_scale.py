"""The pair's adapter scales: chosen per kind of document from held-out answers' scores
(hypernet.train.calibrate), recorded in the hypernetwork's config.json and read back
(hypernet.checkpoint.adapter_scales); the kind of a document (hypernet.doc_kind)."""

from __future__ import annotations

import json

import pytest

from hypernet import CheckpointFormatError
from hypernet.checkpoint import adapter_scales
from hypernet.doc_kind import MANUAL_PAGE, PROSE, document_kind
from hypernet.train.calibrate import best_scale, choose, combined, recorded_scales


def test_the_scale_of_the_lowest_loss_is_chosen():
    assert best_scale({0.0: 3.0, 0.25: 2.9, 0.5: 2.7, 0.75: 2.8, 1.0: 2.95}) == 0.5


def test_an_adapter_that_makes_answers_less_likely_is_switched_off():
    assert best_scale({0.0: 3.0, 0.25: 3.1, 0.5: 3.4, 1.0: 4.2}) == 0.0


def test_a_larger_scale_must_beat_the_smaller_ones_by_more_than_noise():
    assert best_scale({0.0: 3.000, 0.5: 2.995, 1.0: 2.992}) == 0.0
    assert best_scale({0.0: 3.0, 0.5: 2.95, 1.0: 2.945}) == 0.5


def test_the_kinds_count_alike_and_f1_and_recall_alike():
    scores = {"prose": {0.0: (0.1, 0.3), 1.0: (0.2, 0.2)}, "manual page": {0.0: (0.0, 0.2), 1.0: (0.4, 0.4)}}
    total = combined(scores)
    assert total == pytest.approx({0.0: 0.15, 1.0: 0.3})
    assert best_scale({s: -v for s, v in total.items()}) == 1.0


def test_a_scale_that_answers_one_kind_worse_than_no_document_is_never_chosen():
    scores = {"prose": {0.0: (0.10, 0.30), 0.5: (0.12, 0.31), 1.0: (0.15, 0.25)},
              "manual page": {0.0: (0.10, 0.20), 0.5: (0.15, 0.25), 1.0: (0.40, 0.45)}}
    assert max(combined(scores), key=combined(scores).get) == 1.0  # best on average...
    assert choose(scores) == 0.5  # ... but prose's recall falls below the base alone's at 1
    scores["prose"][0.5] = (0.10, 0.295)  # within the margin of the base alone: still allowed
    assert choose(scores) == 0.5
    scores["manual page"] = {0.0: (0.1, 0.2), 0.5: (0.05, 0.2), 1.0: (0.05, 0.2)}
    assert choose(scores) == 0.0  # nothing is safe: the base alone


def test_the_invented_names_share_is_recorded_but_does_not_choose():
    scores = {"prose": {0.0: (0.10, 0.30, 0.0), 0.5: (0.20, 0.40, 0.0), 1.0: (0.30, 0.50, 0.05)}}
    assert combined(scores) == pytest.approx({0.0: 0.2, 0.5: 0.3, 1.0: 0.4})  # F1 and recall only
    assert choose(scores) == 1.0 == choose({"prose": {s: v[:2] for s, v in scores["prose"].items()}})

def test_the_recorded_scale_is_read_back_and_a_missing_record_is_none(tmp_path):
    record = tmp_path / "adapter_scale.json"
    assert recorded_scales(record) is None
    record.write_text(json.dumps({"adapter_scales": {"prose": 0.25, "manual page": 1}, "scores": {}}))
    assert recorded_scales(record) == {"prose": 0.25, "manual page": 1.0}


def test_a_hypernetwork_folder_without_a_scale_applies_its_adapters_whole(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"format": "doclora-hypernet", "version": 1, "hypernet": {}}))
    assert adapter_scales(tmp_path) == {PROSE: 1.0, MANUAL_PAGE: 1.0}
    # a reference checkpoint file: no config beside it
    assert adapter_scales(tmp_path / "pytorch_model.bin") == {PROSE: 1.0, MANUAL_PAGE: 1.0}


def test_a_kind_may_have_its_own_scale(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"format": "doclora-hypernet", "adapter_scale": 0.25,
                                                      "adapter_scale_by_kind": {"manual page": 1.0}}))
    assert adapter_scales(tmp_path) == {PROSE: 0.25, MANUAL_PAGE: 1.0}
    for bad in ({"novel": 1.0}, {"manual page": 2}, ["manual page"]):
        (tmp_path / "config.json").write_text(json.dumps({"adapter_scale": 0.25, "adapter_scale_by_kind": bad}))
        with pytest.raises(CheckpointFormatError, match="adapter_scale_by_kind"):
            adapter_scales(tmp_path)


@pytest.mark.parametrize("value, ok", [(0.5, True), (0, True), (1.5, False), (-0.1, False), ("0.5", False),
                                       (True, False), (None, False)])
def test_a_recorded_scale_must_be_a_number_from_0_to_1(tmp_path, value, ok):
    (tmp_path / "config.json").write_text(json.dumps({"format": "doclora-hypernet", "adapter_scale": value}))
    if ok:
        assert adapter_scales(tmp_path) == {PROSE: value, MANUAL_PAGE: value}
    else:
        with pytest.raises(CheckpointFormatError, match="adapter_scale"):
            adapter_scales(tmp_path)


def test_a_damaged_config_is_one_clear_error(tmp_path):
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(CheckpointFormatError, match="not readable JSON"):
        adapter_scales(tmp_path)


PAGE = """LS(1)                        User Commands                        LS(1)

NAME
       ls - list directory contents

SYNOPSIS
       ls [OPTION]... [FILE]...

DESCRIPTION
       List information about the FILEs (the current directory by default).
"""


def test_a_manual_page_is_told_by_its_headings_and_everything_else_is_prose():
    assert document_kind(PAGE) == MANUAL_PAGE
    assert document_kind(PAGE.replace("LS(1)", "")) == MANUAL_PAGE  # no running header
    assert document_kind("Apache License\nVersion 2.0, January 2004\n\nTERMS AND CONDITIONS\n") == PROSE
    # NAME and DESCRIPTION headings deep inside a report are not the top of a manual page
    assert document_kind("Report\n" + "words " * 200 + "\nNAME\nx\nDESCRIPTION\ny\n") == PROSE
    assert document_kind("NAME\n  the name field of a record\n") == PROSE  # no SYNOPSIS nor DESCRIPTION
