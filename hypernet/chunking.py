"""Chat-template wrap and chunking of a document (design page section 5).

The document, stripped of leading and trailing whitespace as the reference always does, is one
user message after an empty system message, plus the generation prompt. For the bases in
REFERENCE_CONTEXT_FORMATS the reference renders contexts with its own template instead of the
tokenizer's; hypernetworks trained on those bases get that format (see `document_affixes`).
Templates that reject a system role (Gemma 2) get it folded into the user turn as
`system + "\\n\\n"` before the content, giving `<bos><start_of_turn>user\\n\\n\\n{doc}<end_of_turn>\\n...`.
A long document is tokenised once, cut into n nearly equal slices, and every slice gets the template
prefix / suffix it lacks, so each chunk looks like a whole templated message.
"""

from __future__ import annotations

import math

from hypernet.errors import ChunkingError

_SENTINEL = "\ue000DOCLORA-DOCUMENT\ue001"  # private-use code points: never in a real template
DEFAULT_MAX_CHUNK_TOKENS = 8192

# (prefix, suffix) around a context, by the base a hypernetwork was trained on, where the reference
# replaces the tokenizer's chat template with its own (chat_templates/<base>.jinja, rendered with an
# empty system message). {bos} is the tokenizer's BOS text.
REFERENCE_CONTEXT_FORMATS = {
    # bos + ' [INST] ' + system + '\n\n' + content + ' [/INST] ': the hub's template has no trailing space
    "mistralai/Mistral-7B-Instruct-v0.2": ("{bos} [INST] \n\n", " [/INST] "),
}


def template_affixes(tokenizer, system: str = "") -> tuple[str, str, bool]:
    """(prefix, suffix, trims) around the document in the rendered chat template.

    `trims` tells whether the template strips whitespace from the message content (Gemma's `| trim`);
    documents are stripped before templating in any case, as the reference does.
    """
    if not getattr(tokenizer, "chat_template", None):
        raise ChunkingError("The base model's tokenizer has no chat template; use an instruction-tuned base model.")
    padded = f" \n{_SENTINEL} \n"
    try:
        text = _render(tokenizer, [{"role": "system", "content": system}, {"role": "user", "content": padded}])
        fold = ""
    except Exception:  # the template rejects a system role: fold it into the user turn
        try:
            text = _render(tokenizer, [{"role": "user", "content": padded}])
        except Exception as exc:
            raise ChunkingError(f"The base model's chat template cannot render a user message ({exc}).") from exc
        fold = system + "\n\n"
    if text.count(_SENTINEL) != 1:
        raise ChunkingError("The chat template does not place the user message exactly once; it cannot wrap documents.")
    before, after = text.split(_SENTINEL)
    trims = not before.endswith(" \n")
    before = before.removesuffix(" \n")
    after = after.removeprefix(" \n")
    return before + fold, after, trims


def document_affixes(tokenizer, trained_on: str = "") -> tuple[str, str]:
    """(prefix, suffix) around a document: the reference's own context format when the hypernetwork
    was trained on a base listed in REFERENCE_CONTEXT_FORMATS, else the tokenizer's chat template."""
    if trained_on in REFERENCE_CONTEXT_FORMATS:
        prefix, suffix = REFERENCE_CONTEXT_FORMATS[trained_on]
        return prefix.format(bos=tokenizer.bos_token or ""), suffix
    prefix, suffix, _ = template_affixes(tokenizer)
    return prefix, suffix


def _render(tokenizer, messages: list[dict]) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def _encode(tokenizer, text: str) -> list[int]:
    # verbose=False: whole documents exceed model_max_length on purpose (we chunk them), so
    # transformers' "Token indices sequence length is longer than ..." warning must not show.
    return list(tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])


def affix_ids(tokenizer, prefix: str, suffix: str) -> tuple[list[int], list[int]]:
    """Token ids of the template prefix / suffix as they appear around a document.

    SentencePiece vocabularies tokenise an affix differently alone than next to text (" [/INST]"),
    so the ids are read off two probe messages: their common head and common tail.
    """
    a, b = _encode(tokenizer, prefix + "A" + suffix), _encode(tokenizer, prefix + "Z" + suffix)
    head = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    tail = next((i for i, (x, y) in enumerate(zip(reversed(a), reversed(b))) if x != y), min(len(a), len(b)))
    return a[:head], a[len(a) - tail :]


