"""Who the window answers: requests for a loopback host, from the window's own pages, and
files really uploaded to it.

A page on another site can make the browser send requests to 127.0.0.1 (DNS rebinding: its own
name resolving to 127.0.0.1) and read the answers, because to the browser they are same-origin.
Such requests carry that site's name in ``Host``; a cross-site request made from the site's own
page carries it in ``Origin``. ``LocalOnly`` answers 403 to both, unless the user named the host
(``doclora ui --allow-host NAME``, or serving on a non-loopback ``--host``). A client can name
any path on this computer as an uploaded file; ``uploaded`` accepts only files in Gradio's upload
folder (Gradio checks that too, but the window does not rely on it).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
ANY_HOST = "*"  # serving on 0.0.0.0 without naming hosts: any Host, still same-origin only


# A Host header: a name or IPv4 address, or an IPv6 address in brackets; then maybe a port.
_HOST = re.compile(r"(?:([a-z0-9_.-]+)|\[([0-9a-f:.]+)\])(?::[0-9]{1,5})?")


def hostname(netloc: str) -> str:
    """'LocalHost:7860' -> 'localhost', '[::1]:7860' -> '::1' (the part before the port); a bare
    IPv6 address ('::1', a --host value) as it is; '' for anything else ('localhost:80@evil',
    '[::1]evil.example'), which no host list holds."""
    netloc = netloc.strip().lower()
    found = _HOST.fullmatch(netloc)
    if found:
        return found.group(1) or found.group(2)
    try:
        return str(ipaddress.IPv6Address(netloc))
    except ValueError:
        return ""


def allowed_hosts(host: str, extra: Iterable[str] = ()) -> frozenset[str]:
    """The names the window answers to when it serves on ``host`` (plus ``extra``)."""
    names = set(LOOPBACK) | {hostname(h) for h in extra}
    if host in ("0.0.0.0", "::"):
        if not extra:
            names.add(ANY_HOST)
    elif hostname(host) not in LOOPBACK:
        names.add(hostname(host))
    return frozenset(names)


def refusal(headers: dict[str, str], allowed: frozenset[str]) -> str | None:
    """Why a request with these (lower-case) headers is refused; None when it is accepted."""
    host = headers.get("host", "")
    if not hostname(host) or (ANY_HOST not in allowed and hostname(host) not in allowed):
        return f"DocLoRA's window does not answer for the host '{host}'."
    origin = headers.get("origin")
    if origin is not None:
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or parts.netloc.lower() != host.lower():
            return f"DocLoRA's window does not answer requests from '{origin}'."
    return None


def uploaded(path: str | Path) -> bool:
    """Whether ``path`` is a file inside Gradio's upload folder (links resolved)."""
    from gradio.utils import get_upload_folder
    try:
        real = Path(path).resolve(strict=True)
        folder = Path(get_upload_folder()).resolve()
    except (OSError, RuntimeError):  # missing, or a loop of links
        return False
    return real.is_relative_to(folder) and real != folder and real.is_file()


class LocalOnly:
    """ASGI middleware: 403 for requests refused by ``refusal``."""

    def __init__(self, app: ASGIApp, allowed: frozenset[str] = LOOPBACK) -> None:
        self.app, self.allowed = app, allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            pairs = [(k.decode("latin-1").lower(), v.decode("latin-1"))
                     for k, v in scope.get("headers", [])]
            names = [name for name, _ in pairs]
            twice = next((n for n in ("host", "origin") if names.count(n) > 1), None)
            why = (f"DocLoRA's window does not answer requests with more than one "
                   f"{twice.title()} header." if twice else refusal(dict(pairs), self.allowed))
            if why is not None:
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1008})
                    return
                await PlainTextResponse(why, status_code=403)(scope, receive, send)
                return
        await self.app(scope, receive, send)
