"""Training batches whose texts are augmented afresh each time they are drawn, and unlabelled
batches for consistency training.

    ClassificationData   token ids encoded once; a review looks the same in every epoch
    AugmentedData        the same for validation and test; for 'train' it keeps the texts, and
                         each drawn review is augmented (with probability augment_fraction), then
                         encoded, truncated and padded:

        batch("train") -> (tokens, labels, mask)                                   supervised only
                       -> (tokens, labels, mask, clean, clean_mask, noised, noised_mask)   with unlabelled texts

The random choices come from the Trainer's batch generator (a random.Random is drawn from it per
batch), so a checkpoint resumes the same augmented stream.
"""

from __future__ import annotations

import random
from typing import Callable

import torch

from scratchformer.data.augmentation.words import as_random
from scratchformer.data.text_batches import BatchingConfig, ClassificationData, pad_batch, truncate

Augment = Callable[[str, random.Random], str]


class AugmentedData(ClassificationData):
    """ClassificationData whose 'train' batches are augmented text (and, optionally, unlabelled pairs)."""

    def __init__(self, ids: dict[str, list[list[int]]], labels: dict[str, list[int]], cfg: BatchingConfig | None,
                 pad_id: int, *, train_texts: list[str], encode: Callable[[str], list[int]], augment: Augment,
                 augment_fraction: float = 0.5, unlabelled: list[str] | None = None,
                 noise: Augment | None = None, unlabelled_ratio: int = 1):
        super().__init__(ids, labels, cfg, pad_id)
        if len(train_texts) != len(self.ids["train"]):
            raise ValueError(f"{len(train_texts)} training texts for {len(self.ids['train'])} encoded ones")
        if unlabelled is not None and noise is None:
            raise ValueError("unlabelled texts need a noise augmentation for consistency training")
        self.train_texts, self.encode, self.augment = train_texts, encode, augment
        self.augment_fraction = augment_fraction
        self.unlabelled, self.noise, self.unlabelled_ratio = unlabelled, noise, unlabelled_ratio
        self.rng: random.Random | None = None  # the current batch's generator (see batch)

    def encode_texts(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Texts -> (tokens (B, T), padding mask (B, T)), cut as the batching config says."""
        ids = [truncate(self.encode(t), self.cfg.max_len, self.cfg.truncate) for t in texts]
        return pad_batch(ids, self.pad_id)

    def collate(self, split: str, indices: list[int]):
        if split != "train" or self.rng is None:
            return super().collate(split, indices)
        # - each review augmented with probability augment_fraction, the rest kept as they are
        texts = [self.augment(self.train_texts[i], self.rng) if self.rng.random() < self.augment_fraction
                 else self.train_texts[i] for i in indices]
        tokens, mask = self.encode_texts(texts)  # (B, T) each
        return tokens, self.labels[split][indices], mask

    def batch(self, split: str, batch_size: int, generator: torch.Generator):
        if split != "train":
            return super().batch(split, batch_size, generator)
        self.rng = as_random(generator)  # (drawn from the generator: a resumed run draws the same)
        try:
            out = super().batch(split, batch_size, generator)
            if self.unlabelled is None:
                return out
            # - unlabelled reviews, clean and noised: the pair the consistency loss compares
            n = batch_size * self.unlabelled_ratio
            picks = [self.unlabelled[self.rng.randrange(len(self.unlabelled))] for _ in range(n)]
            clean, clean_mask = self.encode_texts(picks)
            noised, noised_mask = self.encode_texts([self.noise(t, self.rng) for t in picks])
            return (*out, clean, clean_mask, noised, noised_mask)
        finally:
            self.rng = None
