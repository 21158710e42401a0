"""The markdown report of `benchmarks/docqa.py`'s rows (one row per document, question and method)."""

from __future__ import annotations

import statistics

from hypernet.train.manpages import UNNAMED_QUESTIONS

_mean = statistics.mean


def _median(xs: list[float], fmt: str = ".2f") -> str:
    return format(statistics.median(xs), fmt) if xs else "-"


def _label(row: dict) -> str:
    """A row's table line: its length, and for the manual set's free phrasings that they are."""
    return row["length"] + (", free phrasing" if row.get("phrasing") == "free" else "")


def _recall(sel: list[dict]) -> str:
    return f"{_mean(r['recall'] for r in sel):.3f}" if all("recall" in r for r in sel) else "-"


def _table(rows: list[dict], kv_bytes_per_token: int) -> list[str]:
    out = ["| document | method | docs | questions | F1 vs gold | gold recall | agreement with in-prompt | "
           "update latency (s) | time to first token (s), first question | KV cache in use (MiB) |",
           "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for label in dict.fromkeys(map(_label, rows)):
        for method in dict.fromkeys(r["method"] for r in rows):
            if not (sel := [r for r in rows if _label(r) == label and r["method"] == method]):
                continue
            out.append(f"| {label} | {method} | {len({r['doc'] for r in sel})} | {len(sel)} | "
                       f"{_mean(r['f1'] for r in sel):.3f} | {_recall(sel)} | {_mean(r['agree'] for r in sel):.3f} | "
                       f"{_median([r['update_s'] for r in sel if r['update_s'] is not None])} | "
                       f"{_median([r['ttft_s'] for r in sel if r.get('first', True)])} | "
                       f"{_median([r['kv_tokens'] * kv_bytes_per_token / 2**20 for r in sel], '.1f')} |")
    return out


ADAPTER_METHODS = ("d2l", "d2l-select", "app")


def _gaps(rows: list[dict], label: str, method: str = "d2l", ceiling: str = "prompt") -> list[str]:
    """How much of the gap between no document and ``ceiling`` (the document in the prompt, or retrieval)
    ``method`` closes."""
    sel = {m: [r for r in rows if _label(r) == label and r["method"] == m] for m in (method, "none", ceiling, "other")}
    if not (sel[method] and sel["none"] and sel[ceiling]):
        return []
    parts = []
    for key, name in (("f1", "F1"), ("recall", "gold-recall")):
        if all(key in r for m in (method, "none", ceiling) for r in sel[m]):
            got, none, top = (_mean(r[key] for r in sel[m]) for m in (method, "none", ceiling))
            if top != none:
                parts.append(f"{(got - none) / (top - none):.0%} of the {name} gap")
    if not parts:
        return []
    other = ""
    if sel["other"] and method == "d2l":
        gain = _mean(r["f1"] for r in sel[method]) - _mean(r["f1"] for r in sel["other"])
        other = f" (F1 {gain:+.3f} against another document's adapter)"
    where = "in prompt" if ceiling == "prompt" else ceiling
    return [f"- {label}: {method} closes {' and '.join(parts)} between no document and {where}{other}"]


def _composed(rows: list[dict], label: str) -> list[str]:
    """A selection of two documents asked both documents' questions (manual set): one document's adapter
    alone answers its own questions (d2l) and the other's (other), so a single one scores their mean. Only
    questions that name their command: "the command this manual page describes" is ambiguous over two."""
    named = {m: [r["f1"] for r in rows
                 if _label(r) == label and r["method"] == m and r["kind"] not in UNNAMED_QUESTIONS]
             for m in ("d2l", "other", "compose", "sum")}
    if not (named["d2l"] and named["other"]):
        return []
    single = (_mean(named["d2l"]) + _mean(named["other"])) / 2
    return [f"- {label}: two documents {how}: F1 {_mean(named[method]):.3f} against {single:.3f} for one of them "
            f"alone on both documents' questions ({len(named[method])} questions that name their command)"
            for method, how in (("compose", "as the app composes them (focused)"), ("sum", "summed"))
            if named[method]]


def _genres(rows: list[dict]) -> list[str]:
    genres = list(dict.fromkeys(r.get("genre", "") for r in rows))
    if len(genres) < 2:
        return []
    out = ["", "| genre | method | docs | questions | F1 vs gold | gold recall |", "|---|---|---:|---:|---:|---:|"]
    for genre in genres:
        for method in dict.fromkeys(r["method"] for r in rows):
            if sel := [r for r in rows if r.get("genre") == genre and r["method"] == method]:
                out.append(f"| {genre} | {method} | {len({r['doc'] for r in sel})} | {len(sel)} | "
                           f"{_mean(r['f1'] for r in sel):.3f} | {_recall(sel)} |")
    return out


def below_none(rows: list[dict], method: str = "d2l") -> list[str]:
    """The documents where ``method``'s mean F1 is under no document's."""
    docs = dict.fromkeys(r["doc"] for r in rows)
    f1 = {(d, m): [r["f1"] for r in rows if r["doc"] == d and r["method"] == m] for d in docs for m in (method, "none")}
    return [d for d in docs if f1[d, method] and f1[d, "none"] and _mean(f1[d, method]) < _mean(f1[d, "none"])]


def _checks(rows: list[dict]) -> list[str]:
    out = []
    for method in ADAPTER_METHODS:
        if any(r["method"] == method for r in rows) and any(r["method"] == "none" for r in rows):
            below = below_none(rows, method)
            n_docs = len({r["doc"] for r in rows if r["method"] == method})
            out.append(f"- documents where {method}'s mean F1 is below no document's: {len(below)} of {n_docs}"
                       + (f" ({', '.join(below[:12])}{', ...' if len(below) > 12 else ''})" if below else ""))
    if any("invented" in r and r["method"] != "none" for r in rows):
        counts = []
        for method in dict.fromkeys(r["method"] for r in rows if r["method"] != "none"):
            sel = [r for r in rows if r["method"] == method]
            counts.append(f"{method} {sum(bool(r.get('invented')) for r in sel)}/{len(sel)}")
        examples = [w for r in rows if r["method"] == "d2l" for w in r.get("invented", [])][:8]
        out.append(f"- answers with an invented name (in neither the document, the question nor the no-document "
                   f"answer): {', '.join(counts)}" + (f"; d2l's: {', '.join(examples)}" if examples else ""))
    return out


def report(rows: list[dict], kv_bytes_per_token: int) -> str:
    """The table (one line per length and method), the gaps D2L closes, the genres, and the checks."""
    out = _table(rows, kv_bytes_per_token) + [""]
    for label in dict.fromkeys(map(_label, rows)):
        for method in ADAPTER_METHODS:
            out += _gaps(rows, label, method) + _gaps(rows, label, method, "retrieval")
        out += _composed(rows, label)
    return "\n".join(out + _checks(rows) + _genres(rows))
