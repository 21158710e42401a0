"""Training examples for the hypernetwork: a context cut into chunks, a prompt and a response.

- ``NeedleTask``: haystack documents of 1..n chunks with the needle somewhere; prompt = the
  question; response = the 4 digits. Chunks come from ``hypernet.chunking.chunk_text``, so that
  training sees contexts wrapped exactly as the product wraps documents.
- ``JsonlTask``: generic (context, prompt[, response]) records for context distillation; the
  teacher reads the context in its prompt, the student only the prompt. With a teacher file
  (``hypernet.train.teacher``), each record carries the teacher's precomputed response and top-k.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from hypernet.chunking import chunk_text, template_affixes

from .needle import QUESTION, Haystacks


@dataclass
class Example:
    """One training context."""

    chunks: list[list[int]]  # templated token-id chunks of the context
    prompt: list[int]  # student prompt (no context), ends with the generation prompt
    response: list[int]  # tokens the student must produce ([] -> teacher generates them)
    teacher_prompt: list[int]  # the context in the prompt, then the same question
    teacher_topk: tuple[list[list[int]], list[list[float]]] | None = None  # precomputed (ids, log-probs)
    gold: bool = False  # learnt by cross-entropy on ``response`` whatever the objective (``MixedTask``)


def chat_prompt(tokenizer, content: str) -> list[int]:
    """Ids of one user turn (after an empty system message) plus the generation prompt."""
    messages = [{"role": "system", "content": ""}, {"role": "user", "content": content}]
    return list(tokenizer.apply_chat_template(messages, add_generation_prompt=True))


def response_ids(tokenizer, content: str, response: str) -> list[int]:
    """Ids that the chat template appends after the generation prompt for ``response``."""
    prompt = chat_prompt(tokenizer, content)
    full = list(tokenizer.apply_chat_template(
        [{"role": "system", "content": ""}, {"role": "user", "content": content},
         {"role": "assistant", "content": response}]))
    if full[: len(prompt)] != prompt:
        raise ValueError("the chat template's assistant turn does not extend its generation prompt")
    return full[len(prompt):]


def affix_tokens(tokenizer) -> int:
    """Tokens the chat template adds around each chunk."""
    prefix, suffix, _ = template_affixes(tokenizer)
    return len(tokenizer(prefix + suffix, add_special_tokens=False)["input_ids"]) + 2


def sample_chunk_count(rng: random.Random, probs: list[float]) -> int:
    """1..len(probs) chunks with the given probabilities."""
    return rng.choices(range(1, len(probs) + 1), weights=probs)[0]


def context_chunks(tok, text: str, rng: random.Random, max_chunk_tokens: int, probs: list[float], affix: int,
                   snap: bool, cap: int | None = None, single: bool = False) -> list[list[int]]:
    """Templated chunks of ``text``: below ``max_chunk_tokens``, ``cap`` keeps only its first ``cap`` tokens as
    one chunk (the curriculum's opening); else 1..n chunks (``probs``; one when ``single``) of equal size."""
    if cap is not None and cap < max_chunk_tokens:
        ids = tok(text, add_special_tokens=False)["input_ids"][: max(1, cap - affix)]
        return chunk_text(tok, tok.decode(ids), max_chunk_tokens=cap)[:1]
    n_tokens = len(tok(text, add_special_tokens=False)["input_ids"])
    wanted = 1 if single else sample_chunk_count(rng, probs)
    size = min(max_chunk_tokens, -(-n_tokens // wanted) + affix)
    return chunk_text(tok, text, max_chunk_tokens=max(size, 2 * affix), snap_to_sentences=snap)


class NeedleTask:
    """Needle documents of random chunk counts and sizes, answered with plain cross-entropy."""

    def __init__(self, tokenizer, haystacks: Haystacks, max_chunk_tokens: int, min_chunk_tokens: int,
                 chunk_probs: list[float], snap_to_sentences: bool = False):
        self.tok, self.hay = tokenizer, haystacks
        self.max_chunk, self.min_chunk, self.probs = max_chunk_tokens, min_chunk_tokens, chunk_probs
        self.snap = snap_to_sentences
        self.affix = affix_tokens(tokenizer)
        self.prompt = chat_prompt(tokenizer, QUESTION)

    def sample(self, rng: random.Random, max_chunk: int | None = None, single: bool = False) -> Example:
        n_chunks = 1 if single else sample_chunk_count(rng, self.probs)
        hi = max(6, min(max_chunk or self.max_chunk, self.max_chunk) - self.affix)
        size = rng.randint(min(self.min_chunk, hi // 2), hi)
        doc = self.hay.document(rng, n_chunks * size)
        chunks = chunk_text(self.tok, doc.text, max_chunk_tokens=size + self.affix, snap_to_sentences=self.snap)
        return Example(chunks, self.prompt, response_ids(self.tok, QUESTION, doc.answer),
                       chat_prompt(self.tok, f"{doc.text} {QUESTION}"))


class MixedTask:
    """Draws from ``other`` with probability ``share`` (marked ``gold``: learnt by cross-entropy on their
    answers), else from ``main``: renamed manual pages mixed into the prose and distillation stages, so the
    copy slots stay."""

    def __init__(self, main, other, share: float):
        self.main, self.other, self.share = main, other, share

    def sample(self, rng: random.Random, max_chunk: int | None = None, single: bool = False) -> Example:
        if rng.random() < self.share:
            return replace(self.other.sample(rng, max_chunk, single), gold=True)
        return self.main.sample(rng, max_chunk, single)


class JsonlTask:
    """Records ``{"context", "prompt", "response"?}`` from a JSONL file, for context distillation."""

    def __init__(self, tokenizer, path: str | Path, max_chunk_tokens: int, chunk_probs: list[float],
                 snap_to_sentences: bool = False, teacher_file: str | Path | None = None,
                 opening_kinds: list[str] | tuple[str, ...] = ()):
        self.tok, self.max_chunk, self.probs, self.snap = tokenizer, max_chunk_tokens, chunk_probs, snap_to_sentences
        self.records = [json.loads(ln) for ln in Path(path).read_text().splitlines() if ln.strip()]
        if not self.records or any("context" not in r or "prompt" not in r for r in self.records):
            raise ValueError(f"{path} must hold JSON lines with 'context' and 'prompt' (and optionally 'response')")
        self.affix = affix_tokens(tokenizer)
        self.teacher = None
        if teacher_file:
            from .teacher import load_teacher

            self.teacher = load_teacher(teacher_file)
            self.indices = [i for i in range(len(self.records)) if self.teacher.get(i, {}).get("response_ids")]
            if not self.indices:
                raise ValueError(f"{teacher_file} holds no teacher outputs for the records of {path}")
        else:
            self.indices = list(range(len(self.records)))
        # records whose answer the context's opening states (a manual page's NAME line), for the curriculum
        self.opening = [i for i in self.indices if self.records[i].get("kind") in opening_kinds] or self.indices

    def sample(self, rng: random.Random, max_chunk: int | None = None, single: bool = False) -> Example:
        """A record cut into 1..n chunks; below ``max_chunk_tokens``, ``max_chunk`` caps the context itself
        (curriculum): the first ``max_chunk`` tokens as one chunk, for a question its opening answers."""
        opening = max_chunk is not None and max_chunk < self.max_chunk
        index = rng.choice(self.opening if opening else self.indices)
        return self._example(index, context_chunks(self.tok, self.records[index]["context"], rng, self.max_chunk,
                                                   self.probs, self.affix, self.snap, max_chunk, single))

    def _example(self, index: int, chunks: list[list[int]]) -> Example:
        """Record ``index`` with the student's context ``chunks``; the teacher read the whole context."""
        rec = self.records[index]
        teacher_prompt = chat_prompt(self.tok, f"{rec['context']}\n\n{rec['prompt']}")
        if self.teacher is not None:
            t = self.teacher[index]
            return Example(chunks, chat_prompt(self.tok, rec["prompt"]), t["response_ids"], teacher_prompt,
                           (t["topk_idx"], t["topk_logp"]))
        resp = response_ids(self.tok, rec["prompt"], rec["response"]) if rec.get("response") else []
        return Example(chunks, chat_prompt(self.tok, rec["prompt"]), resp, teacher_prompt)


def pad_rows(rows: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded (ids, attention mask) of a list of id lists."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r, dtype=torch.long)
        mask[i, : len(r)] = 1
    return ids, mask


def with_response(prompts: list[list[int]], responses: list[list[int]], pad_id: int):
    """(ids, mask, starts, lengths): prompt + response rows; starts[i] is the position whose logits
    predict the first response token of row i."""
    ids, mask = pad_rows([p + r for p, r in zip(prompts, responses)], pad_id)
    starts = torch.tensor([len(p) - 1 for p in prompts])
    lengths = torch.tensor([len(r) for r in responses])
    return ids, mask, starts, lengths


def gather_positions(logits: torch.Tensor, starts: torch.Tensor, lengths: torch.Tensor):
    """(B, Rmax, V) logits at each row's response positions, and the (B, Rmax) validity mask."""
    rmax = int(lengths.max())
    offs = torch.arange(rmax, device=logits.device)
    pos = (starts.to(logits.device)[:, None] + offs[None, :]).clamp(max=logits.shape[1] - 1)
    valid = offs[None, :] < lengths.to(logits.device)[:, None]
    picked = logits.gather(1, pos[..., None].expand(-1, -1, logits.shape[-1]))
    return picked, valid


def padded_topk(topks: list[tuple[list[list[int]], list[list[float]]]], width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, width, k) teacher top-k ids and log-probs; rows past a response's end are zeros (masked)."""
    k = len(topks[0][0][0])
    idx = torch.zeros((len(topks), width, k), dtype=torch.long)
    vals = torch.zeros((len(topks), width, k), dtype=torch.float32)
    for b, (ids, logp) in enumerate(topks):
        n = min(width, len(ids))
        idx[b, :n] = torch.tensor(ids[:n], dtype=torch.long)
        vals[b, :n] = torch.tensor(logp[:n], dtype=torch.float32)
    return idx, vals
