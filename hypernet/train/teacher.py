"""Teacher outputs computed once, before training: the frozen base with the context in its prompt.

For each ``{"context", "prompt"}`` record the teacher answers greedily; its response token ids and,
at every response position, its top-k next-token log-probabilities are appended to a JSONL file
(one line per record, keyed by the record's index), so an interrupted run resumes where it
stopped and training never runs the teacher (50-100 s per step on 2 cores when it did).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from .data import chat_prompt


def teacher_prompt(tokenizer, context: str, prompt: str) -> list[int]:
    """The teacher's view: the context, a blank line, the question (one user turn)."""
    return chat_prompt(tokenizer, f"{context}\n\n{prompt}")


def stop_ids(tokenizer) -> list[int]:
    """Tokens that end a response: eos and the ChatML turn end where the vocabulary has it."""
    ends = [t for t in ("<|im_end|>",) if t in tokenizer.get_vocab()]
    return sorted({tokenizer.eos_token_id, *tokenizer.convert_tokens_to_ids(ends)})


@torch.no_grad()
def generate_batch(model, tokenizer, prompts: list[list[int]], max_new_tokens: int, top_k: int,
                   stops: list[int]) -> list[dict]:
    """Greedy responses of a left-padded batch, with per-position top-k log-probs."""
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    width = max(map(len, prompts))
    ids = torch.full((len(prompts), width), pad, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, p in enumerate(prompts):
        ids[i, width - len(p):] = torch.tensor(p)
        mask[i, width - len(p):] = 1
    out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=max_new_tokens, do_sample=False,
                         eos_token_id=stops, pad_token_id=pad, output_logits=True, return_dict_in_generate=True)
    logits = torch.stack(out.logits, dim=1).float()  # (B, steps, V)
    logp = logits.log_softmax(-1)
    vals, idx = logp.topk(top_k, dim=-1)
    gen = out.sequences[:, width:]
    results = []
    for b in range(len(prompts)):
        resp = gen[b].tolist()
        n = next((i + 1 for i, t in enumerate(resp) if t in stops), len(resp))
        results.append({"response_ids": resp[:n], "topk_idx": idx[b, :n].tolist(),
                        "topk_logp": [[round(v, 3) for v in row] for row in vals[b, :n].tolist()]})
    return results


def _pending(records_path: str | Path, out_path: Path) -> tuple[list[dict], int, list[int]]:
    """The records, how many ``out_path`` already answers, and the indices still to answer (a resume)."""
    records = [json.loads(ln) for ln in Path(records_path).read_text(encoding="utf-8").splitlines() if ln.strip()]
    done = set(load_teacher(out_path)) if out_path.exists() else set()
    return records, len(done), [i for i in range(len(records)) if i not in done]


def _progress(log, answered: int, total: int, n: int, left: int, t0: float) -> None:
    rate = n / max(time.time() - t0, 1e-9)
    log(f"teacher {answered}/{total} ({rate:.2f} records/s, ~{left / max(rate, 1e-9) / 60:.0f} min left)")


def precompute(base_model: str | Path, records_path: str | Path, out_path: str | Path, *, max_new_tokens: int = 40,
               top_k: int = 16, batch_size: int = 8, threads: int = 2, bf16: bool | None = None, log=print) -> Path:
    """Teacher outputs for every record of ``records_path`` into ``out_path`` (resumes)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from hypernet.device import cpu_has_native_bf16

    torch.set_num_threads(threads)
    out_path = Path(out_path)
    records, done, todo = _pending(records_path, out_path)
    tok = AutoTokenizer.from_pretrained(base_model)
    model = AutoModelForCausalLM.from_pretrained(base_model, dtype=torch.float32).eval()
    stops = stop_ids(tok)
    use_bf16 = cpu_has_native_bf16() if bf16 is None else bf16
    prompts = {i: teacher_prompt(tok, records[i]["context"], records[i]["prompt"]) for i in todo}
    todo.sort(key=lambda i: len(prompts[i]))  # similar lengths together: little padding
    t0, n = time.time(), 0
    with open(out_path, "a", encoding="utf-8") as f:
        for s in range(0, len(todo), batch_size):
            batch = todo[s : s + batch_size]
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=use_bf16):
                results = generate_batch(model, tok, [prompts[i] for i in batch], max_new_tokens, top_k, stops)
            for i, r in zip(batch, results):
                f.write(json.dumps({"i": i, **r}) + "\n")
            f.flush()
            n += len(batch)
            if (s // batch_size) % 10 == 0:
                _progress(log, done + n, len(records), n, len(todo) - n, t0)
    return out_path


def load_teacher(path: str | Path) -> dict[int, dict]:
    """Index -> {response_ids, topk_idx, topk_logp} of a teacher file (a line cut by an
    interruption is skipped, so that record is computed again on resume)."""
    out = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        out[rec.pop("i")] = rec
    return out


def precompute_gguf(gguf: str | Path, tokenizer_dir: str | Path, records_path: str | Path, out_path: str | Path, *,
                    max_new_tokens: int = 40, top_k: int = 16, threads: int = 2, n_ctx: int = 4096,
                    log=print) -> Path:
    """``precompute``'s teacher outputs (same file) computed by llama.cpp on a GGUF of the base (a pair's chat
    model): on a CPU it is several times faster than torch's batched generation, and consecutive records
    about the same context reuse the context's cache (the context comes first in the teacher's prompt)."""
    import llama_cpp
    import numpy as np
    from transformers import AutoTokenizer

    from converters.llama import open_model

    out_path = Path(out_path)
    records, done, todo = _pending(records_path, out_path)
    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    stops = set(stop_ids(tok))
    llm = open_model(gguf, n_ctx=n_ctx, n_threads=threads)
    n_vocab = llm.n_vocab()
    t0 = time.time()
    with open(out_path, "a", encoding="utf-8") as f:
        for n, i in enumerate(todo, 1):
            prompt = teacher_prompt(tok, records[i]["context"], records[i]["prompt"])
            if len(prompt) + max_new_tokens > n_ctx:
                continue  # longer than the teacher's window: no teacher output (the record is skipped)
            # keep the cache of the prompt's start that the last record shared (at least one token is evaluated)
            keep = min(llama_cpp.Llama.longest_token_prefix(llm.input_ids[: llm.n_tokens], prompt), len(prompt) - 1)
            llm.n_tokens = keep
            llm.eval(prompt[keep:])
            resp, ids, logps = [], [], []
            for _ in range(max_new_tokens):
                # the last position's logits (llama.cpp keeps only those without logits_all)
                logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits(llm.ctx), shape=(n_vocab,)).astype(np.float64)
                logp = logits - logits.max()
                logp -= np.log(np.exp(logp).sum())
                top = np.argpartition(-logp, top_k)[:top_k]
                top = top[np.argsort(-logp[top])]
                resp.append(int(top[0]))
                ids.append(top.tolist())
                logps.append([round(float(v), 3) for v in logp[top]])
                if resp[-1] in stops:
                    break
                llm.eval([resp[-1]])
            f.write(json.dumps({"i": i, "response_ids": resp, "topk_idx": ids, "topk_logp": logps}) + "\n")
            f.flush()
            if n % 50 == 0:
                _progress(log, done + n, len(records), n, len(todo) - n, t0)
    llm.close()
    return out_path
