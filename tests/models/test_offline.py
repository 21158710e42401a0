"""After install nothing touches the network: sockets are blocked and everything still works."""

from __future__ import annotations

import json
import os
import socket

import pytest
from click.testing import CliRunner

from app.models import active_pair, enforce_offline, get_pair, list_pairs, pull, use_pair
from app.models.cli import models
from app.models.offline import OFFLINE_VARS

GGUF_OK = "someone/Qwen3-tiny-GGUF:qwen3-tiny-F32.gguf"


def block_network(monkeypatch) -> list:
    """From now on every socket connect and name lookup raises; attempts are recorded."""
    attempts: list = []

    def refuse(*args, **kwargs):
        attempts.append(args[1:] or args)
        raise ConnectionRefusedError("network access attempted in an offline test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    return attempts


def test_nothing_touches_the_network_after_install(library, fake_hub, monkeypatch, tmp_path):
    from huggingface_hub import constants, hf_hub_download
    from huggingface_hub.errors import LocalEntryNotFoundError, OfflineModeIsEnabled

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # as on a machine without the env var
    for var in OFFLINE_VARS:  # restored after the test, whatever enforce_offline sets
        monkeypatch.delenv(var, raising=False)
    pull(library, "qwen3-4b", gguf_from=GGUF_OK)
    assert enforce_offline(library) is True  # what the app does at start
    assert constants.HF_HUB_OFFLINE is True
    assert os.environ["HF_HUB_OFFLINE"] == "1" and os.environ["TRANSFORMERS_OFFLINE"] == "1"

    attempts = block_network(monkeypatch)
    served = len(fake_hub.log)
    # The app's own model calls work from the library and local files alone.
    pair = active_pair(library)
    assert pair.name == "qwen3-4b" and pair.installed
    assert {p.name for p in list_pairs(library) if p.installed} == {"tiny-needle", "smollm2-135m", "qwen3-4b"}
    assert pull(library, "qwen3-4b").installed  # already installed: answered without the hub
    assert use_pair(library, "tiny-needle").active and use_pair(library, "qwen3-4b").active
    runner = CliRunner()
    listed = json.loads(runner.invoke(models, ["list", "--json"]).output)
    assert [p["name"] for p in listed if p["active"]] == ["qwen3-4b"]
    assert runner.invoke(models, ["use", "qwen3-4b"]).exit_code == 0
    # Loading the installed base with transformers needs no hub either.
    from transformers import AutoConfig, AutoTokenizer
    assert AutoConfig.from_pretrained(pair.base_dir).model_type == "qwen3"
    assert AutoTokenizer.from_pretrained(pair.base_dir).encode("the model reads")
    # A lookup that would otherwise go to the hub is refused by offline mode, not by a socket.
    with pytest.raises(LocalEntryNotFoundError) as refused:
        hf_hub_download("Qwen/Qwen3-4B-Instruct-2507", "config.json", endpoint=fake_hub.url,
                        cache_dir=str(tmp_path / "hf-cache"))
    assert isinstance(refused.value.__cause__, OfflineModeIsEnabled)
    assert attempts == [] and len(fake_hub.log) == served
    # Control: without offline mode the same lookup would have opened a socket.
    import requests
    from huggingface_hub.utils import get_session, reset_sessions
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    reset_sessions()
    with pytest.raises(requests.ConnectionError):
        get_session().head(f"{fake_hub.url}/Qwen/Qwen3-4B-Instruct-2507/resolve/main/config.json")
    assert attempts and len(fake_hub.log) == served
    reset_sessions()
    assert get_pair(library, "qwen3-4b").source["base"]["repo"] == "Qwen/Qwen3-4B-Instruct-2507"


def test_offline_mode_stays_off_while_the_chosen_pair_is_not_installed(library, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    for var in OFFLINE_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("DOCLORA_MODEL", "qwen3-4b")
    assert enforce_offline(library) is False  # the user still has to pull it
    assert constants.HF_HUB_OFFLINE is False and "HF_HUB_OFFLINE" not in os.environ
