"""A sentence VAE on a frozen pretrained language model (Bowman et al. 2016, "Generating Sentences
from a Continuous Space"; Optimus: Li et al. 2020, "Organizing Sentences via Pre-trained Modeling
of a Latent Space").

Legend: B batch, T tokens, C d_model, Z latent_size, L n_layers, P prefix_len, KV kv heads, D head dim.

                      the same frozen pretrained GPT, twice (its weights are shared, not copied)
    [bos w1 .. wn] ─► encoder GPT + adapters ─► mean over tokens (B, C) ─► Linear ─► mu, logvar (B, Z)
                                                                                      │
                                                          z = mu + sigma * eps  ◄─────┘
                                                                │
            prefix:     Linear(Z, P·L·2·KV·D) ─► P keys and values in front at every layer (Optimus' "memory")
            embedding:  Linear(Z, C) ─► added to every token's embedding (Optimus' "embedding")
                                                                │
    [bos w1 .. wn] ─► decoder GPT + its own adapters, reading z ─► log p(w1 .. wn eos | z)

Training minimises the negative ELBO per token,

    loss = ( sum_i -log p(x_i | z_i)  +  beta * B * KL_free_bits ) / tokens in the batch,

with beta from a KL annealing schedule (training/kl_annealing.py) and free bits per dimension
(core/latent.py). Only the adapters, the encoder's head and the projections of z train.

inject "none" drops the encoder and z: the same decoder with adapters, trained as a plain language
model; its perplexity is what the VAE's is compared against.
"""

from __future__ import annotations

import copy
import itertools
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from scratchformer.core.adapters import add_adapters
from scratchformer.core.kv_cache import PrefixKV
from scratchformer.core.latent import free_bits_kl, gaussian_kl, sample
from scratchformer.core.lora import add_lora
from scratchformer.core.prefix import check_length
from scratchformer.errors import UserError

INJECTIONS = ("prefix", "embedding", "both", "none")
# name -> how the frozen GPT gets its trainable part (width: the adapter's bottleneck, or LoRA's rank)
TUNINGS = {
    "adapter": lambda model, width: add_adapters(model, bottleneck=width),
    "lora": lambda model, width: add_lora(model, rank=width),
}


@dataclass
class SentenceVAEConfig:
    """The latent, how z reaches the decoder, and what trains in the frozen language model."""

    latent_size: int = 32
    """Dimensions of z (Z)."""
    inject: str = "both"
    """How z reaches the decoder: prefix (keys and values at every layer), embedding (added to every
    token's embedding), both (Optimus), or none (no z: the decoder trained as a plain language model)."""
    prefix_len: int = 1
    """Keys and values per layer that z becomes (P), with inject prefix or both."""
    tuning: str = "adapter"
    """What trains inside the frozen LM: adapter (Houlsby bottlenecks) or lora."""
    width: int = 32
    """The adapters' bottleneck, or LoRA's rank."""
    free_bits: float = 0.5
    """Nats per dimension below which the KL is not pushed down (0 turns free bits off)."""

    def __post_init__(self):
        if self.latent_size < 1:
            raise ValueError(f"the latent size must be at least 1, got {self.latent_size}; give --vae.latent_size 32 "
                             "(or --vae.inject none for a model without a latent)")
        if self.inject not in INJECTIONS:
            raise ValueError(f"unknown injection {self.inject!r}; choose one of {list(INJECTIONS)}")
        if self.tuning not in TUNINGS:
            raise ValueError(f"unknown tuning {self.tuning!r}; choose one of {sorted(TUNINGS)}")
        if self.prefix_len < 1 or self.width < 1:
            raise ValueError(f"prefix_len and width must be at least 1, got {self.prefix_len}, {self.width}")
        if self.free_bits < 0:
            raise ValueError(f"free_bits must be >= 0, got {self.free_bits}")

    @property
    def uses_prefix(self) -> bool:
        return self.inject in ("prefix", "both")

    @property
    def uses_embedding(self) -> bool:
        return self.inject in ("embedding", "both")


