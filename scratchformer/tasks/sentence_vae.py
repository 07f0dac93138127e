"""Wiring for a sentence VAE: the base language model, the batches with their KL weight, and the
measurements of a trained VAE.

  base_model          the frozen LM: a small GPT pretrained here on the training sentences (the
                      practical base on a CPU), a language-model run folder, or a pretrained name
                      (smollm2 from its GGUF, gpt2 from the hub)
  KLWeighted          the batches, with the KL weight beta of the trainer's current step appended
                      (the VAE's forward reads it); validation batches carry none: the true ELBO
  measure             -ELBO, importance-weighted NLL and perplexity, KL, mutual information,
                      active units, reconstruction BLEU on held-out sentences
  show                samples from the prior and an interpolation between two sentences, as text
  sentiment           a linear probe of z for sentiment, and style transfer along its direction

All numbers are per sentence in nats unless named otherwise; perplexity is per token (words and
the end of sentence), exp(total NLL / total tokens).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from scratchformer.core.latent import (active_units, gaussian_kl, importance_weighted, log_normal,
                                       mutual_information, sample)
from scratchformer.data.sentences import (Sentences, SentenceBatches, SentencesConfig, encode, end_of_sentence,
                                          word_tokenizer)
from scratchformer.devices import model_device
from scratchformer.errors import UserError
from scratchformer.models.gpt import GPT, GPTConfig
from scratchformer.models.sentence_vae import SentenceVAE
from scratchformer.training.bleu import corpus_bleu
from scratchformer.training.kl_annealing import KLAnnealingConfig, kl_weight
from scratchformer.training.run_dir import one_at_a_time
from scratchformer.training.trainer import TrainConfig, Trainer

# words a transferred sentence need not keep: the content words are the others
STOPWORDS = set("""a an the and or but if of to in on at by for with from as is are was were be been being it its
this that these those there here he she they we you i me him her them us my your his their our not no n't 's 're
've 'd 'll do does did so than then too very can could will would should may might must has have had just about
into over out up down all any some more most much such only own same what which who whom when where why how
. , ! ? ; : - -- ' " ( ) ...""".split())


@dataclass
class BaseConfig:
    """The frozen language model under the VAE."""

    source: str = "pretrain"
    """pretrain (a small GPT trained here on the training sentences, once per seed and setting), a
    language-model run folder, or a pretrained name (smollm2, gpt2)."""
    model: GPTConfig = field(default_factory=lambda: GPTConfig(d_model=128, n_heads=4, n_layers=2, context_len=48,
                                                               dropout=0.1))
    """source pretrain: the GPT's shape (its vocab_size is the vocabulary's)."""
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        max_steps=600, batch_size=32, lr=3e-3, min_lr=3e-4, warmup_steps=30, weight_decay=0.1, eval_interval=0,
        eval_batches=10, log_interval=50, stats_interval=0, checkpoint_interval=200, progress=False, device="cpu",
        dtype="float32", compile=False))
    """source pretrain: how it is trained."""
    context_len: int = 64
    """For a pretrained name: cap its context to this many positions (memory)."""


# --------------------------------------------------------------------------------------------
# the base model


def setting_hash(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:10]


def base_model(cfg: BaseConfig, data: Sentences, data_cfg: SentencesConfig, seed: int, folder: Path,
               fit) -> tuple[GPT, object]:
    """The frozen base and its tokenizer. source pretrain trains a GPT in folder/<setting>-seedS (or
    reuses the one there); `fit(trainer, run_dir)` trains with resume (the harness's)."""
    if cfg.source != "pretrain":
        return load_base(cfg)
    tokenizer = word_tokenizer(data["train"], data_cfg.vocab_size)
    model_cfg = GPTConfig(**{**asdict(cfg.model), "vocab_size": tokenizer.vocab_size})
    train = TrainConfig(**{**asdict(cfg.train), "seed": seed})
    run_dir = folder / f"{data_cfg.corpus}-{setting_hash(asdict(data_cfg), asdict(model_cfg), asdict(train))}-seed{seed}"
    torch.manual_seed(seed)
    model = GPT(model_cfg)
    batches = SentenceBatches(encode_splits(data, tokenizer, model_cfg.context_len - 1), end_of_sentence(tokenizer))
    trainer = Trainer(model, train, batches, run_dir=run_dir, tokenizer=tokenizer)
    # - runs side by side (--jobs) share the base: one trains it, the others wait and then read its checkpoint
    with one_at_a_time(run_dir):
        fit(trainer, run_dir)
    return model.eval(), tokenizer


