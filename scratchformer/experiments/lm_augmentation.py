"""Experiment `lm-augmentation`: does augmenting a language model's training text make it better at
text unlike what it was trained on?

A byte-level GPT is trained on Shakespeare's comedies and tragedies (the First Folio's genres,
data/play_genres.py), once per augmentation, at the same number of steps and the same seed:

    none                 the text as it is
    char-token-noise     typos (char-noise) and words hidden behind '_' (token-dropout)
    span-mask-deletion   spans of words hidden behind '_' (span-mask) and words deleted (deletion)
    crop                 rows stitched from random crops of the text, not one running passage
    case-punct           words recased and punctuation dropped or swapped
    eda                  EDA's word operations (synonym, insertion, swap, deletion; WordNet synonyms)
    mix                  a quarter of the rows from a second corpus (modern prose) instead of the plays

Half of the training rows are augmented (`augment_prob`), the other half are clean; the model is
always measured on clean text. Each run is scored in bits per character on the validation plays
(in distribution) and on each out-of-distribution text (data/lm_ood_texts.py): Shakespeare's
histories, held out of training; Penn Treebank's Wall Street Journal text; IMDb reviews; tweets;
BBC News. A byte model covers every text; a character's bits are those of its UTF-8 bytes, so the
figures are bits per character on every text (on ASCII text, bits per byte).

Reported per run: bpc_val, bpc_TEXT per text, ood_mean (their mean), gap (ood_mean - bpc_val);
across the rows, each augmentation against `none` of the same seed: ood_gain (how much lower its
ood_mean is) and id_cost (how much higher its bpc_val is). The goal: an augmentation with
ood_gain >= 0.05 at id_cost <= 0.02.

    scratchformer experiment lm-augmentation --config configs/lm_augmentation.yaml   # paths to ../shared/data
    scratchformer experiment lm-augmentation --quick --ood.ptb PTB --ood.imdb IMDB ...

Besides the harness's table and bar charts, id_vs_ood.png draws each augmentation's in-distribution
against its mean out-of-distribution bpc, with `none` and the goal's corner marked.
"""

from __future__ import annotations

import dataclasses
import json
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path

import torch

from scratchformer.data.augmentation import WordNetConfig, build_augmentation, load_wordnet, needs, parse_augmentations
from scratchformer.data.augmented_lm_data import AugmentedLMData
from scratchformer.data.lm_data import LMData
from scratchformer.data.lm_ood_texts import SHARED, OODTextsConfig, load_ood_texts, read_mix_corpus
from scratchformer.data.play_genres import HISTORY, genre_splits
from scratchformer.data.tokenizers import ByteTokenizer
from scratchformer.devices import model_device
from scratchformer.experiments.harness import Experiment, Metric, Run, fit
from scratchformer.experiments.summary import seeds_note
from scratchformer.models.gpt import GPT, GPTConfig
from scratchformer.training.plots import label_points, pyplot, save
from scratchformer.training.trainer import TrainConfig, Trainer, train_defaults

GOAL_OOD_GAIN = 0.05  # bits per character the best augmentation should take off the mean OOD bpc ...
GOAL_ID_COST = 0.02  # ... while adding at most this much to the in-distribution bpc


def default_model() -> GPTConfig:
    return GPTConfig(d_model=64, n_heads=4, n_layers=2, context_len=128, dropout=0.0)


# - this experiment's training, as changes to the engine's TrainConfig defaults
LM_AUGMENTATION_TRAIN = dict(max_steps=2000, batch_size=16, lr=3e-3, min_lr=3e-4, warmup_steps=100, eval_interval=0,
                             eval_batches=10, log_interval=250, checkpoint_interval=500, device="cpu",
                             dtype="float32", compile=False, progress=False)


