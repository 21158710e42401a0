"""Turn core errors into one readable sentence in the window (never a stack trace).

``DOCLORA_RAISE_ERRORS=1`` re-raises the original exception instead, for tests and debugging.
"""

from __future__ import annotations

import html
import logging

import gradio as gr

from app.errors import DocLoRAError, raise_errors

log = logging.getLogger("doclora.ui")


def message(exc: BaseException) -> str:
    """One sentence for the user: the core's own message, or a generic one for a bug."""
    if isinstance(exc, DocLoRAError):
        return str(exc) or "The operation failed."
    log.error("unexpected error in the window", exc_info=exc)
    return (f"Something went wrong ({type(exc).__name__}); the details are in the terminal "
            "that runs 'doclora ui'.")


def user_error(exc: BaseException) -> gr.Error:
    """A gr.Error to raise from a handler (re-raises the original when DOCLORA_RAISE_ERRORS)."""
    if raise_errors() and not isinstance(exc, DocLoRAError):
        raise exc
    # The toast renders HTML: a title or file name in the message must show as text.
    return gr.Error(html.escape(message(exc), quote=False), title="Error", print_exception=False)
