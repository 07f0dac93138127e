"""A long text read segment by segment, with a memory between segments: base model, training, scores.

    text ─► tokens ─► B streams ─► segments of S tokens ─► memory(model, segment, state) ─► losses per position
                                                            (scratchformer.models.segment_memory)

  load_text(cfg)              PTB, the built-in plays, or a text file: {"train", "val", "test"} -> text
  base_model(cfg, seed, dir)  the base LM every variant shares: our GPT pretrained here once (cached in
                              dir: every variant of a seed loads the same weights), or a pretrained model
  streams(tokens, B, n, S)    B consecutive stretches of n segments: (B, n*S + 1) token ids
  train_memory(...)           a memory's parameters trained with backprop through `bptt` segments, base frozen
  evaluate_stream(...)        loss at each position of a segment, over consecutive segments; time per token
  evaluate_recall(...)        the recall task's accuracy when the fact sits in the previous segment

The base GPT learns recall (scratchformer.data.recall) within its context while it pretrains, so a
memory that carries the previous segment's fact lets it answer, and no memory leaves it at chance.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from scratchformer.core.tuning import freeze_base, trainable_share
from scratchformer.data.corpus import CorpusConfig, load_splits
from scratchformer.data.lm_data import LMData
from scratchformer.data.ptb import PTBConfig, ptb_texts
from scratchformer.data.recall import RecallMix, RecallVocab, insert_pairs
from scratchformer.data.tokenizers import TOKENIZERS
from scratchformer.errors import UserError
from scratchformer.models.gpt import GPT, GPTConfig
from scratchformer.models.segment_memory import MemoryConfig, SegmentMemory, build_memory, check_fits
from scratchformer.training.checkpoint import CHECKPOINT_NAME, load_checkpoint
from scratchformer.training.run_dir import one_at_a_time
from scratchformer.training.trainer import TrainConfig, Trainer

FIRST = 32  # "the first tokens of a segment", where a memory matters most


def default_base_model() -> GPTConfig:
    # - RoPE: a memory in front shifts the tokens' positions, and relative positions do not mind
    return GPTConfig(d_model=128, n_heads=4, n_layers=4, context_len=128, position="rope", dropout=0.0)


def default_pretrain() -> TrainConfig:
    # - 3,000 steps: at 1,500 one base of three was still at chance on the recall task (copying from
    #   context is learned suddenly, at a step that varies with the seed)
    return TrainConfig(max_steps=3000, batch_size=16, lr=2e-3, warmup_steps=100, eval_interval=0, eval_batches=10,
                       stats_interval=0, log_interval=50, checkpoint_interval=500, progress=False, device="cpu")


@dataclass
class BaseConfig:
    """The base language model every memory variant shares."""

    init: str = "gpt"
    """gpt: our own GPT (model), pretrained here on the training text; or a pretrained model to load
    (smollm2, gpt2, a .gguf file or a Hugging Face folder: see scratchformer.models.pretrained)."""
    model: GPTConfig = field(default_factory=default_base_model)
    """init=gpt: the GPT's shape (vocab_size comes from the tokenizer and the recall task)."""
    train: TrainConfig = field(default_factory=default_pretrain)
    """init=gpt: its pretraining (the seed is the run's)."""
    tokenizer: str = "char"
    """init=gpt: char or word (a pretrained model brings its own)."""
    vocab_size: int = 10000
    """init=gpt, tokenizer=word: the vocabulary's size."""
    context_len: int = 512
    """A pretrained model's context is cut to this (to save memory)."""

    def __post_init__(self):
        if self.tokenizer not in ("char", "word"):
            raise ValueError(f"base.tokenizer must be char or word, got {self.tokenizer!r}")
        if self.context_len < 1:
            raise ValueError(f"base.context_len must be at least 1, got {self.context_len}")


@dataclass
class MemoryTrainConfig:
    """Training a memory's own parameters (the base stays frozen)."""

    steps: int = 300
    batch_size: int = 8
    lr: float = 3e-3
    bptt: int = 3
    """Segments per training sequence: gradients flow through the memory across them (2-4 in RMT)."""

    def __post_init__(self):
        if self.steps < 0 or self.batch_size < 1 or self.lr <= 0:
            raise ValueError(f"memory training needs steps >= 0, batch_size >= 1 and lr > 0, got "
                             f"{self.steps}, {self.batch_size}, {self.lr}")
        if self.bptt < 2:
            raise ValueError(f"bptt must be at least 2 segments (a memory needs a segment before), got {self.bptt}")