@dataclass
class ExperimentConfig:
    """The model, its training, the augmentation of its training text, and the texts it is measured on."""

    model: GPTConfig = field(default_factory=default_model)
    """Every run's GPT (vocab_size is 256: bytes)."""
    train: TrainConfig = field(default_factory=train_defaults(LM_AUGMENTATION_TRAIN))
    """Training of every run (its seed is the run's)."""
    augment: str = ""
    """The augmentations of a training row, applied in order: 'NAME=P,NAME=P' (P is each one's strength
    in [0, 1]); '' or 'none' leaves the text as it is. The names: `scratchformer.data.augmentation`."""
    augment_prob: float = 0.5
    """The share of training rows that are augmented (the rest stay clean)."""
    mix_prob: float = 0.0
    """The share of training rows drawn from the second corpus (mix_corpus) instead of the plays."""
    mix_corpus: str = f"{SHARED}/sentiment_ood/nytEditorialSnippets_GroundTruth.txt"
    """The second corpus: a UTF-8 text file, or a file of the VADER study (id, valence, text; tab-separated).
    Read only when mix_prob > 0. Keep it apart from the out-of-distribution texts."""
    wordnet: WordNetConfig = field(default_factory=lambda: WordNetConfig(source=f"{SHARED}/wordnet-3.0-dict.tar.gz"))
    """WordNet, read only when an augmentation needs synonyms (synonym, insertion, eda); --wordnet.source
    download fetches Princeton's archive."""
    ood: OODTextsConfig = field(default_factory=OODTextsConfig)
    """The out-of-distribution texts (null leaves one out)."""
    eval_chars: int = 32768
    """Characters scored on each text: windows of context_len, spread evenly over the text."""
    final_test: bool = False
    """Also score the test plays (bpc_test): read once, for the final choice."""

    def __post_init__(self):
        parse_augmentations(self.augment)  # an unknown name or a strength outside [0, 1]: a ValueError
        for name in ("augment_prob", "mix_prob"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} is a probability and must be in [0, 1], got {value}")
        if self.eval_chars < 2:
            raise ValueError(f"eval_chars must be at least 2, got {self.eval_chars}")


# --------------------------------------------------------------------------------------------
# the task


def prepare_texts(cfg: ExperimentConfig) -> dict[str, str]:
    """The plays split by genre (train, val, test; the histories held out) and every OOD text, by name."""
    splits = genre_splits(held_out=HISTORY)
    ood = load_ood_texts(cfg.ood, history=splits.pop(HISTORY))
    return {**splits, **{f"ood_{k}": v for k, v in ood.items()}}


def build_data(cfg: ExperimentConfig, texts: dict[str, str]):
    """The byte tokenizer, and the training rows as this variant augments (or mixes) them."""
    tokenizer = ByteTokenizer()
    lm = LMData.from_text({k: texts[k] for k in ("train", "val")}, tokenizer, cfg.model.context_len)
    synonyms = load_wordnet(cfg.wordnet) if "synonyms" in needs(cfg.augment) else None
    augment = build_augmentation(cfg.augment, synonyms=synonyms) if parse_augmentations(cfg.augment) else None
    mix = torch.tensor(tokenizer.encode(read_mix_corpus(cfg.mix_corpus)), dtype=torch.uint8) if cfg.mix_prob else None
    return tokenizer, AugmentedLMData(lm, tokenizer, augment, cfg.augment_prob, mix, cfg.mix_prob)


def run(cfg: ExperimentConfig, run: Run) -> dict[str, float]:
    """Train one GPT on the (augmented) comedies and tragedies; score it on every text."""
    key = json.dumps([dataclasses.asdict(cfg.ood)])
    texts = run.cached(key, lambda: prepare_texts(cfg))  # the plays and OOD texts, read once per process
    tokenizer, data = build_data(cfg, texts)
    model_cfg = dataclasses.replace(cfg.model, vocab_size=tokenizer.vocab_size)
    torch.manual_seed(run.seed)
    model = GPT(model_cfg)
    train = dataclasses.replace(cfg.train, seed=run.seed)
    trainer = Trainer(model, train, data, run_dir=run.dir, tokenizer=tokenizer,
                      run_config={"model": dataclasses.asdict(model_cfg), "train": dataclasses.asdict(train),
                                  "augment": cfg.augment, "augment_prob": cfg.augment_prob, "mix_prob": cfg.mix_prob})
    fit(trainer, run)  # continues from run.dir's checkpoint if an earlier attempt left one
    # - every score reads clean text through the byte tokenizer
    names = ["val"] + (["test"] if cfg.final_test else []) + [k for k in texts if k.startswith("ood_")]
    scores = {name: bits_per_char(model, torch.tensor(tokenizer.encode(texts[name])), model_cfg.context_len,
                                  cfg.eval_chars) for name in names}
    metrics = {f"bpc_{name.removeprefix('ood_')}": value for name, value in scores.items()}
    ood = [v for k, v in scores.items() if k.startswith("ood_")]
    metrics["ood_mean"] = statistics.fmean(ood) if ood else float("nan")
    metrics["gap"] = metrics["ood_mean"] - metrics["bpc_val"]
    metrics["ood_gain"] = metrics["id_cost"] = float("nan")  # against `none` of the same seed: see derive
    return metrics