def load_base(cfg: BaseConfig) -> tuple[GPT, object]:
    if Path(cfg.source).exists():
        from scratchformer.tasks.runs import load_language_model

        loaded = load_language_model(cfg.source, command="experiment sentence-vae")
        if not isinstance(loaded.model, GPT):
            raise UserError(f"{cfg.source} is not a GPT run; the sentence VAE reads a GPT's states")
        return loaded.model, loaded.tokenizer
    from scratchformer.models.pretrained import PRETRAINED, from_pretrained

    if cfg.source not in PRETRAINED:
        raise UserError(f"base {cfg.source!r} is neither a run folder nor a pretrained name; give pretrain, a run "
                        f"folder, or one of {sorted(PRETRAINED)}")
    return from_pretrained(cfg.source, context_len=cfg.context_len)


def encode_splits(data: Sentences, tokenizer, max_tokens: int) -> dict[str, list[list[int]]]:
    """Token ids per split, each sentence cut to max_tokens (room for bos or eos and a prefix)."""
    return {split: [encode(tokenizer, s)[:max_tokens] for s in sentences] for split, sentences in data.splits.items()}


def to_words(tokenizer, ids: list[int]) -> list[str]:
    if getattr(tokenizer, "kind", "") == "word":
        return [tokenizer.vocab[i] for i in ids]
    return tokenizer.decode(ids).split()


# --------------------------------------------------------------------------------------------
# batches with the KL weight