@dataclass
class RecallConfig:
    """The synthetic recall task (scratchformer.data.recall); our own GPT base only."""

    values: int = 16
    """Values a fact can hold: chance is 1 / values."""
    share: float = 0.5
    """Share of pretraining windows (and of segment boundaries in memory training) that carry a fact.
    At 0.5 one of three seeds' bases was still at chance on recall after 1,500 steps (since then the
    base trains 3,000, and all three learn it); at 1.0 the two bases that finished learned it, but
    clean text became foreign to them (perplexity 4.2 against 3.9 without memory, 7.6 with a sliding
    window): 0.5 it stays."""
    questions: int = 4
    """Questions after each fact in a pretraining window (one sparse question was not learned in 1,500 steps)."""
    examples: int = 256
    """Examples in the score."""

    def __post_init__(self):
        if self.values < 2 or not 0.0 <= self.share <= 1.0 or self.examples < 1 or self.questions < 1:
            raise ValueError(f"recall needs values >= 2, share in [0, 1], examples >= 1 and questions >= 1, got "
                             f"{self.values}, {self.share}, {self.examples}, {self.questions}")


@dataclass
class SegmentLMConfig:
    """One memory variant over a segmented text, on a shared base model."""

    corpus: str = "ptb"
    """ptb (see ptb), shakespeare (the built-in plays) or the path of a UTF-8 text file."""
    ptb: PTBConfig = field(default_factory=PTBConfig)
    base: BaseConfig = field(default_factory=BaseConfig)
    memory: MemoryConfig = field(default_factory=MemoryConfig)
    memory_train: MemoryTrainConfig = field(default_factory=MemoryTrainConfig)
    recall: RecallConfig = field(default_factory=RecallConfig)
    segment_len: int = 64
    """S: tokens per segment (64-256)."""
    eval_streams: int = 16
    """Streams read side by side in the evaluation."""
    eval_segments: int = 16
    """Consecutive segments per stream: the evaluation reads eval_streams x eval_segments x S tokens."""

    def __post_init__(self):
        if self.segment_len < 2:
            raise ValueError(f"segment_len must be at least 2, got {self.segment_len}")
        if self.eval_streams < 1 or self.eval_segments < 2:
            raise ValueError(f"eval_streams must be >= 1 and eval_segments >= 2, got {self.eval_streams}, "
                             f"{self.eval_segments}")


def check_before_training(cfg: SegmentLMConfig) -> None:
    """What can be refused before the base pretrains: a segment or memory longer than the context, a
    memory that asks for layers our GPT lacks (a LoRA target), tried on a GPT of the base's shape with
    no weights (the meta device). A pretrained base is checked once loaded (measure)."""
    if cfg.base.init != "gpt":
        return
    check_fits(cfg.memory, cfg.segment_len, cfg.base.model.context_len)
    with torch.device("meta"):
        build_memory(cfg.memory, GPT(cfg.base.model))


# --------------------------------------------------------------------------------------------
# text and base model


def load_text(cfg: SegmentLMConfig) -> dict[str, str]:
    if cfg.corpus == "ptb":  # the raw text (the word-level id streams of data/ptb are not what a char base reads)
        return ptb_texts(cfg.ptb)
    return load_splits(CorpusConfig(corpus=cfg.corpus, val_fraction=0.1))


@dataclass
class Base:
    """The shared base model, its token streams and (for our own GPT) the recall task's ids."""

    model: nn.Module
    tokens: dict[str, torch.Tensor]
    recall: RecallVocab | None
    chars_per_token: float
    """Characters per token of the validation text (bits per character = nats / ln 2 / this)."""


def base_key(cfg: SegmentLMConfig, seed: int) -> str:
    """12 hex digits naming everything the pretrained base depends on."""
    what = {"corpus": cfg.corpus, "ptb": cfg.ptb.source, "base": dataclasses.asdict(cfg.base),
            "recall": [cfg.recall.values, cfg.recall.share, cfg.recall.questions], "seed": seed}
    return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()[:12]


