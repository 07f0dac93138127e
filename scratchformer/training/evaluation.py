"""Evaluation: the mean loss of a model over fixed batches of a split, in nats and bits per character.

    evaluate_loss(model, data, "val", batches=20, batch_size=16)  ->  {"val_loss": ..., "val_bpc": ...}
    evaluate_whole_split(model, data, "val")                      ->  the same keys, over every token
    stream_loss(model, tokens, context_len, stride)               ->  what evaluate_whole_split computes
    text_losses(model, [ids, ...], max_tokens)                    ->  (N,) one mean loss per text

The Trainer validates with it during training and `scratchformer eval` calls it on a saved run;
nothing else is needed to evaluate (no optimizer, no run folder). The batches are drawn from a
generator of their own, seeded the same way every time, so every call sees the same batches and
the training stream is never disturbed.

A few random batches are an estimate: 20 batches of 12 windows of 64 characters put a standard
error of about 0.015 nats on a Tiny Shakespeare model's loss, as large as the differences one
may want to read off two models. evaluate_whole_split scores every token of the split once
(stream_loss), so two models evaluated with it are compared on exactly the same predictions.
"""

from __future__ import annotations

import math
from contextlib import nullcontext

import torch
import torch.nn.functional as F
from torch import nn

from scratchformer.data.text_batches import pad_batch


@torch.no_grad()
def evaluate_loss(model: nn.Module, data, split: str = "val", batches: int = 20, batch_size: int = 16,
                  seed: int = 0, device: torch.device | str = "cpu", autocast=nullcontext) -> dict:
    """Mean loss over `batches` batches of `split`.

    model: `model(*batch) -> (logits, loss)`;  data: `data.batch(split, batch_size, generator)`.
    autocast: a context-manager factory for mixed precision (the Trainer passes its own).
    """
    if batches < 1:
        raise ValueError(f"batches must be at least 1, got {batches}")
    was_training = model.training
    model.eval()
    generator = torch.Generator().manual_seed(seed)
    losses = []
    for _ in range(batches):
        batch = tuple(t.to(device, non_blocking=True) for t in data.batch(split, batch_size, generator))
        with autocast():
            _, loss = model(*batch)
        losses.append(loss.item())
    model.train(was_training)
    nats = sum(losses) / len(losses)
    # - bits per character: nats -> bits, then tokens -> characters
    chars_per_token = getattr(data, "chars_per_token", {}).get(split, 1.0)
    return {f"{split}_loss": nats, f"{split}_bpc": nats / math.log(2) / chars_per_token}


@torch.no_grad()
def stream_loss(model: nn.Module, tokens: torch.Tensor, context_len: int, stride: int | None = None,
                batch_size: int = 16, device: torch.device | str = "cpu", autocast=nullcontext) -> float:
    """Mean next-token loss (nats) over a whole stream: every token after the first predicted once.

    The standard word-level perplexity (exp of this) on Penn Treebank's full test file. Windows of
    context_len tokens start every `stride` tokens (default context_len // 2); the first window
    scores all its positions, each later one only the positions no earlier window scored, so every
    prediction (past the first window) sees at least context_len - stride tokens of context.
    """
    n, T = len(tokens), context_len
    if n < 2:
        raise ValueError(f"a stream of {n} tokens has nothing to predict")
    T = min(T, n - 1)
    stride = max(1, min(stride or T // 2, T))
    starts = list(range(0, n - 1 - T, stride)) + [n - 1 - T]  # the last window ends at the stream's end
    was_training = model.training
    model.eval()
    total, count, scored_until = 0.0, 0, 0  # scored_until: the last target index scored so far
    for i in range(0, len(starts), batch_size):
        group = torch.tensor(starts[i:i + batch_size])  # (B,)
        offsets = group[:, None] + torch.arange(T + 1)[None, :]  # (B, T+1)
        window = tokens[offsets].long().to(device)  # (B, T+1)
        with autocast():
            logits, _ = model(window[:, :-1])  # (B, T, V)
        nll = F.cross_entropy(logits.float().flatten(0, 1), window[:, 1:].flatten(), reduction="none").view(len(group), T)
        for b, s in enumerate(group.tolist()):
            # - targets of this window are tokens s+1 .. s+T; keep those past scored_until
            first = max(0, scored_until - s)  # offset of the first new target
            total += nll[b, first:].sum().item()
            count += T - first
            scored_until = s + T
    model.train(was_training)
    return total / count


@torch.no_grad()
def text_losses(model: nn.Module, texts: list[list[int]], max_tokens: int, batch_size: int = 32,
                device: torch.device | str = "cpu") -> torch.Tensor:
    """(N,) mean next-token loss (nats) of each text on its own: how surprised a language model is by it.

    Each text is read from its first token, cut to its first max_tokens + 1 tokens (so at most
    max_tokens predictions, and never more than the model's context); a text of fewer than 2
    tokens has nothing to predict and gets NaN. Texts go through in batches of similar length,
    padded on the right: a causal model never looks ahead, so the padding changes no prediction.
    """
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be at least 1, got {max_tokens}")
    context_len = getattr(getattr(model, "config", None), "context_len", None)
    cut = min(max_tokens, context_len) if context_len else max_tokens
    texts = [ids[:cut + 1] for ids in texts]
    losses = torch.full((len(texts),), float("nan"))
    # - sort by length so that a batch pads little; losses go back to each text's own place
    order = sorted((i for i, ids in enumerate(texts) if len(ids) >= 2), key=lambda i: len(texts[i]))
    was_training = model.training
    model.eval()
    for start in range(0, len(order), batch_size):
        group = order[start:start + batch_size]
        inputs, real = pad_batch([texts[i][:-1] for i in group])  # (B, T) each; real: not padding
        targets, _ = pad_batch([texts[i][1:] for i in group], pad_id=-100)  # (B, T): -100 past each text's end
        logits, _ = model(inputs.to(device))  # (B, T, V)
        nll = F.cross_entropy(logits.float().transpose(1, 2), targets.to(device), ignore_index=-100,
                              reduction="none")  # (B, T), 0 where ignored
        losses[group] = (nll.cpu().sum(1) / real.sum(1)).float()
    model.train(was_training)
    return losses


def evaluate_whole_split(model: nn.Module, data, split: str = "val", batch_size: int = 64,
                         device: torch.device | str = "cpu", autocast=nullcontext, stride: int | None = None) -> dict:
    """Mean loss over every next-token prediction of `split`, each made once: stream_loss over the
    split's tokens, in windows of data.context_len side by side (stride: overlap them, as stream_loss).

    Returns {split}_loss and {split}_bpc as evaluate_loss does, and {split}_tokens, the number of
    predictions averaged over. No sampling: the same model gives the same figure every time."""
    tokens = data.tokens[split]
    T = data.context_len
    nats = stream_loss(model, tokens, T, stride or T, batch_size, device, autocast)
    count = len(tokens) - 1
    chars_per_token = getattr(data, "chars_per_token", {}).get(split, 1.0)
    return {f"{split}_loss": nats, f"{split}_bpc": nats / math.log(2) / chars_per_token, f"{split}_tokens": count}
