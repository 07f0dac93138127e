"""FLOPs of a GPT or a Perceiver AR, counted analytically from the config.

Legend: T context (tokens read), N latents (positions predicted), C d_model, F d_ff,
KV the key/value width (n_kv_heads * head_dim), V vocab_size, L n_layers.

We count the matrix products only, 2 FLOPs per multiply-add, as Kaplan et al. (2020) and the
PaLM paper's MFU do; norms, activations, softmax and embeddings' lookups are left out (a few %
at these sizes). Attention is counted over the full score matrix, as the kernels compute it
(a causal mask halves the useful work, not the work done).

One transformer layer with Tq queries reading Tk keys/values costs:

    q and out projections     2 · Tq · C · C   each
    k and v projections       2 · Tk · C · KV  each
    scores q kᵀ, weights · v  2 · Tq · Tk · C  each
    MLP                       2 · Tq · C · F · (2, or 3 for SwiGLU's gate)

A GPT runs L layers with Tq = Tk = T, then the output layer on T positions (2 · T · C · V).
A Perceiver AR runs its first layer with Tq = N, Tk = T (cross-attention), its other L - 1
layers with Tq = Tk = N, and the output layer on N positions only. Training costs about three
forward passes (the backward pass computes two products for each forward one).
"""

from __future__ import annotations

from dataclasses import dataclass


def layer_flops(cfg, Tq: int, Tk: int) -> int:
    """Forward FLOPs of one transformer layer: Tq queries attending over Tk keys/values."""
    C, F = cfg.d_model, cfg.d_ff
    KV = (cfg.n_kv_heads or cfg.n_heads) * cfg.head_dim
    projections = 2 * Tq * C * C * 2 + 2 * Tk * C * KV * 2  # q, out; k, v
    attention = 2 * Tq * Tk * C * 2  # scores and weighted sum, over all heads
    mlp = 2 * Tq * C * F * (3 if cfg.mlp == "swiglu" else 2)
    return projections + attention + mlp


@dataclass
class Flops:
    """FLOPs of one sequence of `context` tokens, and what they buy."""

    forward: int
    """Forward FLOPs of one sequence."""
    predicted: int
    """Positions that get a prediction (and a loss) per sequence: T for a GPT, N for a Perceiver AR."""
    context: int
    """Tokens read per sequence (T)."""

    @property
    def train(self) -> int:
        """Forward and backward FLOPs of one sequence (backward = 2 x forward)."""
        return 3 * self.forward

    @property
    def train_per_predicted_token(self) -> float:
        return self.train / self.predicted

    @property
    def forward_per_input_token(self) -> float:
        return self.forward / self.context


def sequence_flops(cfg, kind: str, T: int | None = None) -> Flops:
    """FLOPs of one sequence of T tokens (default: the model's context_len) for kind gpt or perceiver_ar."""
    T = T or cfg.context_len
    C, V, L = cfg.d_model, cfg.vocab_size, cfg.n_layers
    if kind == "gpt":
        forward = L * layer_flops(cfg, T, T) + 2 * T * C * V
        return Flops(forward=forward, predicted=T, context=T)
    if kind == "perceiver_ar":
        N = min(cfg.n_latents, T)
        forward = layer_flops(cfg, N, T) + (L - 1) * layer_flops(cfg, N, N) + 2 * N * C * V
        return Flops(forward=forward, predicted=N, context=T)
    raise ValueError(f"FLOPs are counted for kinds gpt and perceiver_ar, got {kind!r}")
