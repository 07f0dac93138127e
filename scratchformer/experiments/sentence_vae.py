"""Experiment `sentence-vae`: can a frozen pretrained language model with small adapters decode a
sentence from a 32-dimensional latent, without the latent collapsing, and does z separate style?

The model is models/sentence_vae.py (Optimus' design on our own parts): the base LM's pooled states
through adapters give q(z|x); the same frozen LM with its own adapters decodes the sentence from z.
The variants compare Optimus' two ways in for z, and the same decoder trained as a plain LM:

  prefix      z becomes keys and values in front at every layer (Optimus' "memory")
  embedding   z is added to every token's embedding
  both        both at once (Optimus)
  lm          no encoder, no z: the decoder with its adapters as a plain language model, the
              perplexity the VAEs are compared against (ppl_vs_lm)
  movies      `both` on movie-review snippets with sentiment labels (its own base, pretrained on
              them): a linear probe of z for sentiment, and style transfer along the probe's direction
  prefix-fb0.35, -fb0.3, -fb0.25, -fb0.1   `prefix` with 0.35, 0.3, 0.25 or 0.1 free nats per
              dimension instead of 0.5 (not run unless named)
  prefix-ae-fb0.25, -fb0.3   the same after a beta = 0 phase: z trained as an autoencoder's code
              for the first 150 steps (Li et al. 2019), then the KL annealing (not run unless named)
  prefix-autoencoder, both-autoencoder   `prefix` or `both` with beta = 0 at every step: a plain
              autoencoder, to see whether and when the decoder learns to read z (not run unless named)

Training: cyclical KL annealing (Fu et al. 2019) and free bits per dimension (training/kl_annealing.py,
core/latent.py). Measured on held-out sentences (validation; the test split with --final_test):

    scratchformer experiment sentence-vae --ptb.source ../shared/data/ptb \\
        --movies.source ../shared/data/sentiment_ood --threads 1
    scratchformer experiment sentence-vae --variants both --base.source smollm2   # SmolLM2-135M as the base

The base is, by default, a small GPT pretrained here on the training sentences (once per seed and
setting, kept in OUT/base/ and shared by the variants): on a CPU the practical base. Each run
writes samples.md (samples from the prior, an interpolation, and for movies the style transfers).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path

import torch

from scratchformer.core.tuning import print_trainable
from scratchformer.data.sentences import SentenceBatches, SentencesConfig, end_of_sentence, load_sentences
from scratchformer.experiments.harness import Experiment, Metric, Run, fit
from scratchformer.models.sentence_vae import SentenceVAE, SentenceVAEConfig
from scratchformer.tasks.sentence_vae import (BaseConfig, KLWeighted, base_model, encode_splits, language_model_nll,
                                              measure, sentiment, show)
from scratchformer.training.kl_annealing import KLAnnealingConfig, kl_weight
from scratchformer.training.plots import pyplot, save
from scratchformer.training.trainer import TrainConfig, Trainer


def default_train() -> TrainConfig:
    return TrainConfig(max_steps=500, batch_size=32, lr=2e-3, min_lr=2e-4, warmup_steps=30, weight_decay=0.0,
                       eval_interval=0, eval_batches=10, log_interval=25, stats_interval=0, checkpoint_interval=100,
                       progress=False, device="cpu", dtype="float32", compile=False)


@dataclass
class ExperimentConfig:
    """The sentences, the base LM, the VAE, its KL schedule and training, and what is measured."""

    corpus: str = "ptb"
    """Which sentences: ptb, or movies (sentiment-labelled snippets; the movies variant sets it)."""
    ptb: SentencesConfig = field(default_factory=lambda: SentencesConfig(corpus="ptb"))
    """The Penn Treebank sentences (source: a folder with ptb.*.txt, or download)."""
    movies: SentencesConfig = field(default_factory=lambda: SentencesConfig(corpus="movies", vocab_size=8000))
    """The movie-review snippets (source: movieReviewSnippets_GroundTruth.txt or its folder, or download)."""
    base: BaseConfig = field(default_factory=BaseConfig)
    """The frozen language model under the VAE."""
    vae: SentenceVAEConfig = field(default_factory=SentenceVAEConfig)
    """Latent size, how z enters the decoder (the variants set it), adapters, free bits."""
    annealing: KLAnnealingConfig = field(default_factory=KLAnnealingConfig)
    """The KL weight over training."""
    train: TrainConfig = field(default_factory=default_train)
    """Training of the adapters and projections (its seed is the run's)."""
    eval_sentences: int = 200
    """Held-out sentences measured (the first ones of the split)."""
    iw_samples: int = 100
    """Importance samples per sentence for the NLL and perplexity (k)."""
    probe_sentences: int = 4000
    """movies: training sentences the sentiment probe and the text classifier learn from."""
    transfer_sentences: int = 200
    """movies: held-out sentences moved along the sentiment direction."""
    final_test: bool = False
    """Measure on the test split instead of validation (read once, for a final figure)."""

    def __post_init__(self):
        if self.corpus not in ("ptb", "movies"):
            raise ValueError(f"corpus must be ptb or movies, got {self.corpus!r}")
        if min(self.eval_sentences, self.iw_samples, self.probe_sentences, self.transfer_sentences) < 1:
            raise ValueError("eval_sentences, iw_samples, probe_sentences and transfer_sentences must be at least 1")
        if self.eval_sentences < 2:
            raise ValueError("eval_sentences must be at least 2 (an interpolation needs two sentences)")


# --------------------------------------------------------------------------------------------
# the task


def run(cfg: ExperimentConfig, run: Run) -> dict[str, float]:
    """Pretrain (or load) the base, train one VAE with the run's seed, measure it."""
    data_cfg = cfg.ptb if cfg.corpus == "ptb" else cfg.movies
    data = run.cached(repr((data_cfg, cfg.final_test)), lambda: load_sentences(data_cfg, final_test=cfg.final_test))
    for note in data.notes:
        print(f"note: {note}")

    def fit_base(trainer, run_dir: Path):
        return fit(trainer, Run(run.experiment, "base", run.seed, run_dir))

    base, tokenizer = base_model(cfg.base, data, data_cfg, run.seed, run.dir.parent.parent / "base", fit_base)
    # - the VAE around the frozen base (a prefix that leaves no room in its context is refused here)
    torch.manual_seed(run.seed)
    model = SentenceVAE(base, cfg.vae)
    # - sentences cut to fit the context after the prefix and bos
    prefix = cfg.vae.prefix_len if cfg.vae.uses_prefix else 0
    batches = SentenceBatches(encode_splits(data, tokenizer, base.config.context_len - prefix - 1),
                              end_of_sentence(tokenizer), getattr(tokenizer, "pad_id", 0) or 0)
    trained, total = print_trainable(model)
    weighted = KLWeighted(batches, cfg.annealing, cfg.train.max_steps)
    trainer = Trainer(model, dataclasses.replace(cfg.train, seed=run.seed), weighted, run_dir=run.dir,
                      tokenizer=tokenizer, model_kind="sentence_vae", run_config=dataclasses.asdict(cfg))
    weighted.step_of = lambda: trainer.step
    result = fit(trainer, run)
    # - measure on held-out sentences
    split = "test" if cfg.final_test else "val"
    held_out = batches.ids[split][:cfg.eval_sentences]
    base_nll, base_tokens = language_model_nll(base, batches, held_out)
    metrics = {"trained_share": trained / total, "trained_params": trained, "val_loss": result.get("val_loss", math.nan),
               "base_ppl": math.exp(base_nll / base_tokens), "ppl_vs_lm": math.nan}
    metrics |= measure(model, batches, held_out, tokenizer, k=cfg.iw_samples, seed=run.seed)
    text = ""
    if model.encoder is not None:
        text = show(model, batches, held_out, tokenizer, seed=run.seed)
    labels = data.labels
    if labels and model.encoder is not None:
        found, table = sentiment(model, batches, tokenizer, batches.ids["train"][:cfg.probe_sentences],
                                 labels["train"][:cfg.probe_sentences], batches.ids[split], labels[split],
                                 n_transfer=cfg.transfer_sentences, seed=run.seed)
        metrics |= found
        text += "\n" + table
    if text:
        (run.dir / "samples.md").write_text(f"# {run.variant}, seed {run.seed}\n\n" + text)
    return {m.name: math.nan for m in METRICS} | metrics  # n/a: what this variant does not measure


def derive_ppl_vs_lm(cfg: ExperimentConfig, rows: list[dict]) -> list[dict]:
    """ppl_vs_lm = a PTB VAE's perplexity / the plain-LM decoder's (variant lm, same seed) - 1."""
    lm = {r["seed"]: r["metrics"].get("ppl") for r in rows if r["variant"] == "lm"}
    out = []
    for r in rows:
        m = r["metrics"]
        anchor = lm.get(r["seed"])
        on_ptb = VARIANTS.get(r["variant"], {}).get("corpus", cfg.corpus) == "ptb"
        ratio = m["ppl"] / anchor - 1 if on_ptb and anchor and m.get("ppl") is not None else None
        out.append(r | {"metrics": m | {"ppl_vs_lm": ratio}})
    return out


AE_STEPS = 150  # the beta = 0 phase of the prefix-ae variants, in steps of the CPU default's 500
NO_KL = {"annealing.schedule": "constant", "annealing.max_beta": 0.0}  # beta = 0 at every step: an autoencoder

VARIANTS = {
    "prefix": {"vae.inject": "prefix"},
    "embedding": {"vae.inject": "embedding"},
    "both": {"vae.inject": "both"},
    "lm": {"vae.inject": "none"},
    "movies": {"corpus": "movies", "vae.inject": "both"},
    # - fewer free bits: less KL bought for nothing, so a perplexity nearer the plain LM's, if z is still used
    "prefix-fb0.35": {"vae.inject": "prefix", "vae.free_bits": 0.35},
    "prefix-fb0.3": {"vae.inject": "prefix", "vae.free_bits": 0.3},
    "prefix-fb0.25": {"vae.inject": "prefix", "vae.free_bits": 0.25},
    "prefix-fb0.1": {"vae.inject": "prefix", "vae.free_bits": 0.1},
    # - a beta = 0 phase first (Li et al. 2019; Optimus pretrains an autoencoder): z is trained as a
    #   plain code for the first 150 of the 500 steps, so that the decoder may learn to read it before
    #   the KL is charged (at this length it did not: docs/sentence_vae.md); then the cyclical
    #   schedule over the other 350. At other lengths (--scale gpu: 5,000 steps) give the phase
    #   yourself: --variants prefix --vae.free_bits 0.3 --annealing.start N
    "prefix-ae-fb0.25": {"vae.inject": "prefix", "vae.free_bits": 0.25, "annealing.start": AE_STEPS},
    "prefix-ae-fb0.3": {"vae.inject": "prefix", "vae.free_bits": 0.3, "annealing.start": AE_STEPS},
    # - beta = 0 at every step: a plain autoencoder (the KL is measured, never charged). Not a VAE: it
    #   asks whether the decoder's adapters can learn to read z at all, and in how many steps
    #   (--train.max_steps), which is how long a beta = 0 phase must be before the annealing
    "prefix-autoencoder": {"vae.inject": "prefix", **NO_KL},
    "both-autoencoder": {"vae.inject": "both", **NO_KL},
}
# - --quick trains 4 steps, so there the autoencoder phase is its first step
QUICK_VARIANTS = {name: overrides | ({"annealing.start": 1} if "annealing.start" in overrides else {})
                  for name, overrides in VARIANTS.items()}
DEFAULT_VARIANTS = ["prefix", "embedding", "both", "lm", "movies"]  # what a plain command runs, at either scale

METRICS = [
    Metric("ppl", "", higher_is_better=False, headline=True, digits=1,
           label="perplexity (importance-weighted for the VAEs)"),
    Metric("ppl_vs_lm", "%", scale=100, higher_is_better=False, headline=True, digits=1, baseline=0.10,
           baseline_label="goal: within 10%", label="perplexity above the plain-LM decoder's"),
    Metric("nll", "nats", higher_is_better=False, label="NLL per sentence (importance-weighted)"),
    Metric("neg_elbo", "nats", higher_is_better=False, label="-ELBO per sentence"),
    Metric("kl", "nats", headline=True, baseline=3.0, baseline_label="goal: 3 nats", label="KL per sentence"),
    Metric("mi", "nats", headline=True, baseline=2.0, baseline_label="goal: 2 nats", label="mutual information"),
    Metric("active_units", "", headline=True, digits=1, baseline=8, baseline_label="goal: 8",
           label="active units"),
    Metric("bleu", "", scale=100, digits=1, label="reconstruction BLEU"),
    Metric("base_ppl", "", higher_is_better=False, digits=1, label="perplexity of the frozen base"),
    Metric("trained_share", "%", scale=100, higher_is_better=False, digits=2, baseline=0.10,
           baseline_label="goal: at most 10%", label="share of parameters trained"),
    Metric("trained_params", higher_is_better=False, digits=0, label="parameters trained"),
    Metric("val_loss", "nats/token", higher_is_better=False, label="validation -ELBO per token at the end of training"),
    Metric("probe_acc", "%", scale=100, headline=True, digits=1, baseline=0.5,
           label="sentiment probe on z (movies)"),
    Metric("probe_pooled_acc", "%", scale=100, digits=1, baseline=0.5,
           label="the same probe on the encoder's pooled states, which mu is read from (movies)"),
    Metric("text_clf_acc", "%", scale=100, digits=1, baseline=0.5, label="bag-of-words classifier on the text (movies)"),
    Metric("transfer_flip", "%", scale=100, digits=1, label="transferred sentences read as the other sentiment"),
    Metric("transfer_flip_base", "%", scale=100, digits=1, label="reconstructions read as the other sentiment"),
    Metric("content_kept", "%", scale=100, digits=1, label="content words kept by the transfer"),
    Metric("transfer_success", "%", scale=100, digits=1, label="flipped and kept half the content words"),
]


def kl_schedule_figure(cfg: ExperimentConfig, rows: list[dict], out: Path) -> list[Path]:
    """kl_schedule.png: the KL weight beta over the training steps."""
    plt = pyplot()

    steps = range(cfg.train.max_steps)
    fig, ax = plt.subplots(figsize=(6.5, 2.8))
    ax.plot(list(steps), [kl_weight(cfg.annealing, s, cfg.train.max_steps) for s in steps])
    ax.set_xlabel("training step")
    ax.set_ylabel("KL weight beta")
    ax.set_title(f"{cfg.annealing.schedule} KL annealing; free bits {cfg.vae.free_bits} nats per dimension")
    return [save(fig, out / "kl_schedule.png")]


EXPERIMENT = Experiment(
    name="sentence-vae",
    help="a sentence VAE on a frozen LM with adapters: z as a prefix, added to the embeddings, both; the plain LM; sentiment in z",
    config=ExperimentConfig,
    run=run,
    variants=VARIANTS,
    quick_variants=QUICK_VARIANTS,
    scale_variants={"cpu": DEFAULT_VARIANTS, "gpu": DEFAULT_VARIANTS},
    metrics=METRICS,
    scales={"cpu": {}, "gpu": {"base.source": "smollm2", "train.max_steps": 5000, "train.batch_size": 64,
                               "train.device": "auto", "eval_sentences": 1000}},
    seeds=1,
    threads=1,
    figures=kl_schedule_figure,
    derive=derive_ppl_vs_lm,
    # - --quick: a tiny base trained for a few steps, a few sentences measured with 4 samples each
    quick={"base.model.d_model": 16, "base.model.n_heads": 2, "base.model.n_layers": 1, "base.train.max_steps": 4,
           "base.train.batch_size": 4, "base.train.warmup_steps": 1, "train.max_steps": 4, "train.batch_size": 4,
           "train.warmup_steps": 1, "vae.latent_size": 4, "vae.width": 4, "eval_sentences": 4, "iw_samples": 4,
           "probe_sentences": 40, "transfer_sentences": 4},
)