def shared_copy(model: nn.Module) -> nn.Module:
    """A second module tree around the same parameter and buffer tensors (nothing is copied but the
    structure): adapters added to one do not appear in the other."""
    memo = {id(t): t for t in itertools.chain(model.parameters(), model.buffers())}
    return copy.deepcopy(model, memo)


@contextmanager
def added_to_embeddings(gpt: nn.Module, vectors: torch.Tensor | None):
    """While inside, every token embedding of `gpt` gets vectors (B, 1, C) added (None: nothing)."""
    if vectors is None:
        yield
        return
    handle = gpt.tok_emb.register_forward_hook(lambda module, args, out: out + vectors.to(out.dtype))
    try:
        yield
    finally:
        handle.remove()


class SentenceVAE(nn.Module):
    """Encoder and decoder around one frozen GPT `base`; see the module docstring."""

    def __init__(self, base: nn.Module, cfg: SentenceVAEConfig):
        super().__init__()
        self.config = cfg
        gpt = base.config
        C, L, KV, D = gpt.d_model, gpt.n_layers, gpt.n_kv_heads or gpt.n_heads, gpt.head_dim
        self.L, self.KV, self.D, self.P, self.Z = L, KV, D, cfg.prefix_len, cfg.latent_size
        if cfg.uses_prefix:
            check_length(cfg.prefix_len, gpt.context_len)  # a prefix that leaves no room in the context
        device = base.tok_emb.weight.device
        # - the decoder: the base with its own adapters (or LoRA); the base is frozen
        self.decoder = shared_copy(base)
        TUNINGS[cfg.tuning](self.decoder, cfg.width)
        if cfg.inject == "none":
            self.encoder = None
            return
        # - the encoder: the same frozen weights, its own adapters, hidden states instead of logits
        self.encoder = shared_copy(base)
        self.encoder.lm_head = nn.Identity()
        TUNINGS[cfg.tuning](self.encoder, cfg.width)
        self.to_latent = nn.Linear(C, 2 * cfg.latent_size, device=device)  # -> mu, logvar
        if cfg.uses_prefix:
            self.to_prefix = nn.Linear(cfg.latent_size, cfg.prefix_len * L * 2 * KV * D, device=device)
            nn.init.normal_(self.to_prefix.weight, std=0.02)
            nn.init.zeros_(self.to_prefix.bias)
        if cfg.uses_embedding:
            # - zero at first: the decoder starts as the base model with its adapters, whatever z is
            self.to_embedding = nn.Linear(cfg.latent_size, C, device=device)
            nn.init.zeros_(self.to_embedding.weight)
            nn.init.zeros_(self.to_embedding.bias)

    # ----------------------------------------------------------------------------------------
    # encoder

    def pool(self, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """inputs (B, T) = [bos w1 .. wn pad ..], targets (B, T) = [w1 .. wn eos -100 ..]: the
        encoder's hidden states averaged over the sentence, (B, C), what mu and logvar are read from."""
        if self.encoder is None:
            raise UserError("this model has no encoder (inject none); give --vae.inject prefix, embedding or both")
        hidden, _ = self.encoder(inputs)  # (B, T, C): lm_head is the identity
        mask = (targets != -100).unsqueeze(-1).to(hidden.dtype)  # (B, T, 1): bos and the words, not padding
        return ((hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)).float()  # (B, C)

    def posterior(self, pooled: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Pooled states (B, C) -> mu, logvar (B, Z): q(z | sentence) is a linear map of them."""
        mu, logvar = self.to_latent(pooled).chunk(2, dim=-1)  # (B, Z) each
        return mu, logvar

    def encode(self, inputs: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The posterior q(z | sentence) as mu, logvar (B, Z)."""
        return self.posterior(self.pool(inputs, targets))

    # ----------------------------------------------------------------------------------------
    # decoder

    def conditioning(self, z: torch.Tensor | None) -> tuple[PrefixKV | None, torch.Tensor | None]:
        """What the decoder reads of z (B, Z): a PrefixKV (L, B, KV, P, D) and/or vectors (B, 1, C)."""
        if z is None or self.encoder is None:
            return None, None
        prefix_kv = embedding = None
        B = z.size(0)
        if self.config.uses_prefix:
            kv = self.to_prefix(z).view(B, self.P, self.L, 2, self.KV, self.D)  # (B, P, L, 2, KV, D)
            kv = kv.permute(2, 3, 0, 4, 1, 5)  # (L, 2, B, KV, P, D)
            prefix_kv = PrefixKV(kv[:, 0], kv[:, 1])  # (L, B, KV, P, D) each
        if self.config.uses_embedding:
            embedding = self.to_embedding(z).unsqueeze(1)  # (B, 1, C)
        return prefix_kv, embedding

    def decoder_logits(self, inputs: torch.Tensor, z: torch.Tensor | None, cache=None) -> torch.Tensor:
        """The decoder's logits (B, T, V) for inputs (B, T) given z (B, Z) (None: no latent)."""
        prefix_kv, embedding = self.conditioning(z)
        with added_to_embeddings(self.decoder, embedding):
            logits, _ = self.decoder(inputs, cache=cache, prefix_kv=prefix_kv)
        return logits

    def reconstruction_nll(self, inputs: torch.Tensor, targets: torch.Tensor, z: torch.Tensor | None) -> torch.Tensor:
        """-log p(sentence | z) per sentence, summed over its tokens: (B,) in nats."""
        logits = self.decoder_logits(inputs, z)  # (B, T, V)
        nll = F.cross_entropy(logits.float().transpose(1, 2), targets, ignore_index=-100, reduction="none")  # (B, T)
        return nll.sum(dim=1)

    # ----------------------------------------------------------------------------------------
    # the loss

    def forward(self, inputs: torch.Tensor, targets: torch.Tensor, beta: torch.Tensor | None = None):
        """(None, loss): the negative ELBO per token, with the KL weighted by beta and under free bits.

        beta None (validation): the true negative ELBO, beta 1 and no free bits. With inject none,
        the plain language-model loss (nats per token).
        """
        tokens = (targets != -100).sum().clamp(min=1)
        if self.encoder is None:
            return None, self.reconstruction_nll(inputs, targets, None).sum() / tokens
        mu, logvar = self.encode(inputs, targets)  # (B, Z) each
        z = sample(mu, logvar)  # (B, Z)
        nll = self.reconstruction_nll(inputs, targets, z)  # (B,)
        kl = gaussian_kl(mu, logvar)  # (B, Z)
        B = inputs.size(0)
        if beta is None:
            kl_term = kl.sum()
        else:
            kl_term = beta.reshape(()) * B * free_bits_kl(kl, self.config.free_bits)
        return None, (nll.sum() + kl_term) / tokens

    # ----------------------------------------------------------------------------------------
    # generation

    @torch.no_grad()
    def generate(self, z: torch.Tensor | None, bos_id: int, eos_id: int, max_len: int,
                 batch_size: int = 1) -> list[list[int]]:
        """Greedy decoding of one sentence per row of z (B, Z) (or batch_size sentences without z):
        token ids up to, not including, eos."""
        B = z.size(0) if z is not None else batch_size
        context = self.decoder.config.context_len
        max_len = min(max_len, context - (self.P if self.config.uses_prefix and z is not None else 0))
        device = self.decoder.tok_emb.weight.device
        prefix_kv, embedding = self.conditioning(z)
        cache = self.decoder.new_cache(B)
        idx = torch.full((B, 1), bos_id, dtype=torch.long, device=device)
        out = torch.empty((B, 0), dtype=torch.long, device=device)
        done = torch.zeros(B, dtype=torch.bool, device=device)
        with added_to_embeddings(self.decoder, embedding):
            for t in range(max_len):
                # - the prefix goes into the cache with the first call; later calls read it from there
                logits, _ = self.decoder(idx, cache=cache, prefix_kv=prefix_kv if t == 0 else None, last_only=True)
                idx = logits[:, -1].argmax(dim=-1, keepdim=True)  # (B, 1)
                out = torch.cat([out, idx], dim=1)  # (B, t+1)
                done |= idx[:, 0] == eos_id
                if bool(done.all()):
                    break
        sentences = []
        for row in out.tolist():
            sentences.append(row[:row.index(eos_id)] if eos_id in row else row)
        return sentences
