"""The kind of document a text is, for pairs whose recipe calibrated an adapter scale per kind.

The bundled pair's hypernetwork learned two kinds of text: manual pages (it copies a command's name
and options into its LoRA) and ordinary prose (documentation, licences, specifications). On held-out
training sources its adapters answer manual pages best whole and prose best at a quarter
(``hypernet.train.calibrate``), so the app asks which kind a document is. A manual page is told by
its section headings, alone on their lines as ``man`` prints them: NAME near the top, then SYNOPSIS
or DESCRIPTION. Every other text is prose.
"""

from __future__ import annotations

import re

PROSE = "prose"
MANUAL_PAGE = "manual page"
KINDS = (PROSE, MANUAL_PAGE)

_NAME = re.compile(r"^[ \t]*NAME[ \t]*$", re.MULTILINE)
_BODY = re.compile(r"^[ \t]*(?:SYNOPSIS|DESCRIPTION)[ \t]*$", re.MULTILINE)
_NAME_WITHIN = 400  # characters from the top (a PDF's running header may come first)
_BODY_WITHIN = 4000


def document_kind(text: str) -> str:
    """``MANUAL_PAGE`` for a manual page as ``man`` renders it, else ``PROSE``."""
    name = _NAME.search(text, 0, _NAME_WITHIN)
    if name and _BODY.search(text, name.end(), _BODY_WITHIN):
        return MANUAL_PAGE
    return PROSE
