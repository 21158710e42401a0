"""Start the window: a Gradio server on 127.0.0.1 (no share link, no analytics, no CDN).

It answers only requests for a loopback host from its own pages (``app.ui.guard``) and takes
uploads up to ``MAX_UPLOAD_MB`` each.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable

MAX_UPLOAD_MB = 200  # a larger PDF would take hours to internalize on a laptop anyway


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

    from app.models import enforce_offline

    enforce_offline()
    core = DocLoRA(model)
    core.tidy()  # jobs of a killed window show as failed, its leftovers go
    blocks = window.build(core)
    blocks.queue(default_concurrency_limit=1)
    try:
        try:
            _, local_url, share_url = blocks.launch(
                server_name=host, server_port=port, inbrowser=open_browser, share=share,
                prevent_thread_lock=True, quiet=True, show_error=False, footer_links=[],
                theme=theme.theme(), css=theme.CSS, head=theme.HEAD,
                ssr_mode=False, pwa=False, mcp_server=False,
                max_file_size=f"{max_upload_mb}mb",
                app_kwargs={"middleware": [
                    Middleware(LocalOnly, allowed=allowed_hosts(host, allow_hosts))]})
        except OSError as exc:
            raise DocLoRAError(f"Cannot serve the window on {host}:{port or 7860} ({exc}); "
                               "choose another port with --port.") from exc
        print(f"DocLoRA window: {local_url}" + (f"  (public link: {share_url})" if share_url
                                                 else "") + "  Ctrl+C stops it.", flush=True)
        blocks.block_thread()
    finally:
        core.close()
