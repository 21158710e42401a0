"""Core errors become one readable sentence in the window (app/ui/errors.py)."""

from __future__ import annotations

import gradio as gr
import pytest

from app.errors import DocumentNotReadyError
from app.ui.errors import message, user_error


def test_core_error_keeps_its_own_sentence():
    exc = DocumentNotReadyError("The adapter of 'Harbor' is missing; add it again.")
    assert message(exc) == "The adapter of 'Harbor' is missing; add it again."
    error = user_error(exc)
    assert isinstance(error, gr.Error) and error.message == message(exc)


def test_a_bug_becomes_a_pointer_to_the_terminal_not_a_traceback(monkeypatch):
    monkeypatch.delenv("DOCLORA_RAISE_ERRORS", raising=False)
    text = message(KeyError("pages"))
    assert text.startswith("Something went wrong (KeyError)") and "terminal" in text
    assert "Traceback" not in text


def test_raise_errors_reraises_bugs_for_debugging(monkeypatch):
    monkeypatch.setenv("DOCLORA_RAISE_ERRORS", "1")
    with pytest.raises(KeyError):
        user_error(KeyError("pages"))