def wrap_document(tokenizer, text: str, trained_on: str = "") -> str:
    """The templated text the hypernetwork reads for a whole document (stripped, as the reference does)."""
    prefix, suffix = document_affixes(tokenizer, trained_on)
    return prefix + text.strip() + suffix


def chunk_text(tokenizer, text: str, max_chunk_tokens: int = DEFAULT_MAX_CHUNK_TOKENS,
               snap_to_sentences: bool = False, trained_on: str = "") -> list[list[int]]:
    """Token-id chunks, each a templated message of at most `max_chunk_tokens` tokens.

    The templated document is tokenised once; if it is too long it is cut into
    n = ceil(len / (max - affix length)) nearly equal slices, and each slice gets the template
    prefix (all but the first) and suffix (all but the last) re-added.
    With `snap_to_sentences` (not in the reference), each cut moves back, within the room the
    chunk budget leaves, to just after a sentence end, so that no sentence is split across chunks.
    `trained_on`: the base the hypernetwork was trained on (picks the context format).
    """
    if not text or not text.strip():
        raise ChunkingError("The document has no text to internalize; use a document with text.")
    ids = _encode(tokenizer, wrap_document(tokenizer, text, trained_on))
    if len(ids) <= max_chunk_tokens:
        return [ids]
    pre, suf = affix_ids(tokenizer, *document_affixes(tokenizer, trained_on))
    budget = max_chunk_tokens - len(pre) - len(suf)
    if budget < max(len(pre), len(suf), 1):
        raise ChunkingError(
            f"max_chunk_tokens={max_chunk_tokens} leaves no room for text next to the chat template's "
            f"{len(pre) + len(suf)} tokens; use a larger max_chunk_tokens."
        )
    # snapping needs room to move a cut back: then each slice leaves an eighth of the budget free
    n = math.ceil(len(ids) / (budget - budget // 8 if snap_to_sentences else budget))
    sizes = [len(ids) // n + (1 if i < len(ids) % n else 0) for i in range(n)]
    cuts = [sum(sizes[:i]) for i in range(n + 1)]
    if snap_to_sentences:
        cuts = _snap_cuts(tokenizer, ids, cuts, slack=budget - max(sizes))
    return [(pre if i > 0 else []) + ids[cuts[i] : cuts[i + 1]] + (suf if i < n - 1 else []) for i in range(n)]


def chunk_spans(tokenizer, text: str, chunks: list[list[int]], trained_on: str = "") -> list[tuple[int, int]]:
    """Character spans ``(start, end)`` in ``text`` of each chunk that ``chunk_text(text)`` returned.

    The chunks are slices of one tokenisation of the templated text, so each slice's offsets give
    its span (the template's own affixes excluded)."""
    prefix, suffix = document_affixes(tokenizer, trained_on)
    stripped = text.strip()
    enc = tokenizer(prefix + stripped + suffix, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
    offsets = enc["offset_mapping"]
    if len(chunks) == 1:
        lo, hi = 0, len(offsets)
        cuts = [lo, hi]
    else:
        pre, suf = affix_ids(tokenizer, prefix, suffix)
        sizes = [len(c) - (len(pre) if i > 0 else 0) - (len(suf) if i < len(chunks) - 1 else 0)
                 for i, c in enumerate(chunks)]
        cuts = [sum(sizes[:i]) for i in range(len(chunks) + 1)]
    shift = len(text) - len(text.lstrip()) - len(prefix)
    spans = []
    for a, b in zip(cuts, cuts[1:]):
        inside = [o for o in offsets[a:b] if o[1] > len(prefix) and o[0] < len(prefix) + len(stripped)]
        if not inside:
            spans.append((spans[-1][1] if spans else 0,) * 2)
            continue
        start = max(inside[0][0], len(prefix)) + shift
        end = min(inside[-1][1], len(prefix) + len(stripped)) + shift
        spans.append((start, end))
    return spans


_SENTENCE_ENDS = (".", "!", "?", "\n", ":", ";")


def _snap_cuts(tokenizer, ids: list[int], cuts: list[int], slack: int) -> list[int]:
    """Move each inner cut back by at most `slack` tokens to just after a sentence-ending token.

    A chunk then holds its equal share plus at most `slack` tokens, so it still fits the budget.
    """
    snapped = list(cuts)
    for i in range(1, len(cuts) - 1):
        for j in range(cuts[i], max(snapped[i - 1] + 1, cuts[i] - slack) - 1, -1):
            if tokenizer.decode([ids[j - 1]]).rstrip(" ").endswith(_SENTENCE_ENDS):
                snapped[i] = j
                break
    return snapped
