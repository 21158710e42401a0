"""Stage 1: train a small Llama-style chat model that answers needle questions with the haystack
in its prompt (``user: {haystack} {question} assistant: dddd</s>``), within its native window.

The loss covers every token (so the model also learns the prose it will later encode for the
hypernetwork), with the answer tokens weighted up: a plain LM learns the copy task much faster
that way than from the answer alone.
"""

from __future__ import annotations

import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from .config import cosine_lr
from .needle import QUESTION, Haystacks


@dataclass
class BaseLMConfig:
    """Architecture and schedule of the stage-1 model."""

    # the Llama model
    hidden_size: int = 128
    num_layers: int = 4
    num_heads: int = 4
    intermediate_size: int = 384  # MLP width (the d_in of the hypernetwork's down_proj LoRA)
    window: int = 256  # context length in tokens
    # the schedule: AdamW with a linear warmup then cosine decay (config.cosine_lr)
    steps: int = 700
    batch_size: int = 32  # documents per step
    lr: float = 1e-3
    warmup: int = 100
    answer_weight: float = 20.0  # loss weight of the answer's tokens (the prompt's weigh 1)
    min_haystack: int = 16  # shortest haystack in tokens
    seed: int = 0
    eval_every: int = 100  # steps between held-out in-prompt accuracy checks (0: never)
    eval_docs: int = 48  # documents per check
    stop_accuracy: float = 0.98  # stop early once held-out in-prompt accuracy reaches this
    min_steps: int = 400  # ... but never before this step


def new_model(cfg: BaseLMConfig, tokenizer):
    """A randomly initialised Llama model sized by ``cfg`` for ``tokenizer``."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=cfg.hidden_size, num_hidden_layers=cfg.num_layers,
        num_attention_heads=cfg.num_heads, num_key_value_heads=cfg.num_heads,
        intermediate_size=cfg.intermediate_size, max_position_embeddings=cfg.window,
        tie_word_embeddings=True, rms_norm_eps=1e-5, rope_theta=10000.0,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, torch_dtype="float32",
    )
    return LlamaForCausalLM(config)


def question_prompt(tokenizer, haystack: str | None) -> list[int]:
    """Prompt ids: the question alone, or the haystack followed by the question, as one user turn."""
    content = QUESTION if haystack is None else f"{haystack} {QUESTION}"
    messages = [{"role": "system", "content": ""}, {"role": "user", "content": content}]
    return tokenizer.apply_chat_template(messages, add_generation_prompt=True)


def answer_ids(tokenizer, answer: str) -> list[int]:
    """Ids that follow the generation prompt: `` dddd</s>`` (the prefix property is checked)."""
    prompt = question_prompt(tokenizer, None)
    full = tokenizer.apply_chat_template(
        [{"role": "user", "content": QUESTION}, {"role": "assistant", "content": answer}])
    if full[: len(prompt)] != prompt:
        raise RuntimeError("the chat template does not extend the generation prompt")
    return full[len(prompt):]


def make_batch(hay: Haystacks, rng: random.Random, cfg: BaseLMConfig):
    """(input_ids, attention_mask, loss weights) of ``batch_size`` examples of about equal length."""
    tok = hay.tokenizer
    overhead = len(question_prompt(tok, "")) + len(answer_ids(tok, "0000")) + 2
    n_hay = rng.randint(cfg.min_haystack, cfg.window - overhead)
    rows, weights = [], []
    for _ in range(cfg.batch_size):
        doc = hay.document(rng, n_hay)
        prompt, ans = question_prompt(tok, doc.text), answer_ids(tok, doc.answer)
        ids = (prompt + ans)[: cfg.window]
        w = [1.0] * len(prompt) + [cfg.answer_weight] * len(ans)
        rows.append(ids)
        weights.append(w[: len(ids)])
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), tok.pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    wts = torch.zeros((len(rows), width))
    for i, (r, w) in enumerate(zip(rows, weights)):
        ids[i, : len(r)] = torch.tensor(r)
        mask[i, : len(r)] = 1
        wts[i, : len(w)] = torch.tensor(w)
    return ids, mask, wts


def lm_loss(model, ids: torch.Tensor, mask: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Weighted next-token cross-entropy (targets shifted by one; padding weighs zero)."""
    logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1]
    target, w = ids[:, 1:], weights[:, 1:] * mask[:, 1:]
    ce = F.cross_entropy(logits.reshape(-1, logits.size(-1)), target.reshape(-1), reduction="none")
    return (ce * w.reshape(-1)).sum() / w.sum()


@torch.no_grad()
def greedy_answer(model, prompt: list[int], max_new: int = 6, eos_id: int | None = None) -> list[int]:
    """Greedy decoding of a few tokens (for held-out accuracy during training)."""
    ids = torch.tensor([prompt])
    out: list[int] = []
    for _ in range(max_new):
        nxt = int(model(input_ids=ids).logits[0, -1].argmax())
        if nxt == eos_id:
            break
        out.append(nxt)
        ids = torch.cat([ids, torch.tensor([[nxt]])], dim=1)
    return out


def in_prompt_accuracy(model, hay: Haystacks, n_docs: int, n_tokens: int, seed: int = 1234) -> float:
    """Exact-match accuracy with the haystack in the prompt (documents of ``n_tokens`` tokens)."""
    from .needle import extract_answer

    rng, tok, hits = random.Random(seed), hay.tokenizer, 0
    model.eval()
    for _ in range(n_docs):
        doc = hay.document(rng, n_tokens)
        reply = tok.decode(greedy_answer(model, question_prompt(tok, doc.text), eos_id=tok.eos_token_id))
        hits += extract_answer(reply) == doc.answer
    model.train()
    return hits / n_docs


def train_base(cfg: BaseLMConfig, tokenizer, train: Haystacks, heldout: Haystacks, out_dir: Path,
               log=print) -> Path:
    """Train stage 1 on CPU/GPU and ``save_pretrained`` the model and tokenizer into ``out_dir``."""
    torch.manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    model = new_model(cfg, tokenizer)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.1, betas=(0.9, 0.95))
    t0, tokens = time.time(), 0
    for step in range(cfg.steps):
        for group in opt.param_groups:
            group["lr"] = cosine_lr(step, cfg.steps, cfg.lr, cfg.warmup)
        ids, mask, wts = make_batch(train, rng, cfg)
        loss = lm_loss(model, ids, mask, wts)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        tokens += int(mask.sum())
        if step % 20 == 0 or step == cfg.steps - 1:
            log(f"stage1 step {step} loss {loss.item():.3f} tok/s {tokens / (time.time() - t0):.0f}")
        if cfg.eval_every and (step + 1) % cfg.eval_every == 0:
            acc = in_prompt_accuracy(model, heldout, cfg.eval_docs, cfg.window - 40)
            log(f"stage1 step {step + 1} held-out in-prompt accuracy {acc:.2%}")
            if acc >= cfg.stop_accuracy and step + 1 >= cfg.min_steps:
                break
    out_dir = Path(out_dir)
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir, save_jinja_files=False)
    (out_dir / "training_args.json").write_text(__import__("json").dumps(asdict(cfg), indent=2))
    log(f"stage1 done in {time.time() - t0:.0f} s")
    return out_dir
