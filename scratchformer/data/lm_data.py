"""Batches for language modelling: random windows of a token stream.

  x = tokens[i : i + T],  y = tokens[i + 1 : i + T + 1]   (y is x shifted by one: next-token targets)

Offsets come from an explicit torch.Generator, so a checkpoint can store and restore the
sampling state and a resumed run sees exactly the batches an uninterrupted run would.

The whole split, every next-token prediction made once, is training/evaluation.stream_loss's.
"""

from __future__ import annotations

import torch

from scratchformer.errors import UserError


def compact(ids: torch.Tensor) -> torch.Tensor:
    """The same ids in uint8, int16 or int32, whichever is the smallest that holds them."""
    top = int(ids.max()) if ids.numel() else 0
    for dtype in (torch.uint8, torch.int16, torch.int32):
        if top <= torch.iinfo(dtype).max and int(ids.min() if ids.numel() else 0) >= 0:
            return ids.to(dtype)
    return ids.long()


class LMData:
    """Encoded splits of a corpus; `batch` draws (x, y) windows from one of them."""

    def __init__(self, splits: dict[str, list[int] | torch.Tensor], context_len: int,
                 chars_per_token: dict[str, float] | None = None):
        self.context_len = context_len
        # - store ids in the smallest integer type that holds them (uint8 for characters): a
        #   quarter to an eighth of int64's memory; batches are widened to int64 as they are drawn
        self.tokens = {k: compact(torch.as_tensor(v)) for k, v in splits.items()}
        # - to report bits per *character* whatever the tokenizer (1.0 for characters)
        self.chars_per_token = chars_per_token or {k: 1.0 for k in splits}
        # - one training window is context_len + 1 tokens (inputs and their next tokens)
        for name in ("train", "val"):
            if len(self.tokens.get(name, [])) < context_len + 1:
                raise UserError(f"the corpus is too short for the context: its {name} split has "
                                f"{len(self.tokens.get(name, []))} tokens, and one window needs context_len + 1 = "
                                f"{context_len + 1}; give a longer corpus or a smaller --model.context_len")

    @classmethod
    def from_text(cls, splits: dict[str, str], tokenizer, context_len: int) -> "LMData":
        """Encode each split of text with `tokenizer`."""
        ids = {k: tokenizer.encode(v) for k, v in splits.items() if v}
        ratio = {k: len(splits[k]) / max(1, len(v)) for k, v in ids.items()}
        return cls(ids, context_len, ratio)

    def batch(self, split: str, batch_size: int, generator: torch.Generator):
        """(x, y), each (B, T) long: B random windows of T tokens and their next tokens."""
        data, T = self.tokens[split], self.context_len
        starts = torch.randint(len(data) - T, (batch_size,), generator=generator)  # (B,)
        offsets = starts[:, None] + torch.arange(T + 1)[None, :]  # (B, T+1)
        window = data[offsets].long()  # (B, T+1)
        return window[:, :-1], window[:, 1:]  # (B, T), (B, T)