def base_model(cfg: SegmentLMConfig, seed: int, folder: Path, text: dict[str, str] | None = None) -> Base:
    """Our GPT pretrained on the training text once per (settings, seed), cached in folder/base-KEY;
    or a pretrained model (init) and its tokenizer. The model comes back frozen, in eval mode."""
    text = text or load_text(cfg)
    if cfg.base.init != "gpt":
        return pretrained_base(cfg, text)
    # - the tokenizer learns from the training text only; unknown characters are dropped elsewhere
    tokenizer = (TOKENIZERS["word"].train(text["train"], vocab_size=cfg.base.vocab_size)
                 if cfg.base.tokenizer == "word" else TOKENIZERS["char"].train(text["train"]))
    if cfg.base.tokenizer == "char":
        known = set(tokenizer.stoi)
        text = {k: "".join(c for c in v if c in known) for k, v in text.items()}
    recall = RecallVocab(tokenizer.vocab_size, cfg.recall.values)
    model_cfg = dataclasses.replace(cfg.base.model, vocab_size=recall.size)
    data = LMData.from_text(text, tokenizer, model_cfg.context_len)
    run_dir = folder / f"base-{base_key(cfg, seed)}"
    torch.manual_seed(seed)
    model = GPT(model_cfg)
    done = run_dir / "base.json"
    # - runs side by side (--jobs) share the base: one trains it, the others wait for it and then read it
    with one_at_a_time(run_dir):
        if done.exists():  # pretrained by an earlier variant: the same weights for every variant
            model.load_state_dict(load_checkpoint(run_dir)["model"])
        else:
            trainer = Trainer(model, dataclasses.replace(cfg.base.train, seed=seed),
                              RecallMix(data, recall, cfg.recall.share, cfg.recall.questions), run_dir=run_dir,
                              tokenizer=tokenizer,
                              run_config={"model": dataclasses.asdict(model_cfg), "base_key": base_key(cfg, seed)})
            # - an interrupted pretraining left a checkpoint: continue from it
            if (run_dir / CHECKPOINT_NAME).exists():
                trainer.resume(run_dir)
            result = trainer.fit()
            if "interrupted" in result:  # Ctrl-C / SIGTERM: a checkpoint is written; stop as the harness does
                raise KeyboardInterrupt(result["interrupted"])
            done.write_text(json.dumps({"val_loss": result.get("val_loss"), "steps": trainer.step}))
    model.eval().requires_grad_(False)
    tokens = {k: v.long() for k, v in data.tokens.items()}  # (LMData keeps them in the smallest integer type)
    return Base(model, tokens, recall, data.chars_per_token.get("val", 1.0))


def pretrained_base(cfg: SegmentLMConfig, text: dict[str, str]) -> Base:
    """A pretrained model and its tokenizer (the recall task needs ids of its own: not here)."""
    from scratchformer.models.pretrained import from_pretrained

    model, tokenizer = from_pretrained(cfg.base.init, dtype="float32", context_len=cfg.base.context_len)
    if tokenizer is None:
        raise UserError(f"{cfg.base.init} comes without a tokenizer; add its tokenizer.json")
    # - the validation text, and as much training text as memory training could read
    need = cfg.memory_train.steps * cfg.memory_train.batch_size * cfg.memory_train.bptt * cfg.segment_len * 8
    tokens = {k: torch.tensor(tokenizer.encode(v if k != "train" else v[:need + 1]), dtype=torch.long)
              for k, v in text.items() if k in ("train", "val")}
    chars = len(text["val"]) / max(1, len(tokens["val"]))
    return Base(model.eval().requires_grad_(False), tokens, None, chars)


# --------------------------------------------------------------------------------------------
# segments


def streams(tokens: torch.Tensor, n_streams: int, n_segments: int, S: int) -> torch.Tensor:
    """n_streams consecutive stretches of the text, evenly spaced: (B, n_segments*S + 1) token ids."""
    length = n_segments * S + 1
    if len(tokens) < n_streams * length:
        raise UserError(f"the validation text has {len(tokens)} tokens; {n_streams} streams of {n_segments} "
                        f"segments of {S} need {n_streams * length}: read fewer (--eval_streams, --eval_segments)")
    step = len(tokens) // n_streams
    return torch.stack([tokens[i * step:i * step + length] for i in range(n_streams)])  # (B, n*S + 1)