class KLWeighted:
    """Batches for the Trainer: training batches get beta at the trainer's step appended (set step_of
    to the trainer's step once it exists); validation batches stay as they are (the true ELBO)."""

    def __init__(self, data: SentenceBatches, annealing: KLAnnealingConfig, max_steps: int):
        self.data, self.annealing, self.max_steps = data, annealing, max_steps
        self.step_of = lambda: 0

    def batch(self, split: str, batch_size: int, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
        batch = self.data.batch(split, batch_size, generator)
        if split != "train":
            return batch
        beta = kl_weight(self.annealing, self.step_of(), self.max_steps)
        return (*batch, torch.tensor(beta))


# --------------------------------------------------------------------------------------------
# measuring a trained VAE


def on_model(model: torch.nn.Module, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The tensors on the device of the model's weights (batches are collated on the CPU)."""
    device = model_device(model)
    return tuple(t.to(device) for t in tensors)


def generator_for(model: torch.nn.Module, seed: int) -> torch.Generator:
    """A seeded generator on the model's device (the same stream as before on a CPU)."""
    return torch.Generator(device=model_device(model)).manual_seed(seed)


@torch.no_grad()
def pooled_states(model: SentenceVAE, data: SentenceBatches, sentences: list[list[int]], batch_size: int = 64):
    """The encoder's pooled states (N, C) of the sentences, on the CPU: what mu is a linear map of."""
    pooled = [model.pool(*on_model(model, *data.collate(sentences[start:start + batch_size]))).cpu()
              for start in range(0, len(sentences), batch_size)]
    return torch.cat(pooled)


@torch.no_grad()
def posteriors(model: SentenceVAE, data: SentenceBatches, sentences: list[list[int]], batch_size: int = 64):
    """mu, logvar (N, Z) of the sentences, on the model's device."""
    return model.posterior(pooled_states(model, data, sentences, batch_size).to(model_device(model)))


@torch.no_grad()
def language_model_nll(decoder, data: SentenceBatches, sentences: list[list[int]], batch_size: int = 64):
    """(total NLL in nats, total tokens) of a plain GPT on the sentences."""
    total, tokens = 0.0, 0
    for start in range(0, len(sentences), batch_size):
        inputs, targets = on_model(decoder, *data.collate(sentences[start:start + batch_size]))
        logits, _ = decoder(inputs)  # (B, T, V)
        nll = torch.nn.functional.cross_entropy(logits.float().transpose(1, 2), targets, ignore_index=-100,
                                                reduction="sum")
        total, tokens = total + float(nll), tokens + int((targets != -100).sum())
    return total, tokens


@torch.no_grad()
def measure(model: SentenceVAE, data: SentenceBatches, sentences: list[list[int]], tokenizer, k: int = 100,
            seed: int = 0, sample_chunk: int = 256) -> dict[str, float]:
    """The VAE's numbers on held-out sentences (see the module docstring); for inject none, the
    plain language model's perplexity only."""
    model.eval()
    generator = generator_for(model, seed)
    torch.manual_seed(seed)
    if model.encoder is None:
        nll, tokens = 0.0, 0
        for start in range(0, len(sentences), 64):
            inputs, targets = on_model(model, *data.collate(sentences[start:start + 64]))
            nll += float(model.reconstruction_nll(inputs, targets, None).sum())
            tokens += int((targets != -100).sum())
        return {"nll": nll / len(sentences), "ppl": math.exp(nll / tokens)}
    elbo = kl_total = nll_iw = 0.0
    tokens = 0
    per_chunk = max(1, sample_chunk // k)  # sentences whose k samples go through the decoder together
    for start in range(0, len(sentences), per_chunk):
        inputs, targets = on_model(model, *data.collate(sentences[start:start + per_chunk]))  # (b, T)
        b = inputs.size(0)
        tokens += int((targets != -100).sum())
        mu, logvar = model.encode(inputs, targets)  # (b, Z)
        kl = gaussian_kl(mu, logvar).sum(dim=1)  # (b,)
        # - the ELBO with one sample
        elbo += float((model.reconstruction_nll(inputs, targets, sample(mu, logvar, generator)) + kl).sum())
        kl_total += float(kl.sum())
        # - k samples per sentence, all in one decoder pass: (b*k, T)
        mu_k, logvar_k = mu.repeat_interleave(k, 0), logvar.repeat_interleave(k, 0)  # (b*k, Z)
        z = sample(mu_k, logvar_k, generator)  # (b*k, Z)
        log_px = -model.reconstruction_nll(inputs.repeat_interleave(k, 0), targets.repeat_interleave(k, 0), z)
        log_pz = log_normal(z, torch.zeros_like(z), torch.zeros_like(z))  # (b*k,)
        log_qz = log_normal(z, mu_k, logvar_k)
        log_p = importance_weighted(log_px.view(b, k), log_pz.view(b, k), log_qz.view(b, k))  # (b,)
        nll_iw -= float(log_p.sum())
    mu, logvar = posteriors(model, data, sentences)
    # - reconstruction: greedy decoding from the posterior mean, against the sentence
    eos = data.eos_id
    decoded = []
    for start in range(0, len(sentences), 64):
        decoded += model.generate(mu[start:start + 64], eos, eos, max_len=max(map(len, sentences)) + 5)
    bleu = corpus_bleu([to_words(tokenizer, d) for d in decoded], [to_words(tokenizer, s) for s in sentences])
    n = len(sentences)
    return {"neg_elbo": elbo / n, "nll": nll_iw / n, "ppl": math.exp(nll_iw / tokens), "kl": kl_total / n,
            "mi": mutual_information(mu, logvar, generator), "active_units": active_units(mu), "bleu": bleu}


@torch.no_grad()
def show(model: SentenceVAE, data: SentenceBatches, sentences: list[list[int]], tokenizer, n_samples: int = 8,
         steps: int = 6, seed: int = 0) -> str:
    """Markdown: greedy sentences from z ~ N(0, I), and from points between two sentences' posterior means."""
    eos = data.eos_id
    generator = generator_for(model, seed)
    text = ["## Samples from the prior (greedy decoding)", ""]
    z = torch.randn(n_samples, model.Z, generator=generator, device=generator.device)
    for ids in model.generate(z, eos, eos, max_len=40):
        text.append(f"- {' '.join(to_words(tokenizer, ids))}")
    a, b = sentences[0], sentences[1]
    mu, _ = posteriors(model, data, [a, b])
    t = torch.linspace(0, 1, steps, device=mu.device)[:, None]  # (steps, 1)
    path = (1 - t) * mu[0] + t * mu[1]  # (steps, Z)
    text += ["", "## Interpolation between two held-out sentences", "",
             f"- from: {' '.join(to_words(tokenizer, a))}", f"- to: {' '.join(to_words(tokenizer, b))}", ""]
    for weight, ids in zip(t[:, 0].tolist(), model.generate(path, eos, eos, max_len=40)):
        text.append(f"- {weight:.1f}: {' '.join(to_words(tokenizer, ids))}")
    return "\n".join(text) + "\n"


def content_words(words: list[str]) -> set[str]:
    return {w for w in words if w not in STOPWORDS and any(ch.isalpha() for ch in w)}


@torch.no_grad()
def sentiment(model: SentenceVAE, data: SentenceBatches, tokenizer, train: list[list[int]], train_labels: list[int],
              val: list[list[int]], val_labels: list[int], n_transfer: int = 200, seed: int = 0) -> tuple[dict, str]:
    """A logistic-regression probe of mu for sentiment (train -> val accuracy); style transfer: each
    held-out sentence's mu reflected across the probe's boundary and decoded, then read by a
    bag-of-words classifier trained on the training sentences.

    probe_acc           the probe on mu (Z dimensions)
    probe_pooled_acc    the same probe on the encoder's pooled states (C dimensions), which mu is a
                        linear map of (a linear probe of mu is one of them): about the most a probe
                        of mu could read, the anchor of probe_acc
    transfer_flip       share of transferred sentences the text classifier reads as the other sentiment
    transfer_flip_base  the same for the unmoved reconstructions (what decoding alone flips)
    content_kept        mean share of the original's content words (not stop words) in the transfer
    transfer_success    share that flip and keep at least half of the content words
    """
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression

    # - the pooled states (N, C) on the CPU, for scikit-learn, and mu (N, Z) from them; decoding moves mu back
    pooled_train, pooled_val = pooled_states(model, data, train), pooled_states(model, data, val)
    mu_train, mu_val = (model.posterior(p.to(model_device(model)))[0].cpu() for p in (pooled_train, pooled_val))
    probe = LogisticRegression(max_iter=2000).fit(mu_train.numpy(), train_labels)
    probe_acc = float(probe.score(mu_val.numpy(), val_labels))
    pooled_probe = LogisticRegression(max_iter=2000).fit(pooled_train.numpy(), train_labels)
    probe_pooled_acc = float(pooled_probe.score(pooled_val.numpy(), val_labels))
    # - the text classifier: bag of words, on the training sentences' words
    words_train = [" ".join(to_words(tokenizer, s)) for s in train]
    vectorizer = CountVectorizer(token_pattern=r"\S+", binary=True)
    text_clf = LogisticRegression(max_iter=2000).fit(vectorizer.fit_transform(words_train), train_labels)
    text_acc = float(text_clf.score(vectorizer.transform([" ".join(to_words(tokenizer, s)) for s in val]), val_labels))
    # - move each mu to its mirror image across the probe's boundary w.z + b = 0
    w = torch.tensor(probe.coef_[0], dtype=mu_val.dtype)  # (Z,)
    b = float(probe.intercept_[0])
    chosen = val[:n_transfer]
    mu = mu_val[:len(chosen)]  # (n, Z)
    moved = mu - 2 * ((mu @ w + b) / (w @ w))[:, None] * w  # (n, Z)
    eos = data.eos_id
    recon = model.generate(*on_model(model, mu), eos, eos, max_len=40)
    transfer = model.generate(*on_model(model, moved), eos, eos, max_len=40)
    target = [1 - y for y in val_labels[:len(chosen)]]
    read = lambda sents: text_clf.predict(vectorizer.transform([" ".join(to_words(tokenizer, s)) for s in sents]))
    flips, flips_base = read(transfer) == target, read(recon) == target
    kept = []
    for original, moved_ids in zip(chosen, transfer):
        content = content_words(to_words(tokenizer, original))
        kept.append(len(content & set(to_words(tokenizer, moved_ids))) / len(content) if content else 1.0)
    kept_t = torch.tensor(kept)
    result = {"probe_acc": probe_acc, "probe_pooled_acc": probe_pooled_acc, "text_clf_acc": text_acc,
              "transfer_flip": float(flips.mean()), "transfer_flip_base": float(flips_base.mean()), "content_kept": float(kept_t.mean()),
              "transfer_success": float((torch.tensor(flips) & (kept_t >= 0.5)).float().mean())}
    lines = ["## Style transfer: the posterior mean reflected across the sentiment probe's boundary", "",
             "| label | original | reconstruction | transferred | classifier reads |", "| --- | --- | --- | --- | --- |"]
    for i in range(min(12, len(chosen))):
        label = "pos" if val_labels[i] else "neg"
        lines.append(f"| {label} | {' '.join(to_words(tokenizer, chosen[i]))} | {' '.join(to_words(tokenizer, recon[i]))} "
                     f"| {' '.join(to_words(tokenizer, transfer[i]))} | {'flipped' if flips[i] else 'kept'} |")
    return result, "\n".join(lines) + "\n"
