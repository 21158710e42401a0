"""Start the window: a Gradio server on 127.0.0.1 (no share link, no analytics, no CDN).

It answers only requests for a loopback host from its own pages (``app.ui.guard``) and takes
uploads up to ``MAX_UPLOAD_MB`` each.
"""

from __future__ import annotations

import os
import sys
import warnings
import webbrowser
from collections.abc import Iterable

MAX_UPLOAD_MB = 200  # a larger PDF would take hours to internalize on a laptop anyway


def no_browser_reason() -> str | None:
    """Why no browser can be opened here (no display, no browser found), or None."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY")
                                                 or os.environ.get("WAYLAND_DISPLAY")):
        return "there is no display (DISPLAY and WAYLAND_DISPLAY are unset)"
    try:
        webbrowser.get()
    except webbrowser.Error:
        return "no web browser was found"
    return None


def banner(url: str, share_url: str | None = None, why_no_browser: str | None = None) -> str:
    """The lines the terminal shows once the window is served: its address, set apart."""
    lines = ["", f"  DocLoRA is running at  {url}"]
    if share_url:
        lines.append(f"  Public link:  {share_url}")
    if why_no_browser:
        lines.append(f"  No browser was opened: {why_no_browser}; open the address above "
                     "in a browser.")
    lines += ["  Ctrl+C stops it.", ""]
    return "\n".join(lines)


def launch(host: str = "127.0.0.1", port: int | None = None, open_browser: bool = True,
           share: bool = False, model: str | None = None, allow_hosts: Iterable[str] = (),
           max_upload_mb: int = MAX_UPLOAD_MB) -> None:
    """Serve the window until interrupted; open the default browser unless told not to.

    ``allow_hosts``: other names (besides 127.0.0.1, localhost, [::1]) the window answers to."""
    # Before Gradio is imported: it reads these at import time.
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ.setdefault("GRADIO_SSR_MODE", "False")
    # Gradio's routes name a constant that Starlette deprecated; it is noise in the user's terminal.
    warnings.filterwarnings("ignore", message=".*HTTP_422_UNPROCESSABLE_ENTITY.*")
    from starlette.middleware import Middleware

    from app.api import DocLoRA
    from app.errors import DocLoRAError
    from app.ui import theme, window
    from app.ui.guard import LocalOnly, allowed_hosts

    core = DocLoRA(model)  # with the settings saved in the library
    for warning in core.warnings:
        print(f"Warning: {warning}", flush=True)
    core.offline()
    core.tidy()  # jobs of a killed window show as failed, its leftovers go
    blocks = window.build(core)
    blocks.queue(default_concurrency_limit=1)
    why_no_browser = no_browser_reason() if open_browser else None
    try:
        try:
            _, local_url, share_url = blocks.launch(
                server_name=host, server_port=port, inbrowser=open_browser and not why_no_browser,
                share=share,
                prevent_thread_lock=True, quiet=True, show_error=False, footer_links=[],
                theme=theme.theme(), css=theme.CSS, head=theme.HEAD,
                ssr_mode=False, pwa=False, mcp_server=False,
                max_file_size=f"{max_upload_mb}mb",
                app_kwargs={"middleware": [
                    Middleware(LocalOnly, allowed=allowed_hosts(host, allow_hosts))]})
        except OSError as exc:
            raise DocLoRAError(f"Cannot serve the window on {host}:{port or 7860} ({exc}); "
                               "choose another port with --port.") from exc
        print(banner(local_url, share_url, why_no_browser), flush=True)
        blocks.block_thread()
    finally:
        core.close()