def segment_pairs(window: torch.Tensor, S: int):
    """Inputs and next-token targets of each segment of window (B, n*S + 1): n pairs of (B, S)."""
    n = (window.size(1) - 1) // S
    for i in range(n):
        yield window[:, i * S:(i + 1) * S], window[:, i * S + 1:(i + 1) * S + 1]  # (B, S), (B, S)


def read_segments(memory: SegmentMemory, model: nn.Module, window: torch.Tensor, S: int) -> list[torch.Tensor]:
    """Each segment's loss at each position, the memory carried along: n tensors (B, S)."""
    state, losses = None, []
    window = window.to(model.tok_emb.weight.device)  # (the tokens live on the CPU)
    for x, y in segment_pairs(window, S):
        logits, state = memory(model, x, state)  # (B, S, V)
        losses.append(F.cross_entropy(logits.transpose(1, 2).float(), y, reduction="none"))  # (B, S)
    return losses


# --------------------------------------------------------------------------------------------
# training a memory


def recall_sequences(tokens: torch.Tensor, recall: RecallVocab | None, share: float, B: int, n: int, S: int,
                     generator: torch.Generator) -> torch.Tensor:
    """B random stretches of n segments (B, n*S + 1); at a share of segment boundaries a fact is written
    in the segment before (anywhere, or after that segment's own question) and its question in the first
    FIRST tokens of the next (where a segment has no room for both, only the first boundary gets a fact)."""
    length = n * S + 1
    starts = torch.randint(len(tokens) - length, (B,), generator=generator)  # (B,)
    window = tokens[starts[:, None] + torch.arange(length)[None, :]].clone()  # (B, n*S + 1)
    if recall is None or share == 0:
        return window
    Q = min(FIRST, S - 1)  # questions sit at offsets 0 .. Q-1 of a segment, their answers up to Q
    for boundary in range(1, n):
        # - a segment that holds a question takes its fact after the question's answer (offsets Q+1 .. S-2)
        lo = 0 if boundary == 1 else Q + 1
        chosen = torch.rand(B, generator=generator) < share  # (B,)
        if not chosen.any() or lo > S - 2:
            continue
        fact_at = (boundary - 1) * S + torch.randint(lo, S - 1, (B,), generator=generator)  # in the segment before
        ask_at = boundary * S + torch.randint(Q, (B,), generator=generator)  # early in this one
        picked = window[chosen]
        insert_pairs(picked, recall, fact_at[chosen], ask_at[chosen], generator)
        window[chosen] = picked
    return window


def train_memory(memory: SegmentMemory, base: Base, cfg: SegmentLMConfig, seed: int, log=print) -> list[float]:
    """Train the memory's parameters (base frozen, but for what the memory added to it) with backprop
    through cfg.memory_train.bptt segments per sequence; the losses, one per step."""
    tc = cfg.memory_train
    freeze_base(base.model)
    params = [p for p in list(memory.parameters()) + list(base.model.parameters()) if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=tc.lr, weight_decay=0.0)
    generator = torch.Generator().manual_seed(seed)
    losses = []
    base.model.train()
    for step in range(tc.steps):
        window = recall_sequences(base.tokens["train"], base.recall, cfg.recall.share, tc.batch_size, tc.bptt,
                                  cfg.segment_len, generator)
        # - the loss of every segment, the memory carried with its gradient through all of them
        loss = torch.stack(read_segments(memory, base.model, window, cfg.segment_len)).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        # - a cosine decay to a tenth of the rate
        for group in optimizer.param_groups:
            group["lr"] = tc.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / max(1, tc.steps))))
        optimizer.step()
        losses.append(loss.item())
        if (step + 1) % 50 == 0 or step + 1 == tc.steps:
            log(f"memory step {step + 1}/{tc.steps}: loss {sum(losses[-50:]) / len(losses[-50:]):.4f}")
    base.model.eval()
    return losses


def trained_share(memory: SegmentMemory, model: nn.Module) -> tuple[int, int]:
    """(parameters the memory trains, all parameters of base and memory)."""
    return trainable_share(model, memory)