# --------------------------------------------------------------------------------------------
# the metrics


def is_character_start(ids: torch.Tensor) -> torch.Tensor:
    """True where a UTF-8 byte starts a character (every byte but the continuation bytes 10xxxxxx)."""
    return (ids & 0xC0) != 0x80


@torch.no_grad()
def bits_per_char(model: GPT, ids: torch.Tensor, length: int, n_chars: int, batch_size: int = 16) -> float:
    """Bits per character of a byte text: the model's bits over windows of `length` bytes, spread
    evenly over the text (about n_chars bytes in all), divided by the characters those bytes hold."""
    n_windows = max(1, min(n_chars // length, (len(ids) - 1) // length))
    starts = torch.linspace(0, len(ids) - length - 1, n_windows).long()  # (W,) evenly spread
    device = model_device(model)
    model.eval()
    bits, chars = 0.0, 0
    for i in range(0, n_windows, batch_size):
        offsets = starts[i:i + batch_size, None] + torch.arange(length + 1)[None, :]  # (b, L+1)
        window = ids[offsets].long().to(device)  # (b, L+1)
        logits, _ = model(window[:, :-1])  # (b, L, V)
        nats = torch.nn.functional.cross_entropy(logits.flatten(0, 1), window[:, 1:].flatten(), reduction="sum")
        bits += nats.item() / math.log(2)
        chars += int(is_character_start(window[:, 1:]).sum())
    return bits / max(chars, 1)


def derive_against_none(cfg: ExperimentConfig, rows: list[dict]) -> list[dict]:
    """Each row against the `none` row of its seed: ood_gain = none's ood_mean - its ood_mean (higher is
    better), id_cost = its bpc_val - none's bpc_val (lower is better). None where no such row exists."""
    anchors = {r["seed"]: r["metrics"] for r in rows if r["variant"] == "none"}
    out = []
    for r in rows:
        m, a = r["metrics"], anchors.get(r["seed"])
        known = a is not None and None not in (m.get("ood_mean"), a.get("ood_mean"), m.get("bpc_val"), a.get("bpc_val"))
        gain = a["ood_mean"] - m["ood_mean"] + 0.0 if known else None
        cost = m["bpc_val"] - a["bpc_val"] + 0.0 if known else None
        out.append(r | {"metrics": m | {"ood_gain": gain, "id_cost": cost}})
    return out


def metrics(cfg: ExperimentConfig) -> list[Metric]:
    """In-distribution bpc, one bpc per OOD text, their mean, the gap, and the two figures of the goal."""
    ood = [name for name in ("history", "ptb", "imdb", "tweets", "bbc")
           if (cfg.ood.history if name == "history" else getattr(cfg.ood, name) is not None)]
    bpc = dict(unit="bits/char", higher_is_better=False)
    return [Metric("bpc_val", **bpc, headline=True, label="val plays (ID)")] + \
        ([Metric("bpc_test", **bpc, label="test plays (ID)")] if cfg.final_test else []) + \
        [Metric(f"bpc_{name}", **bpc, label=f"{name} (OOD)") for name in ood] + \
        [Metric("ood_mean", **bpc, headline=True, label="mean OOD"),
         Metric("gap", **bpc, label="gap: mean OOD - ID"),
         Metric("ood_gain", "bits/char", higher_is_better=True, baseline=GOAL_OOD_GAIN, baseline_label="goal",
                label="OOD gain over none"),
         Metric("id_cost", "bits/char", higher_is_better=False, baseline=GOAL_ID_COST, baseline_label="most allowed",
                label="ID cost over none")]


def id_vs_ood(cfg: ExperimentConfig, rows: list[dict], out: Path) -> list[Path]:
    """Each augmentation's in-distribution bpc against its mean OOD bpc (mean over seeds, +- one std)."""
    plt = pyplot()

    fig, ax = plt.subplots(figsize=(7.5, 5))
    points = {}
    for variant in dict.fromkeys(r["variant"] for r in rows):
        mine = [r["metrics"] for r in rows if r["variant"] == variant and r["metrics"].get("ood_mean") is not None]
        if not mine:
            continue
        xs, ys = [m["bpc_val"] for m in mine], [m["ood_mean"] for m in mine]
        x, y = statistics.fmean(xs), statistics.fmean(ys)
        points[variant] = (x, y)
        sx = statistics.stdev(xs) if len(xs) > 1 else 0.0
        sy = statistics.stdev(ys) if len(ys) > 1 else 0.0
        ax.errorbar(x, y, xerr=sx, yerr=sy, marker="o", capsize=3)
    if "none" in points:
        # - the goal's corner: at most GOAL_ID_COST more in distribution, at least GOAL_OOD_GAIN less out of it
        x0, y0 = points["none"]
        ax.axvline(x0, color="grey", linestyle="--", linewidth=0.8)
        ax.axhline(y0, color="grey", linestyle="--", linewidth=0.8, label="none (no augmentation)")
        (xa, xb), (ya, yb) = ax.get_xlim(), ax.get_ylim()
        xb, ya = max(xb, x0 + GOAL_ID_COST + 0.005), min(ya, y0 - GOAL_OOD_GAIN - 0.01)  # the corner in view
        ax.fill_between([xa - 1, x0 + GOAL_ID_COST], ya - 1, y0 - GOAL_OOD_GAIN, color="green", alpha=0.12,
                        label=f"goal: ID cost <= {GOAL_ID_COST}, OOD gain >= {GOAL_OOD_GAIN}")
        ax.set_xlim(xa, xb)
        ax.set_ylim(ya, yb)
    ax.set_xlabel("validation plays, bits per character (in distribution; lower is better)")
    ax.set_ylabel("mean of the out-of-distribution texts, bits per character")
    ax.set_title(f"Augmentations of a byte-level GPT ({seeds_note([r for r in rows if r['variant'] in points])})")
    if "none" in points:
        ax.legend(fontsize=8, loc="best")
    label_points(ax, points, fontsize=8)
    return [save(fig, out / "id_vs_ood.png", dpi=120)]


# --------------------------------------------------------------------------------------------
# the variants: one line per augmentation (strengths are each augmentation's p)

VARIANTS = {
    "none": {},
    "char-token-noise": {"augment": "char-noise=0.03,token-dropout=0.05"},
    "span-mask-deletion": {"augment": "span-mask=0.1,deletion=0.05"},
    "crop": {"augment": "crop=0.3"},
    "case-punct": {"augment": "case-noise=0.1,punct-noise=0.1"},
    "eda": {"augment": "eda=0.1"},
    "mix": {"mix_prob": 0.25},
}

# --scale gpu (not tried here): a bigger model, trained longer, scored on more of each text
SCALES = {
    "cpu": {},
    "gpu": {"model.d_model": 384, "model.n_heads": 6, "model.n_layers": 6, "model.context_len": 256,
            "train.max_steps": 10000, "train.batch_size": 64, "train.lr": 1e-3, "train.min_lr": 1e-4,
            "train.warmup_steps": 200, "train.device": "auto", "train.dtype": "auto", "train.compile": True,
            "model.dropout": 0.1, "eval_chars": 262144},
}

EXPERIMENT = Experiment(
    name="lm-augmentation",
    help="a byte-level GPT on the comedies and tragedies per augmentation; bpc in distribution and on 5 OOD texts",
    config=ExperimentConfig,
    run=run,
    variants=VARIANTS,
    metrics=metrics,
    scales=SCALES,
    seeds=3,
    threads=1,  # tiny models run best on one thread
    figures=id_vs_ood,
    derive=derive_against_none,
    quick={"model.d_model": 16, "model.n_heads": 2, "model.n_layers": 1, "model.context_len": 32,
           "train.max_steps": 6, "train.batch_size": 4, "train.warmup_steps": 2, "eval_chars": 256,
           "ood.max_chars": 4096},
)
