"""Text augmentations: small functions (text, p, rng) -> text, and a registry of them by name.

    from scratchformer.data.augmentation import build_augmentation, load_wordnet, WordNetConfig
    augment = build_augmentation("eda=0.1", synonyms=load_wordnet(WordNetConfig(source=PATH)))
    augment("a good film", random.Random(0))

One file per concept: eda (Wei & Zou's four word operations), masking (token dropout, span
masking), contextual (spans rewritten by a language model), crop, characters (typos), surface
(case and punctuation), wordnet (synonyms), and registry (names -> functions).
"""

from scratchformer.data.augmentation.characters import character_noise
from scratchformer.data.augmentation.contextual import contextual_replacement
from scratchformer.data.augmentation.crop import random_crop
from scratchformer.data.augmentation.eda import eda, random_deletion, random_insertion, random_swap, synonym_replacement
from scratchformer.data.augmentation.masking import mask_spans, span_masking, token_dropout
from scratchformer.data.augmentation.registry import (AUGMENTATIONS, AugmentationSpec, build_augmentation, needs,
                                                      parse_augmentations)
from scratchformer.data.augmentation.surface import case_noise, punctuation_noise
from scratchformer.data.augmentation.wordnet import WordNet, WordNetConfig, load_wordnet

__all__ = ["AUGMENTATIONS", "AugmentationSpec", "WordNet", "WordNetConfig", "build_augmentation", "case_noise",
           "character_noise", "contextual_replacement", "eda", "load_wordnet", "mask_spans", "needs", "parse_augmentations",
           "punctuation_noise", "random_crop", "random_deletion", "random_insertion", "random_swap",
           "span_masking", "synonym_replacement", "token_dropout"]