# --------------------------------------------------------------------------------------------
# scores


@torch.no_grad()
def evaluate_stream(memory: SegmentMemory, base: Base, cfg: SegmentLMConfig) -> dict:
    """Loss at each position of a segment over consecutive validation segments (the first segment,
    which no memory helps, left out); perplexity overall and on the first FIRST tokens; time per token."""
    S = cfg.segment_len
    window = streams(base.tokens["val"], cfg.eval_streams, cfg.eval_segments, S)  # (B, n*S + 1)
    start = time.perf_counter()
    losses = read_segments(memory, base.model, window, S)  # n x (B, S)
    seconds = time.perf_counter() - start
    later = torch.stack(losses[1:])  # (n-1, B, S)
    per_position = later.mean(dim=(0, 1))  # (S,)
    first = per_position[:min(FIRST, S)].mean().item()
    # - a 95% interval of the mean loss over streams (each stream's segments are one sample)
    per_stream = later.mean(dim=(0, 2))  # (B,)
    spread = 1.96 * per_stream.std().item() / math.sqrt(len(per_stream)) if len(per_stream) > 1 else float("nan")
    return {"loss": per_position.mean().item(), "loss_first": first, "loss_ci95": spread,
            "ppl": math.exp(per_position.mean().item()), "ppl_first": math.exp(first),
            "first_segment_loss": losses[0].mean().item(), "per_position": per_position.tolist(),
            # - each stream's mean loss, all tokens and the first FIRST: paired comparisons between variants
            "per_stream": per_stream.tolist(), "per_stream_first": later[:, :, :FIRST].mean(dim=(0, 2)).tolist(),
            "ms_per_token": 1000 * seconds / window[:, :-1].numel()}


@torch.no_grad()
def evaluate_recall(memory: SegmentMemory, base: Base, cfg: SegmentLMConfig, seed: int) -> float:
    """Accuracy on the recall task: a fact anywhere in segment 1, its question in the first FIRST tokens
    of segment 2; the answer is the value id with the highest logit (chance: 1 / values). NaN without a task."""
    if base.recall is None:
        return float("nan")
    S, n = cfg.segment_len, cfg.recall.examples
    generator = torch.Generator().manual_seed(10_000 + seed)
    window = recall_sequences(base.tokens["val"], base.recall, 0.0, n, 2, S, generator)  # (n, 2S + 1) clean text
    fact_at = torch.randint(S - 1, (n,), generator=generator)  # (n,) in segment 1
    ask = torch.randint(min(FIRST, S - 1), (n,), generator=generator)  # (n,) position in segment 2
    answers = insert_pairs(window, base.recall, fact_at, S + ask, generator)  # (n,)
    correct = 0
    for rows in torch.arange(n).split(64):
        state = None
        for x, _ in segment_pairs(window[rows], S):
            logits, state = memory(base.model, x.to(base.model.tok_emb.weight.device), state)  # (b, S, V)
        # - the logits after the question's marker, over the value ids only
        scores = logits.cpu()[torch.arange(len(rows)), ask[rows]][:, base.recall.values]  # (b, values)
        correct += (base.recall.values[scores.argmax(-1)] == answers[rows]).sum().item()
    return correct / n


def measure(cfg: SegmentLMConfig, base: Base, seed: int, log=print) -> tuple[dict, SegmentMemory]:
    """Build the memory on the base, train it if it has parameters, and score it."""
    check_fits(cfg.memory, cfg.segment_len, base.model.config.context_len)
    torch.manual_seed(seed)
    memory = build_memory(cfg.memory, base.model)
    losses = train_memory(memory, base, cfg, seed, log) if cfg.memory.trains and cfg.memory_train.steps else []
    trained, total = trained_share(memory, base.model)
    memory.eval()
    scores = evaluate_stream(memory, base, cfg)
    scores["recall"] = evaluate_recall(memory, base, cfg, seed)
    scores.update(trained_params=float(trained if cfg.memory.trains else 0), params=float(total),
                  bpc_first=scores["loss_first"] / math.log(2) / base.chars_per_token,
                  bpc=scores["loss"] / math.log(2) / base.chars_per_token,
                  final_train_loss=losses[-1] if losses else float("nan"))
    return scores, memory
