"""Meta-training loop of the D2L hypernetwork (stage 2).

One process on CPU or one GPU as ``python -m hypernet.train``; several GPUs through
``accelerate launch -m hypernet.train ...`` (the Accelerator handles DDP, bf16 autocast and
gradient accumulation). The base model stays frozen; only the hypernetwork learns.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path

import torch

from hypernet.apply import lora_applied
from hypernet.checkpoint import load_checkpoint, save_checkpoint
from hypernet.device import cpu_has_native_bf16
from hypernet.encoder import ContextEncoder
from hypernet.model import HypernetConfig, HypernetModel

from .config import AdaptiveCurriculum, TrainConfig, chunk_cap_at, lr_at
from .data import Example, JsonlTask, MixedTask, NeedleTask, gather_positions, pad_rows, padded_topk, with_response
from .needle import Haystacks, extract_answer
from .objectives import answer_cross_entropy, l1_penalty, topk_cross_entropy, topk_distillation
from .prose_qa import ProseTask
from .qa_score import gold_recall, invented_names, known_words, token_f1
from .renamed import RenamedPagesTask
from .state import list_checkpoints, load_training_state, save_training_state


def hypernet_config_for(base_config, cfg: TrainConfig) -> HypernetConfig:
    """The HypernetConfig of a base model (down_proj of every layer, or of the last ``cfg.lora_layers``)
    with cfg's perceiver geometry."""
    depth = base_config.num_hidden_layers
    if not 0 <= cfg.lora_layers <= depth:
        raise ValueError(f"lora_layers must be between 0 (every layer) and the base's {depth} layers, got {cfg.lora_layers}")
    layers = list(range(depth - cfg.lora_layers, depth)) if cfg.lora_layers else list(range(depth))
    return HypernetConfig(
        n_layers=len(layers), layer_indices=layers, base_hidden_size=base_config.hidden_size,
        early_exit_layer=(cfg.early_exit_layer or max(1, depth // 4)) if cfg.encoder_type == "early_exit" else None,
        d_in=base_config.intermediate_size, d_out=base_config.hidden_size,
        encoder_type=cfg.encoder_type, rank=cfg.rank, lora_alpha=cfg.lora_alpha,
        latent_size=cfg.latent_size, n_latent_queries=cfg.n_latent_queries, num_blocks=cfg.num_blocks,
        n_heads=cfg.n_heads, head_dim=cfg.head_dim, n_kv_heads=cfg.n_kv_heads,
        chunk_tokens=cfg.max_chunk_tokens if cfg.record_chunk_tokens else None, feature_norm=cfg.feature_norm,
        center_latents=cfg.center_latents, copy_slots=cfg.copy_slots,
    )


def param_groups(model: HypernetModel, cfg: TrainConfig) -> list[dict]:
    """AdamW groups: the LoRA scalers without weight decay, scaler_B (it starts at 0, so no document
    reaches the LoRA until it grows) at ``scaler_lr_mult`` times the learning rate; the rest as is.

    scaler_A keeps the base rate: at a multiplied rate the L1 penalty drove it to ~0 within tens of
    steps, before scaler_B had grown, and the document path never opened (only the bias LoRA learned).
    """
    named = list(model.named_parameters())
    if cfg.scaler_lr_mult == 1.0:
        return [{"params": [p for _, p in named]}]
    pick = lambda *prefixes: [p for n, p in named if n.startswith(prefixes)]  # noqa: E731
    others = [p for n, p in named if not n.startswith(("scaler_A", "scaler_B"))]
    return [{"params": others}, {"params": pick("scaler_A"), "weight_decay": 0.0},
            {"params": pick("scaler_B"), "lr_mult": cfg.scaler_lr_mult, "weight_decay": 0.0}]


def zero_head_b(model: HypernetModel, scaler_b: float) -> None:
    """Move the zero of the generated B from scaler_B to the head's B columns (same initial LoRA: B = 0),
    with scaler_B at ``scaler_b``.

    With scaler_B at 0 the head's B columns get no gradient, and while it is small they learn at its
    scale, so the context-free bias LoRA learns instead; here they learn from step 0 at ``scaler_b``.
    """
    d_in = model.cfg.d_in
    with torch.no_grad():
        model.head.weight[..., d_in:] = 0.0
        for p in model.scaler_B.values():
            p.fill_(scaler_b)


def scaler_means(model: HypernetModel) -> tuple[float, float]:
    """Mean |scaler_A| and |scaler_B|: whether generated (document) LoRAs reach the base at all."""
    a = torch.cat([p.detach().abs().flatten() for p in model.scaler_A.values()]).mean()
    b = torch.cat([p.detach().abs().flatten() for p in model.scaler_B.values()]).mean()
    return float(a), float(b)


def mean_pairwise_cosine(rows: torch.Tensor) -> float:
    """Mean cosine between distinct rows of ``rows`` (n, ...), each flattened."""
    v = torch.nn.functional.normalize(rows.flatten(1).float(), dim=1)
    cos = v @ v.T
    n = cos.shape[0]
    return float((cos.sum() - cos.diagonal().sum()) / max(1, n * n - n))


class Trainer:
    """Holds the frozen base model, its context encoder, the hypernetwork and the optimizer."""

    def __init__(self, cfg: TrainConfig):
        from accelerate import Accelerator
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.cfg = cfg
        use_bf16 = cfg.precision == "bf16" or (cfg.precision == "auto" and (torch.cuda.is_available() or cpu_has_native_bf16()))
        self.acc = Accelerator(mixed_precision="bf16" if use_bf16 else "no",
                               gradient_accumulation_steps=cfg.grad_accum)
        if self.acc.device.type == "cpu":
            torch.set_num_threads(cfg.threads)
        torch.manual_seed(cfg.seed)
        self.rng = random.Random(cfg.seed * 1000 + self.acc.process_index)
        self.tok = AutoTokenizer.from_pretrained(cfg.base_model)
        self.pad_id = self.tok.pad_token_id if self.tok.pad_token_id is not None else self.tok.eos_token_id
        # fp32 weights under bf16 autocast on CPU: bf16 weights without autocast take torch's slow path
        dtype = torch.bfloat16 if use_bf16 and self.acc.device.type == "cuda" else torch.float32
        self.base = AutoModelForCausalLM.from_pretrained(cfg.base_model, torch_dtype=dtype).to(self.acc.device).eval()
        self.base.requires_grad_(False)
        self.hcfg = hypernet_config_for(self.base.config, cfg)
        self.encoder = ContextEncoder(self.base, cfg.encoder_type, self.hcfg.early_exit_layer)
        self.task, self.eval_task = self._tasks()
        self.lora_scale = 1.0  # times lora_alpha; the eval sets 0 (no LoRA) and other scales
        model = HypernetModel(self.hcfg)
        if cfg.init_from:
            self._init_weights(model, cfg.init_from)
        else:
            if cfg.scaler_b_init > 0:
                zero_head_b(model, cfg.scaler_b_init)
            if cfg.feature_norm:
                self._fit_feature_norm(model)
        opt = torch.optim.AdamW(param_groups(model, cfg), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.model, self.opt = self.acc.prepare(model, opt)

    def _init_weights(self, model: HypernetModel, path: str) -> None:
        """Start from the weights of an earlier run (same base shapes and perceiver geometry)."""
        ck = load_checkpoint(path)
        if ck.config.to_dict() != self.hcfg.to_dict():
            raise ValueError(f"init_from {path}: its hypernetwork geometry differs from this run's config")
        model.load_state_dict(ck.state_dict)

    def _fit_feature_norm(self, model: HypernetModel, n_chunks: int = 64) -> None:
        """Feature statistics of a fixed sample of training chunks (drawn from the run's seed)."""
        feats, mask = self._features(self._sample_chunks(n_chunks))
        model.feature_norm.fit(feats.cpu(), mask.cpu())

    def _sample_chunks(self, n_chunks: int) -> list[list[int]]:
        """A fixed sample of ``n_chunks`` training chunks (drawn from the run's seed)."""
        rng = random.Random(self.cfg.seed + 1)
        chunks: list[list[int]] = []
        while len(chunks) < n_chunks:
            chunks += self.task.sample(rng).chunks
        return chunks[:n_chunks]

    @torch.no_grad()
    def calibrate_centering(self, n_chunks: int = 64) -> None:
        """Set the latent centring's means to their exact values under the current weights, on a fixed
        sample of training chunks: the running means lag the weights, and a lag larger than what tells
        documents apart gives every document the same LoRA outside training."""
        if not self.hcfg.center_latents:
            return
        model = self.unwrapped
        centring = [model.center, model.center_unit]
        momenta = [m.momentum for m in centring]
        for m in centring:
            m.momentum = 1.0  # one batch of all the chunks: its exact mean
        model.train()
        try:
            with self.acc.autocast():
                model.generate_loras(*self._features(self._sample_chunks(n_chunks)))
        finally:  # a failed calibration must not leave the running means at momentum 1
            for m, momentum in zip(centring, momenta):
                m.momentum = momentum

    def _tasks(self):
        cfg = self.cfg
        if cfg.objective == "needle":
            make = lambda f: NeedleTask(self.tok, Haystacks.from_file(f, self.tok), cfg.max_chunk_tokens,  # noqa: E731
                                        cfg.min_chunk_tokens, cfg.chunk_probs, cfg.snap_to_sentences)
            return make(cfg.train_file), (make(cfg.eval_file) if cfg.eval_file else None)
        if cfg.objective == "rename":  # the eval asks every page its (new) command's name
            make = lambda f, share, pairs: RenamedPagesTask(self.tok, f, cfg.max_chunk_tokens, cfg.chunk_probs,  # noqa: E731
                                                            cfg.snap_to_sentences, share, cfg.curriculum_kinds, pairs)
            return (make(cfg.train_file, cfg.name_share, cfg.pair_share),
                    make(cfg.eval_file, 1.0, 0.0) if cfg.eval_file else None)
        manual = (RenamedPagesTask(self.tok, cfg.manual_file, cfg.max_chunk_tokens, cfg.chunk_probs,
                                   cfg.snap_to_sentences, cfg.name_share, cfg.curriculum_kinds, cfg.pair_share)
                  if cfg.manual_file and cfg.manual_share > 0 else None)
        mixed = lambda task: MixedTask(task, manual, cfg.manual_share) if manual else task  # noqa: E731
        if cfg.objective == "prose":
            make = lambda f, fresh: ProseTask(self.tok, f, cfg.max_chunk_tokens, cfg.chunk_probs,  # noqa: E731
                                              cfg.snap_to_sentences, fresh)
            return (mixed(make(cfg.train_file, cfg.fresh_share)),
                    make(cfg.eval_file, 0.0) if cfg.eval_file else None)
        make = lambda f, t: JsonlTask(self.tok, f, cfg.max_chunk_tokens, cfg.chunk_probs, cfg.snap_to_sentences, t,  # noqa: E731
                                      cfg.curriculum_kinds)
        return (mixed(make(cfg.train_file, cfg.teacher_file)),
                make(cfg.eval_file, cfg.eval_teacher_file) if cfg.eval_file else None)

    @property
    def unwrapped(self) -> HypernetModel:
        return self.acc.unwrap_model(self.model)

    def _features(self, chunks: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Frozen context features of right-padded ``chunks`` and their mask, on the training device."""
        ids, mask = pad_rows(chunks, self.pad_id)
        mask = mask.to(self.acc.device)
        return self.encoder(ids.to(self.acc.device), mask), mask

    def generate_loras(self, examples: list[Example]) -> tuple[torch.Tensor, torch.Tensor]:
        """Combined LoRA (docs, L, R, d) of each example's chunks (gradients reach the hypernet)."""
        feats, mask = self._features([c for ex in examples for c in ex.chunks])
        return self.model(feats, mask, [len(ex.chunks) for ex in examples])

    def _responses(self, examples: list[Example]) -> list[list[int]]:
        """Given responses, or greedy teacher continuations (context in the prompt) when absent."""
        out = []
        for ex in examples:
            if ex.response:
                out.append(ex.response)
                continue
            ids = torch.tensor([ex.teacher_prompt], device=self.acc.device)
            with torch.no_grad():
                gen = self.base.generate(ids, max_new_tokens=self.cfg.max_response_tokens, do_sample=False,
                                         pad_token_id=self.pad_id)
            out.append(gen[0, ids.shape[1]:].tolist())
        return out

    def loss(self, examples: list[Example], l1_coef: float | None = None) -> tuple[torch.Tensor, dict]:
        """Objective + L1 on the combined LoRA, and stats (task loss, l1, tokens)."""
        A, B = self.generate_loras(examples)
        responses = self._responses(examples)
        s_ids, s_mask, s_starts, s_len = with_response([ex.prompt for ex in examples], responses, self.pad_id)
        dev = self.acc.device
        with lora_applied(self.base, A, B, self.hcfg.lora_alpha * self.lora_scale, self.hcfg.layer_indices):
            logits = self.base(input_ids=s_ids.to(dev), attention_mask=s_mask.to(dev)).logits
        student, valid = gather_positions(logits, s_starts, s_len)
        task = self._task_loss(examples, responses, student, valid)
        l1 = l1_penalty(A, B)
        tokens = sum(len(c) for ex in examples for c in ex.chunks) + int(s_mask.sum())
        coef = self.cfg.l1_coef if l1_coef is None else l1_coef
        return task + coef * l1, {"task": task.item(), "l1": l1.item(), "tokens": tokens}

    def _task_loss(self, examples: list[Example], responses: list[list[int]], student: torch.Tensor,
                   valid: torch.Tensor) -> torch.Tensor:
        """The batch's mean objective: cross-entropy on the responses of the needle, rename and prose objectives'
        examples and of ``gold`` ones (manual pages mixed into a distillation), top-k distillation on the rest
        (precomputed top-k, else the teacher run here)."""
        dev = self.acc.device
        ce_only = self.cfg.objective in ("needle", "rename", "prose")
        gold = [i for i, ex in enumerate(examples) if ce_only or ex.gold]
        rest = [i for i, ex in enumerate(examples) if not (ce_only or ex.gold)]
        total = student.new_zeros((), dtype=torch.float32)
        if gold:
            targets = pad_rows([responses[i] for i in gold], self.pad_id)[0].to(dev)
            n = targets.shape[1]  # the batch's responses are padded to the longest; gold ones may be shorter
            total = total + len(gold) * answer_cross_entropy(student[gold, :n], targets, valid[gold, :n])
        if rest and all(examples[i].teacher_topk for i in rest):
            idx, vals = padded_topk([examples[i].teacher_topk for i in rest], student.shape[1])
            total = total + len(rest) * topk_cross_entropy(student[rest], idx.to(dev), vals.to(dev), valid[rest])
        elif rest:
            t_ids, t_mask, t_starts, t_len = with_response([examples[i].teacher_prompt for i in rest],
                                                           [responses[i] for i in rest], self.pad_id)
            with torch.no_grad():
                t_logits = self.base(input_ids=t_ids.to(dev), attention_mask=t_mask.to(dev)).logits
            teacher, _ = gather_positions(t_logits, t_starts, t_len)
            total = total + len(rest) * topk_distillation(student[rest], teacher, valid[rest], self.cfg.top_k)
        return total / len(examples)

    def step(self, examples: list[Example], step: int, l1_coef: float | None = None) -> dict:
        """One micro-batch: forward, backward, and (at accumulation boundaries) an optimizer step."""
        for group in self.opt.param_groups:
            group["lr"] = lr_at(step, self.cfg) * group.get("lr_mult", 1.0)
        self.model.train()
        with self.acc.accumulate(self.model), self.acc.autocast():
            loss, stats = self.loss(examples, l1_coef)
            self.acc.backward(loss)
            if self.acc.sync_gradients and self.cfg.grad_clip:
                self.acc.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
            self.opt.step()
            self.opt.zero_grad(set_to_none=True)
        return {"loss": loss.item(), **stats}

    @torch.no_grad()
    def needle_accuracy(self, n_tokens: int, n_docs: int, seed: int = 4321) -> float:
        """Held-out exact-match accuracy at ``n_tokens``-token documents (chunks of max_chunk_tokens)."""
        from hypernet.chunking import chunk_text

        task: NeedleTask = self.eval_task
        rng, hits = random.Random(seed), 0
        for _ in range(n_docs):
            doc = task.hay.document(rng, n_tokens)
            chunks = chunk_text(self.tok, doc.text, self.cfg.max_chunk_tokens, snap_to_sentences=self.cfg.snap_to_sentences)
            hits += extract_answer(self._greedy_reply(Example(chunks, task.prompt, [], []), 6)) == doc.answer
        return hits / n_docs

    @torch.no_grad()
    def answer_accuracy(self, n_docs: int, seed: int = 4321) -> float:
        """Share of ``n_docs`` eval contexts whose greedy reply (with the context's LoRA) contains the
        expected response (the renamed command's name, for the copy task)."""
        hits = 0
        for ex in self._eval_examples(n_docs, seed):
            expected = self.tok.decode(ex.response, skip_special_tokens=True).strip().lower()
            hits += bool(expected) and expected in self._greedy_reply(ex, len(ex.response) + 2).lower()
        return hits / n_docs

    def _greedy_reply(self, ex: Example, max_tokens: int, lora: tuple[torch.Tensor, torch.Tensor] | None = None) -> str:
        """Greedy decoding of ``ex.prompt`` with the LoRA of ``ex.chunks`` (``lora`` when already generated;
        at ``lora_scale``), up to the end of the turn."""
        A, B = lora if lora is not None else self._lora(ex)
        ids, past, out = torch.tensor([ex.prompt], device=self.acc.device), None, []
        with lora_applied(self.base, A, B, self.hcfg.lora_alpha * self.lora_scale, self.hcfg.layer_indices):
            for _ in range(max_tokens):
                step = self.base(input_ids=ids, past_key_values=past, use_cache=True)
                nxt, past = int(step.logits[0, -1].argmax()), step.past_key_values
                if nxt in self.stop_ids:
                    break
                out.append(nxt)
                ids = torch.tensor([[nxt]], device=ids.device)
        return self.tok.decode(out)

    def _lora(self, ex: Example) -> tuple[torch.Tensor, torch.Tensor]:
        self.model.eval()
        with self.acc.autocast():
            return self.generate_loras([ex])

    @cached_property
    def stop_ids(self) -> frozenset[int]:
        """Tokens that end a reply: the tokenizer's special tokens and the model's end of turn (SmolLM2's
        tokenizer calls <|im_start|> its eos; its generation config ends on <|im_end|>)."""
        eos = self.base.generation_config.eos_token_id
        eos = eos if isinstance(eos, list) else [eos]
        return frozenset(i for i in [self.tok.eos_token_id, *self.tok.all_special_ids, *eos] if i is not None)

    @torch.no_grad()
    def scale_scores(self, examples: list[Example], scales: Sequence[float],
                     max_tokens: int = 48) -> dict[float, tuple[float, float, float]]:
        """Mean token F1 and gold recall of the greedy replies against each example's response, and the share
        of replies holding an invented name (``qa_score.invented_names``: known are the document's words, the
        question's and the base's own reply at scale 0), with its LoRA at each scale (0: the base alone)."""
        golds = [self.tok.decode([t for t in ex.response if t not in self.stop_ids]) for ex in examples]
        replies, loras = {}, [self._lora(ex) for ex in examples]  # each LoRA once, whatever the scales
        try:
            for scale in scales:
                self.lora_scale = scale
                replies[scale] = [self._greedy_reply(ex, max_tokens, lora) for ex, lora in zip(examples, loras)]
        finally:
            self.lora_scale = 1.0
        base = replies.get(0.0, [""] * len(examples))
        known = [known_words(self.tok.decode([t for c in ex.chunks for t in c], skip_special_tokens=True),
                             self.tok.decode(ex.prompt, skip_special_tokens=True), b) for ex, b in zip(examples, base)]
        n = len(examples)
        return {s: (sum(map(token_f1, got, golds)) / n, sum(map(gold_recall, got, golds)) / n,
                    sum(bool(invented_names(r, k)) for r, k in zip(got, known)) / n) for s, got in replies.items()}

    @torch.no_grad()
    def eval_loss(self, n_docs: int, seed: int = 4321) -> float:
        """Mean held-out objective over ``n_docs`` contexts."""
        return self._mean_loss(self._eval_examples(n_docs, seed))

    @torch.no_grad()
    def content_gap(self, n_docs: int, seed: int = 4321) -> tuple[float, float]:
        """Mean held-out task loss over ``n_docs`` contexts with
        each one's own LoRA, and with the next context's LoRA instead: equal values mean the LoRAs
        carry no document content."""
        examples = self._eval_examples(n_docs, seed)
        swapped = [dataclasses.replace(ex, chunks=examples[(i + 1) % n_docs].chunks) for i, ex in enumerate(examples)]
        return self._mean_loss(examples), self._mean_loss(swapped)

    @torch.no_grad()
    def scale_losses(self, examples: list[Example], scales: Sequence[float]) -> dict[float, float]:
        """Mean task loss over ``examples`` with each one's LoRA at each scale (0: the base alone, no
        document)."""
        out = {}
        try:
            for scale in scales:
                self.lora_scale = scale
                out[scale] = self._mean_loss(examples)
        finally:
            self.lora_scale = 1.0
        return out

    @torch.no_grad()
    def lora_similarity(self, n_docs: int, seed: int = 4321) -> float:
        """Mean pairwise cosine of the generated (document) LoRAs of ``n_docs`` held-out contexts'
        first chunks: near 1, the hypernetwork writes the same LoRA whatever the document."""
        self.model.eval()
        with self.acc.autocast():
            first_chunks = [ex.chunks[0] for ex in self._eval_examples(n_docs, seed)]
            A, B = self.unwrapped.generate_loras(*self._features(first_chunks))
        return mean_pairwise_cosine(torch.cat([A.flatten(1), B.flatten(1)], 1))

    def _eval_examples(self, n_docs: int, seed: int) -> list[Example]:
        rng = random.Random(seed)
        return [self.eval_task.sample(rng) for _ in range(n_docs)]

    def _mean_loss(self, examples: list[Example]) -> float:
        self.model.eval()
        with self.acc.autocast():
            return sum(self.loss([ex])[1]["task"] for ex in examples) / len(examples)


def train(cfg: TrainConfig, log=None) -> Path:
    """Run (or resume) a meta-training run; writes the final checkpoint into ``cfg.out_dir``."""
    from tqdm.auto import tqdm

    trainer = Trainer(cfg)
    acc = trainer.acc
    out_dir = Path(cfg.out_dir)
    ckpt_root = out_dir / "checkpoints"
    say = log or (lambda m: tqdm.write(m)) if acc.is_main_process else (lambda m: None)
    start, extra = 0, {}
    if (existing := list_checkpoints(ckpt_root)):
        start, extra = load_training_state(existing[-1][1], trainer.unwrapped, trainer.opt)
        say(f"resumed from {existing[-1][1]} at step {start}")
    adaptive = AdaptiveCurriculum(cfg, extra.get("chunk_cap")) if cfg.curriculum_loss > 0 else None
    trainer.rng = random.Random(cfg.seed * 1000 + acc.process_index + start)
    bar = tqdm(total=cfg.steps, initial=start, disable=not (cfg.progress and acc.is_main_process),
               dynamic_ncols=True, mininterval=2.0)
    t0, tokens, step = time.time(), 0, start
    for step in range(start, cfg.steps):
        for _ in range(cfg.grad_accum):
            if adaptive:
                cap, warm = adaptive.cap, adaptive.warm
            else:
                cap, warm = chunk_cap_at(step, cfg), step < cfg.curriculum_hold  # warm: one chunk, no L1
            stats = trainer.step([trainer.task.sample(trainer.rng, cap, single=warm) for _ in range(cfg.batch_size)],
                                 step, l1_coef=0.0 if warm else cfg.l1_coef)
            tokens += stats["tokens"]
            if adaptive:
                adaptive.update(stats["task"])
        bar.update(1)
        bar.set_postfix(loss=f"{stats['task']:.3f}", l1=f"{stats['l1']:.3f}", tok_s=f"{tokens / (time.time() - t0):.0f}")
        if log and step % 25 == 0:
            sa, sb = scaler_means(trainer.unwrapped)
            log(f"stage2 step {step} loss {stats['task']:.4f} l1 {stats['l1']:.4f} chunk cap {cap} "
                f"scalers A {sa:.3g} B {sb:.3g} tok/s {tokens / (time.time() - t0):.0f}")
        done = step + 1
        if trainer.eval_task is not None and cfg.eval_every and done % cfg.eval_every == 0 and acc.is_main_process:
            trainer.calibrate_centering()
            if cfg.objective == "needle":
                accs = {n: trainer.needle_accuracy(n, cfg.eval_docs) for n in cfg.eval_lengths}
                say(f"stage2 step {done} held-out accuracy " + " ".join(f"{n}:{a:.1%}" for n, a in accs.items()))
            else:
                own, other = trainer.content_gap(cfg.eval_docs)
                none = trainer.scale_losses(trainer._eval_examples(cfg.eval_docs, 4321), [0.0])[0.0]
                recalled = ""
                if cfg.objective in ("rename", "prose"):
                    what = "new command names" if cfg.objective == "rename" else "held-out gold answers"
                    recalled = f"{what} recalled {trainer.answer_accuracy(cfg.eval_docs):.1%}; "
                say(f"stage2 step {done} eval loss {own:.4f}, with another document's LoRA {other:.4f}, "
                    f"without a LoRA {none:.4f}; {recalled}"
                    f"LoRA cosine across documents {trainer.lora_similarity(cfg.eval_docs):.5f}")
        if cfg.save_every and done % cfg.save_every == 0 and acc.is_main_process:
            save_training_state(ckpt_root, done, trainer.unwrapped, trainer.hcfg, trainer.opt, cfg, cfg.keep_checkpoints,
                                extra={"chunk_cap": adaptive.cap} if adaptive else {})
    bar.close()
    acc.wait_for_everyone()
    if acc.is_main_process:
        trainer.calibrate_centering()
        save_checkpoint(out_dir, trainer.unwrapped, trainer.hcfg, cfg.base_record or cfg.base_model)
        (out_dir / "training_config.json").write_text(cfg.to_json())
        say(f"stage2 done: {step + 1 - start} steps in {time.time() - t0:.0f} s; saved {out_dir}")
    return out_dir
