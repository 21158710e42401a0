"""``doclora models ...`` through the real ``doclora`` group (CliRunner)."""

from __future__ import annotations

import json
import os
import pickle
import sqlite3

from click.testing import CliRunner

from app.cli import cli
from app.paths import demo_pair_dir, library_db_path, models_dir

GGUF_OK = "someone/Qwen3-tiny-GGUF:qwen3-tiny-F32.gguf"
PATH_KEYS = {"name", "installed", "active", "base_dir", "gguf", "hypernet"}


def run(*args: str):
    return CliRunner().invoke(cli, ["models", *args])


def test_list_json_has_names_states_and_paths():
    result = run("list", "--json")
    assert result.exit_code == 0, result.output
    pairs = json.loads(result.output)
    assert all(PATH_KEYS <= set(p) for p in pairs)
    assert [(p["name"], p["installed"], p["active"]) for p in pairs] == [
        ("tiny-needle", True, True), ("smollm2-135m", True, False), ("qwen3-4b", False, False),
        ("gemma-2-2b", False, False), ("mistral-7b", False, False)]
    assert pairs[2]["gguf"] == str(models_dir() / "qwen3-4b" / "model.gguf")
    text = run("list").output
    assert "* tiny-needle" in text and "[recommended]" in text and "gated" in text
    # what each bundled pair can and cannot do, in one line each
    assert "answers nothing else" in text and "checked against the document" in text
    notes = text.splitlines()
    assert all(len(notes[notes.index(line) + 1]) <= 100 for line in notes
               if line.lstrip("* ").startswith(("tiny-needle", "smollm2-135m")))


def test_use_switches_between_the_bundled_pairs():
    assert run("use", "smollm2-135m").exit_code == 0
    listed = {p["name"]: p for p in json.loads(run("list", "--json").output)}
    assert listed["smollm2-135m"]["active"] and not listed["tiny-needle"]["active"]
    assert run("rm", "smollm2-135m", "--yes").exit_code == 2  # bundled: never removed
    assert run("use", "tiny-needle").exit_code == 0
    listed = {p["name"]: p for p in json.loads(run("list", "--json").output)}
    assert listed["tiny-needle"]["active"] and not listed["smollm2-135m"]["active"]


def test_pull_use_rm_from_the_command_line(fake_hub):
    result = run("pull", "qwen3-4b", "--gguf-from", GGUF_OK, "--no-use")
    assert result.exit_code == 0, result.output
    assert "qwen3-4b is installed in" in result.output
    listed = {p["name"]: p for p in json.loads(run("list", "--json").output)}
    assert listed["qwen3-4b"]["installed"] and not listed["qwen3-4b"]["active"]

    assert run("use", "qwen3-4b").exit_code == 0
    assert {p["name"]: p for p in json.loads(run("list", "--json").output)}["qwen3-4b"]["active"] is True

    result = run("rm", "qwen3-4b", "--yes")
    assert result.exit_code == 0 and not (models_dir() / "qwen3-4b").exists()
    listed = {p["name"]: p for p in json.loads(run("list", "--json").output)}
    assert not listed["qwen3-4b"]["installed"] and listed["tiny-needle"]["active"]


def test_errors_are_one_sentence_with_exit_status_2(fake_hub):
    cases = [
        (["pull", "llama-9000"], "There is no downloadable pair named 'llama-9000'"),
        (["pull", "tiny-needle"], "is bundled with DocLoRA and needs no download"),
        (["use", "qwen3-4b"], "not installed; run 'doclora models pull qwen3-4b' first"),
        (["rm", "tiny-needle", "--yes"], "cannot be removed"),
        (["pull", "qwen3-4b", "--gguf-from", "no-colon.gguf"], "--gguf-from takes REPO:FILE.gguf"),
        (["pull", "qwen3-4b", "--gguf-from", "someone/Qwen3-tiny-GGUF:qwen3-other-ffn.gguf"],
         "does not fit the base model"),
    ]
    for args, message in cases:
        result = run(*args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output and "Traceback" not in result.output
    assert not (models_dir() / "qwen3-4b").exists()


class _Touch:
    """Unpickling this would create a file (the attacker's payload)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_add_refuses_a_plain_pickle_checkpoint_without_running_it(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.bin"
    evil.write_bytes(pickle.dumps(_Touch(marker)))  # not a zip: torch's legacy loader reads it
    demo = demo_pair_dir()
    result = run("add", "--name", "mine", "--base", str(demo / "base"), "--gguf", str(demo / "model.gguf"),
                 "--hypernet", str(evil))
    assert result.exit_code == 2, result.output
    assert "Refusing to load the checkpoint: it pickles 'posix.system'" in result.output
    assert "Traceback" not in result.output and "magic number" not in result.output
    assert not marker.exists(), "the pickled os.system call ran"
    db = sqlite3.connect(library_db_path())
    assert db.execute("SELECT count(*) FROM models WHERE name = 'mine'").fetchone() == (0,)
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_list_marks_gated_pairs_before_any_pull():
    pairs = {p["name"]: p for p in json.loads(run("list", "--json").output)}
    assert pairs["mistral-7b"]["gated"] and pairs["gemma-2-2b"]["gated"] and not pairs["qwen3-4b"]["gated"]
    assert "GATED" in pairs["mistral-7b"]["licence"] and "HF_TOKEN" in pairs["mistral-7b"]["licence"]
    lines = {line.split()[0]: line for line in run("list").output.splitlines() if line.startswith("  ")
             and not line.startswith("    ")}
    assert "not installed" in lines["mistral-7b"] and "[gated: needs a Hugging Face token" in lines["mistral-7b"]
    assert "[gated" not in lines["qwen3-4b"]


def test_pull_with_a_revision_and_list_shows_the_commits(fake_hub):
    base_commit = fake_hub.repos["Qwen/Qwen3-4B-Instruct-2507"].commit
    hyper_commit = fake_hub.repos["SakanaAI/doc-to-lora"].commit
    bad = run("pull", "qwen3-4b", "--revision", base_commit)
    assert bad.exit_code == 2 and "--revision takes PART=REV" in bad.output
    result = run("pull", "qwen3-4b", "--gguf-from", GGUF_OK, "--revision", f"base={base_commit}")
    assert result.exit_code == 0, result.output
    listed = {p["name"]: p for p in json.loads(run("list", "--json").output)}
    files = listed["qwen3-4b"]["source"]["files"]
    assert files["Qwen/Qwen3-4B-Instruct-2507/config.json"]["commit"] == base_commit
    assert files["SakanaAI/doc-to-lora/qwen_4b_d2l/checkpoint-20000/pytorch_model.bin"]["commit"] == hyper_commit
    line = next(ln for ln in run("list").output.splitlines() if "qwen3-4b" in ln)
    assert f"installed, base@{base_commit[:7]} hypernet@{hyper_commit[:7]} gguf@" in line
