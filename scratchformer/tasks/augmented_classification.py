"""A sentiment classifier trained with few labels, augmented text, mixup and consistency training.

    IMDb train ─► N labelled reviews (balanced, seeded) ─► augmented afresh per batch ─┐
    IMDb unsup ─► clean + noised pairs (consistency training, optional) ───────────────┤
                                                                                        ▼
                  ObjectiveClassifier: cross-entropy (or mixup) + weight x consistency loss

The classifier is the plain Classifier of models/classifier.py: ObjectiveClassifier only changes
the training loss, so its checkpoint loads as a Classifier (classify, evaluate-ood). The tokenizer
is learned from all training texts (no labels are read), so every label budget reads text alike.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from scratchformer.data.augmentation import build_augmentation, needs
from scratchformer.data.augmentation.registry import parse_augmentations
from scratchformer.data.augmentation.wordnet import WordNetConfig, load_wordnet
from scratchformer.data.augmented_batches import AugmentedData
from scratchformer.data.imdb import IMDb, Reviews
from scratchformer.data.text_batches import ClassificationData
from scratchformer.errors import UserError
from scratchformer.models.classifier import Classifier, ClassifierConfig
from scratchformer.models.consistency import TSA_SCHEDULES, annealed_cross_entropy, consistency_loss, tsa_threshold
from scratchformer.models.mixup import mixup_loss


@dataclass
class AugmentationConfig:
    """Few labels and what is done about it: augmentation, mixup, consistency training."""

    labels: int = 0
    """N: labelled training reviews, a seeded sample balanced over the classes; 0 keeps them all."""
    augment: str = "none"
    """Augmentations of the labelled reviews, applied in order: 'eda=0.1', 'span-mask=0.15,crop=0.3', ...
    (names: scratchformer.data.augmentation.AUGMENTATIONS; the number is each one's strength p in [0, 1])."""
    augment_fraction: float = 0.5
    """Each drawn labelled review is augmented with this probability (the rest stay as written)."""
    mixup_alpha: float = 0.0
    """Mixup in embedding space with lam ~ Beta(alpha, alpha); 0 turns it off."""
    consistency_weight: float = 0.0
    """Weight of UDA's consistency loss on IMDb's unlabelled reviews; 0 turns it off."""
    consistency_noise: str = "eda=0.2"
    """The augmentation that noises the unlabelled reviews."""
    unlabelled: int = 0
    """How many of the unlabelled reviews to draw from (the first ones); 0: all 50,000."""
    unlabelled_ratio: int = 1
    """Unlabelled reviews per labelled one in a batch (UDA uses 3-7; 1 keeps a CPU step cheap)."""
    temperature: float = 0.4
    """Sharpening of the consistency targets (softmax(logits / temperature))."""
    threshold: float = 0.8
    """Confidence masking: unlabelled reviews whose top probability is below this are skipped."""
    tsa: str = "none"
    """Training-signal annealing of the labelled loss (UDA): none, linear, log or exp (models/consistency.py)."""
    wordnet: WordNetConfig = field(default_factory=WordNetConfig)
    """Where WordNet comes from (for synonym, insertion and eda)."""
    contextual_lm: str | None = None
    """For 'contextual': a language-model run folder (our GPT) or a pretrained name such as smollm2."""

    def __post_init__(self):
        parse_augmentations(self.augment)  # (unknown names and p outside [0, 1] raise here)
        parse_augmentations(self.consistency_noise)
        if self.labels < 0 or self.unlabelled < 0:
            raise ValueError(f"labels and unlabelled must be >= 0 (0: all), got {self.labels} and {self.unlabelled}")
        for name in ("augment_fraction", "threshold"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} is a probability and must be in [0, 1], got {getattr(self, name)}")
        if self.mixup_alpha < 0 or self.consistency_weight < 0 or self.temperature <= 0 or self.unlabelled_ratio < 1:
            raise ValueError("mixup_alpha and consistency_weight must be >= 0, temperature > 0, unlabelled_ratio >= 1")
        if self.tsa not in TSA_SCHEDULES:
            raise ValueError(f"unknown TSA schedule {self.tsa!r}; choose one of {list(TSA_SCHEDULES)}")
        if self.tsa != "none" and self.mixup_alpha > 0:
            raise ValueError("tsa leaves reviews out of the plain cross-entropy, which mixup replaces: use one of them")

    @property
    def uses_unlabelled(self) -> bool:
        return self.consistency_weight > 0


class ObjectiveClassifier(Classifier):
    """A Classifier whose training loss adds mixup and consistency training; in eval mode, or
    without labels, it is the plain Classifier.

    TSA needs the run's progress: the model counts its training forwards against total_forwards
    (max_steps x grad_accum), both set by training_from() when training starts or resumes. The
    count is not saved with the weights, so the checkpoint still loads as a plain Classifier."""

    def __init__(self, cfg: ClassifierConfig, objective: AugmentationConfig):
        super().__init__(cfg)
        self.objective = objective
        self.total_forwards, self.forwards = 1, 0

    def training_from(self, step: int, max_steps: int, grad_accum: int = 1) -> None:
        """Follow TSA's schedule over a run of max_steps optimizer steps, from step `step` (0, or a resume's)."""
        self.forwards, self.total_forwards = step * grad_accum, max(max_steps * grad_accum, 1)

    def forward(self, tokens, labels=None, padding_mask=None, clean=None, clean_mask=None, noised=None,
                noised_mask=None):
        if not self.training or labels is None:
            return super().forward(tokens, labels, padding_mask)
        # - the supervised part: plain cross-entropy, or mixup of the pooled features
        if self.objective.mixup_alpha > 0:
            logits, loss = mixup_loss(self, tokens, labels, padding_mask, self.objective.mixup_alpha)
        elif self.objective.tsa != "none":
            # - TSA: reviews already learnt past this point of training's threshold teach nothing
            logits = super().forward(tokens, None, padding_mask)[0]  # (B, K)
            threshold = tsa_threshold(self.objective.tsa, self.forwards / self.total_forwards, logits.size(-1))
            loss, _ = annealed_cross_entropy(logits, labels, threshold)
        else:
            logits, loss = super().forward(tokens, labels, padding_mask)
        self.forwards += 1
        # - the unlabelled part: the noised review should be classified as the clean one
        if clean is not None and self.objective.consistency_weight > 0:
            unsup, _ = consistency_loss(self, clean, clean_mask, noised, noised_mask,
                                        self.objective.temperature, self.objective.threshold)
            loss = loss + self.objective.consistency_weight * unsup
        return logits, loss


# --------------------------------------------------------------------------------------------
# data


def label_subset(reviews: Reviews, n: int, seed: int) -> Reviews:
    """n reviews drawn with `seed`, as balanced over the classes as they allow; n = 0: all of them."""
    if n == 0:
        return reviews
    if n > len(reviews):
        raise UserError(f"a label budget of {n} is larger than the training set ({len(reviews):,} labelled reviews "
                        "after the validation split); choose at most that many, or 0 for all")
    rng = random.Random(seed)
    by_class: dict[int, list[int]] = {}
    for i, label in enumerate(reviews.labels):
        by_class.setdefault(label, []).append(i)
    for members in by_class.values():
        rng.shuffle(members)
    # - take one of each class in turn until n are taken
    picked: list[int] = []
    queues = [by_class[c] for c in sorted(by_class)]
    while len(picked) < n:
        for q in queues:
            if q and len(picked) < n:
                picked.append(q.pop())
    return reviews.subset(sorted(picked))


def augmentation_resources(cfg: AugmentationConfig) -> dict:
    """The synonyms and span filler the augmentations need (loaded once: share them across runs)."""
    wanted = needs(cfg.augment) | (needs(cfg.consistency_noise) if cfg.uses_unlabelled else set())
    resources = {}
    if "synonyms" in wanted:
        resources["synonyms"] = load_wordnet(cfg.wordnet)
    if "fill" in wanted:
        if cfg.contextual_lm is None:
            raise UserError("the 'contextual' augmentation needs a language model: give --augment.contextual_lm "
                            "(a GPT run folder such as the lm/ of `experiment imdb-pretrain`, or smollm2)")
        from scratchformer.tasks.span_filler import load_span_filler

        resources["fill"] = load_span_filler(cfg.contextual_lm)
    return resources


def augmented_data(cfg: AugmentationConfig, imdb: IMDb, tokenizer, base: ClassificationData, seed: int,
                   resources: dict) -> AugmentedData:
    """Training batches of N labelled reviews (augmented), validation/test as in `base`, and the
    unlabelled reviews when consistency training is on."""
    train = label_subset(imdb["train"], cfg.labels, seed)
    ids = {"train": [tokenizer.encode(t) for t in train.texts], **{s: v for s, v in base.ids.items() if s != "train"}}
    labels = {"train": train.labels, **{s: v.tolist() for s, v in base.labels.items() if s != "train"}}
    unlabelled = None
    if cfg.uses_unlabelled:
        unlabelled = imdb["unsup"].texts[:cfg.unlabelled or None]
    return AugmentedData(ids, labels, base.cfg, base.pad_id, train_texts=train.texts, encode=tokenizer.encode,
                         augment=build_augmentation(cfg.augment, **resources), augment_fraction=cfg.augment_fraction,
                         unlabelled=unlabelled, unlabelled_ratio=cfg.unlabelled_ratio,
                         noise=build_augmentation(cfg.consistency_noise, **resources) if unlabelled else None)
