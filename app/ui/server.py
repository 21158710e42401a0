"""Start the window: a Gradio server on 127.0.0.1 (no share link, no analytics, no CDN)."""

from __future__ import annotations

import os


def launch(host: str = "127.0.0.1", port: int | None = None, open_browser: bool = True,
           share: bool = False, model: str | None = None) -> None:
    """Serve the window until interrupted; open the default browser unless told not to."""
    # Before Gradio is imported: it reads these at import time.
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ.setdefault("GRADIO_SSR_MODE", "False")
    from app.api import DocLoRA
    from app.ui import theme, window

    core = DocLoRA(model)
    blocks = window.build(core)
    blocks.queue(default_concurrency_limit=1)
    try:
        _, local_url, share_url = blocks.launch(
            server_name=host, server_port=port, inbrowser=open_browser, share=share,
            prevent_thread_lock=True, quiet=True, show_error=False, footer_links=[],
            theme=theme.theme(), css=theme.CSS, head=theme.HEAD,
            ssr_mode=False, pwa=False, mcp_server=False)
        print(f"DocLoRA window: {local_url}" + (f"  (public link: {share_url})" if share_url
                                                 else "") + "  Ctrl+C stops it.", flush=True)
        blocks.block_thread()
    finally:
        core.close()
