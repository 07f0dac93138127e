"""The augmentations by name, and a pipeline built from a short spec such as "eda=0.1,crop=0.5".

Every augmentation is a function (text, p, rng, ...) -> text, where p in [0, 1] is its strength
(the fraction or probability of words or characters changed; 0 changes nothing). Some need a
resource: EDA's synonym operations a synonym lookup (WordNet), contextual replacement a language
model that fills a masked span. `build_augmentation` binds those and returns text, rng -> text,
where rng is a random.Random or a torch.Generator (never the global random state).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import partial
from typing import Callable

import torch

from scratchformer.data.augmentation.characters import character_noise
from scratchformer.data.augmentation.contextual import contextual_replacement
from scratchformer.data.augmentation.crop import random_crop
from scratchformer.data.augmentation.eda import eda, random_deletion, random_insertion, random_swap, synonym_replacement
from scratchformer.data.augmentation.masking import span_masking, token_dropout
from scratchformer.data.augmentation.surface import case_noise, punctuation_noise
from scratchformer.data.augmentation.words import as_random

Augment = Callable[[str, "random.Random | torch.Generator"], str]


@dataclass(frozen=True)
class Entry:
    function: Callable[..., str]
    needs: str | None = None
    """'synonyms', 'fill' or None: the resource the function takes as a keyword argument."""
    summary: str = ""


def identity(text: str, p: float, rng: random.Random) -> str:
    return text


AUGMENTATIONS: dict[str, Entry] = {
    "none": Entry(identity, summary="the text unchanged"),
    "synonym": Entry(synonym_replacement, "synonyms", "EDA: replace p of the words by WordNet synonyms"),
    "insertion": Entry(random_insertion, "synonyms", "EDA: insert synonyms of p of the words"),
    "swap": Entry(random_swap, summary="EDA: swap two words, p * n times"),
    "deletion": Entry(random_deletion, summary="EDA: delete each word with probability p"),
    "eda": Entry(eda, "synonyms", "EDA: one of the four operations above, drawn at random"),
    "token-dropout": Entry(token_dropout, summary="replace each word by _ with probability p"),
    "span-mask": Entry(span_masking, summary="replace p of the words, in spans of ~3, by _"),
    "crop": Entry(random_crop, summary="keep a random window of (1 - p) of the words"),
    "contextual": Entry(contextual_replacement, "fill", "replace p of the words, in spans, by a language model's words"),
    "char-noise": Entry(character_noise, summary="typos: edit each character with probability p"),
    "case-noise": Entry(case_noise, summary="change each word's case with probability p"),
    "punct-noise": Entry(punctuation_noise, summary="drop or swap each punctuation mark with probability p"),
}


@dataclass(frozen=True)
class AugmentationSpec:
    """One augmentation and its strength p, both checked."""

    name: str
    p: float = 0.1

    def __post_init__(self):
        if self.name not in AUGMENTATIONS:
            raise ValueError(f"unknown augmentation {self.name!r}; valid: {', '.join(AUGMENTATIONS)}")
        if not isinstance(self.p, (int, float)) or not 0.0 <= self.p <= 1.0:
            raise ValueError(f"augmentation {self.name!r} has p = {self.p}, a probability must be in [0, 1]")


def parse_augmentations(spec: str) -> list[AugmentationSpec]:
    """'eda=0.1,crop=0.5' -> [AugmentationSpec('eda', 0.1), AugmentationSpec('crop', 0.5)] ('' or 'none': [])."""
    specs = []
    for part in (s.strip() for s in spec.split(",")):
        if not part or part == "none":
            continue
        name, _, p = part.partition("=")
        try:
            value = float(p) if p else 0.1
        except ValueError:
            raise ValueError(f"augmentation {name!r} has p = {p!r}, which is not a number") from None
        specs.append(AugmentationSpec(name.strip(), value))
    return specs


def build_augmentation(spec: str | AugmentationSpec | list[AugmentationSpec], *, synonyms=None,
                       fill=None) -> Augment:
    """A function (text, rng) -> augmented text that applies the augmentations of `spec` in order.

    synonyms: word -> list of synonyms (for synonym, insertion, eda); fill: the span filler of
    contextual replacement. A missing resource is a ValueError naming what to pass.
    """
    if isinstance(spec, str):
        specs = parse_augmentations(spec)
    elif isinstance(spec, AugmentationSpec):
        specs = [spec]
    else:
        specs = list(spec)
    resources = {"synonyms": synonyms, "fill": fill}
    steps = []
    for s in specs:
        entry = AUGMENTATIONS[s.name]
        if entry.needs is None:
            steps.append(partial(entry.function, p=s.p))
        elif resources[entry.needs] is None:
            raise ValueError(f"augmentation {s.name!r} needs {entry.needs} (WordNet synonyms or a language "
                             "model's span filler); build it with that resource")
        else:
            steps.append(partial(entry.function, p=s.p, **{entry.needs: resources[entry.needs]}))

    def augment(text: str, rng: random.Random | torch.Generator) -> str:
        r = as_random(rng)
        for step in steps:
            text = step(text, rng=r)
        return text

    return augment


def needs(spec: str) -> set[str]:
    """The resources ('synonyms', 'fill') the augmentations of `spec` need."""
    return {AUGMENTATIONS[s.name].needs for s in parse_augmentations(spec)} - {None}
