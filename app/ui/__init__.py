"""The desktop window (``doclora ui``): a local Gradio app on the app core's API."""

from __future__ import annotations


def launch(host: str = "127.0.0.1", port: int | None = None, open_browser: bool = True,
           share: bool = False, model: str | None = None, **options) -> None:
    """Serve the window on ``host:port`` (default 127.0.0.1:7860) for model pair ``model``
    (default: the active one); ``options``: see ``app.ui.server.launch``."""
    from app.ui.server import launch as _launch  # Gradio loads only when the window is wanted
    _launch(host=host, port=port, open_browser=open_browser, share=share, model=model, **options)


__all__ = ["launch"]
