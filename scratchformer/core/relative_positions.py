"""Relative position schemes: attention that knows how far apart two tokens are (week 6).

Absolute schemes tell a token *where it is*; relative schemes tell a query *how far back* each
key is. All four here act through `score_bias(q, start, Tk)`: a (1|B, H, Tq, Tk) term added to
the attention scores q·k/√D. Queries sit at positions start .. start+Tq-1, keys at 0 .. Tk-1,
so the distance of key j from query i is  d = (start + i) - j  (positive: the key is in the past).

  shaw          Shaw et al. 2018        q_i · a[clip(j - i)]              a learned vector per clipped distance
  transformer_xl Dai et al. 2019        (q_i + u)·k_j + (q_i + v)·W_R r[d] sinusoid r, projected; the relative shift
  t5            Raffel et al. 2020      b[bucket(j - i), h]               a learned scalar per log-spaced bucket
  alibi         Press et al. 2022       -m_h · |d|                        a fixed slope per head, no parameters

None of them has a table of absolute positions, so each runs at any length (beyond the training
context_len), and each works with the KV cache: with a cache, `start` is the cache length.

One scheme object is shared by all layers of a model (the GPT passes the same `positions` to
every block), so the learned tables are shared across layers, as in T5 (the papers of Shaw and
Transformer-XL learn one per layer). Shaw's value term (a^V added to the values) is left out: the
interface adds to scores only, and Shaw et al. found the key term carries the effect.

Legend: B batch, H n_heads, Tq queries, Tk keys, D head dimension, C d_model.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from scratchformer.core.positions import Positions, sinusoid_table


def distances(start: int, Tq: int, Tk: int, device=None) -> torch.Tensor:
    """(Tq, Tk) integer distances d[i, j] = (start + i) - j of key j behind query i."""
    q_pos = torch.arange(start, start + Tq, device=device)[:, None]  # (Tq, 1)
    k_pos = torch.arange(Tk, device=device)[None, :]  # (1, Tk)
    return q_pos - k_pos  # (Tq, Tk)


# --------------------------------------------------------------------------------------------
# Shaw et al. 2018: a learned key vector per relative distance


class ShawPositions(Positions):
    """Self-Attention with Relative Position Representations (Shaw, Uszkoreit, Vaswani 2018).

    e_ij = q_i · (k_j + a_{clip(j-i, -K, K)}) / √D. Distances beyond K share the edge vector, so
    the scheme runs at any length. The table a is (2K + 1, D), shared by the heads.
    """

    max_distance = 16  # K: Shaw et al. found nothing gained beyond about 16

    def __init__(self, d_model: int, n_heads: int, context_len: int, **_):
        super().__init__(d_model, n_heads, context_len)
        self.head_dim = d_model // n_heads
        self.rel_keys = nn.Embedding(2 * self.max_distance + 1, self.head_dim)  # a_K

    def score_bias(self, q: torch.Tensor, start: int, Tk: int) -> torch.Tensor:
        B, H, Tq, D = q.shape
        K = self.max_distance
        # - row index into the table: the clipped offset j - i, shifted to 0 .. 2K
        index = (-distances(start, Tq, Tk, q.device)).clamp(-K, K) + K  # (Tq, Tk)
        # - every query against every table row once: (B, H, Tq, 2K+1), cheap as 2K+1 << Tk
        q_dot_a = q @ self.rel_keys.weight.t().to(q.dtype)  # (B, H, Tq, 2K+1)
        # - pick, for each (i, j), the row of its offset
        bias = q_dot_a.gather(-1, index.expand(B, H, Tq, Tk))  # (B, H, Tq, Tk)
        return bias / math.sqrt(D)


# --------------------------------------------------------------------------------------------
# Transformer-XL: sinusoidal relative embeddings, two global biases, and the relative shift


def relative_shift(x: torch.Tensor) -> torch.Tensor:
    """The Transformer-XL trick: turn scores per *distance* into scores per *key*, with no gather.

    x: (..., Tq, L) where column m holds distance d_max - m (distances in falling order), and
    d_max is the distance of the last query from key 0. Returns (..., Tq, L) whose entry [i, j]
    is x[i, j + (Tq - 1 - i)]: row i slides left by Tq - 1 - i, which lines key j up with
    distance d_max - (Tq - 1 - i) - j = (start + i) - j. Example, Tq = 2, L = 3:

        x = | a0 a1 a2 |    pad a zero column   | 0 a0 a1 a2 |   read the same memory
            | b0 b1 b2 |    on the left  ──►    | 0 b0 b1 b2 |   as (L+1, Tq) rows, drop
                                                                  the first row, read back
        result = | a1 a2 0  |                                     as (Tq, L)
                 | b0 b1 b2 |   row 0 slid by 1, row 1 by 0
    """
    *lead, Tq, L = x.shape
    # - one zero column on the left: (..., Tq, L+1)
    padded = torch.cat([x.new_zeros(*lead, Tq, 1), x], dim=-1)
    # - the same numbers read as L+1 rows of Tq; dropping the first row moves each original row
    #   left by one more than the row below it
    padded = padded.view(*lead, L + 1, Tq)[..., 1:, :]  # (..., L, Tq)
    return padded.reshape(*lead, Tq, L)  # (..., Tq, L)


class TransformerXLPositions(Positions):
    """Relative attention of Transformer-XL (Dai et al. 2019), the course reading's variant.

        score_ij = q_i·k_j  +  q_i·W_R r_{i-j}  +  u·k_j  +  v·W_R r_{i-j}
                   (a) content  (b) position     (c) global content  (d) global position

    r_d is the sinusoid of distance d, W_R a learned projection, u and v learned per head.
    (a) + (c) = (q_i + u)·k_j: `rotate` adds u to the queries before attention takes q·k.
    (b) + (d) = (q_i + v)·W_R r_{i-j}: `score_bias` receives q + u, swaps u for v, multiplies
    by the projected sinusoids of every distance, and lines them up with the relative shift.
    Distances run over the whole range, negative ones included, so bidirectional models
    (the classifier, an encoder) get exact terms too; a causal mask never looks at them.
    """

    def __init__(self, d_model: int, n_heads: int, context_len: int, **_):
        super().__init__(d_model, n_heads, context_len)
        self.head_dim = d_model // n_heads
        self.r_proj = nn.Linear(d_model, n_heads * self.head_dim, bias=False)  # W_R
        self.u = nn.Parameter(torch.zeros(n_heads, 1, self.head_dim))  # (H, 1, D), content bias
        self.v = nn.Parameter(torch.zeros(n_heads, 1, self.head_dim))  # (H, 1, D), position bias

    def rotate(self, q: torch.Tensor, k: torch.Tensor, start: int):
        # - (q + u)·k = q·k + u·k: terms (a) and (c) in one product
        return q + self.u.to(q.dtype), k

    def score_bias(self, q: torch.Tensor, start: int, Tk: int) -> torch.Tensor:
        B, H, Tq, D = q.shape
        # - the queries arrive as q + u (see rotate); the position terms want q + v
        q_v = q - self.u.to(q.dtype) + self.v.to(q.dtype)  # (B, H, Tq, D)
        # - every distance any (query, key) pair can have, largest first:
        #   from start + Tq - 1 (last query, key 0) down to start - (Tk - 1) (first query, last key)
        d_max = start + Tq - 1
        dist = torch.arange(d_max, start - Tk, -1, device=q.device)  # (L,), L = Tq + Tk - 1
        r = sinusoid_table(dist, self.d_model).to(q.dtype)  # (L, C)
        r = self.r_proj(r).view(-1, H, D).transpose(0, 1)  # (L, C) -> (L, H, D) -> (H, L, D)
        # - scores per query and per distance
        by_distance = q_v @ r.transpose(-2, -1)[None]  # (B, H, Tq, L)
        # - the relative shift turns distance columns into key columns; keep the Tk keys
        by_key = relative_shift(by_distance)[..., :Tk]  # (B, H, Tq, Tk)
        return by_key / math.sqrt(D)


# --------------------------------------------------------------------------------------------
# T5: a learned scalar per (bucket of relative distance, head)


def t5_bucket(relative: torch.Tensor, num_buckets: int, max_distance: int, bidirectional: bool) -> torch.Tensor:
    """Map offsets j - i to buckets: exact for small offsets, log-spaced up to max_distance.

    Bidirectional: half the buckets for keys behind the query, half for keys ahead.
    Offsets beyond max_distance share the last bucket, so any length works.
    """
    bucket = torch.zeros_like(relative)
    if bidirectional:
        num_buckets //= 2
        bucket = bucket + (relative > 0).long() * num_buckets  # keys ahead use the upper half
        n = relative.abs()
    else:
        n = (-relative).clamp(min=0)  # keys ahead all fall in bucket 0 (a causal mask hides them)
    # - half of the buckets are exact: distances 0 .. max_exact - 1
    max_exact = num_buckets // 2
    is_small = n < max_exact
    # - the other half cover max_exact .. max_distance in logarithmic steps
    log_ratio = torch.log(n.float().clamp(min=1) / max_exact) / math.log(max_distance / max_exact)
    large = max_exact + (log_ratio * (num_buckets - max_exact)).long()
    large = large.clamp(max=num_buckets - 1)
    return bucket + torch.where(is_small, n, large)


class T5RelativeBias(Positions):
    """T5's relative attention bias (Raffel et al. 2020): b[bucket(j - i), head], added to scores.

    The bias does not depend on the query's content: (1, H, Tq, Tk). Bidirectional buckets,
    so one scheme serves both causal models and the classifier.
    """

    num_buckets = 32
    max_distance = 128
    bidirectional = True

    def __init__(self, d_model: int, n_heads: int, context_len: int, **_):
        super().__init__(d_model, n_heads, context_len)
        self.bias = nn.Embedding(self.num_buckets, n_heads)

    def score_bias(self, q: torch.Tensor, start: int, Tk: int) -> torch.Tensor:
        Tq = q.size(2)
        relative = -distances(start, Tq, Tk, q.device)  # (Tq, Tk): j - i
        buckets = t5_bucket(relative, self.num_buckets, self.max_distance, self.bidirectional)  # (Tq, Tk)
        bias = self.bias(buckets)  # (Tq, Tk, H)
        return bias.permute(2, 0, 1)[None].to(q.dtype)  # (1, H, Tq, Tk)


# --------------------------------------------------------------------------------------------
# ALiBi: a fixed linear penalty on distance, one slope per head


def alibi_slopes(n_heads: int) -> torch.Tensor:
    """(H,) the geometric slopes 2^(-8/H), 2^(-16/H), ... of Press et al.

    For H not a power of two, take the slopes of the next lower power of two and fill in with
    every other slope of the next higher one, as the paper does.
    """
    def power_of_two(n: int) -> list[float]:
        first = 2.0 ** (-8.0 / n)
        return [first ** (i + 1) for i in range(n)]

    if math.log2(n_heads).is_integer():
        return torch.tensor(power_of_two(n_heads))
    lower = 2 ** math.floor(math.log2(n_heads))
    extra = power_of_two(2 * lower)[0::2][: n_heads - lower]
    return torch.tensor(power_of_two(lower) + extra)


class ALiBiPositions(Positions):
    """Attention with Linear Biases (Press, Smith, Lewis 2022): score -= m_h · |i - j|.

    No parameters and no embeddings; the paper shows it extrapolates to longer inputs than it
    was trained on. |i - j| makes it symmetric for bidirectional models; causal models only
    ever see j <= i, where it is the paper's -m_h (i - j).
    """

    def __init__(self, d_model: int, n_heads: int, context_len: int, **_):
        super().__init__(d_model, n_heads, context_len)
        self.register_buffer("slopes", alibi_slopes(n_heads), persistent=False)  # (H,)

    def score_bias(self, q: torch.Tensor, start: int, Tk: int) -> torch.Tensor:
        dist = distances(start, q.size(2), Tk, q.device).abs()  # (Tq, Tk)
        bias = -self.slopes[:, None, None] * dist[None]  # (H, Tq, Tk)
        return bias[None].to(q.dtype)  # (1, H, Tq, Tk)


# name -> class of the relative schemes; scratchformer.core.position_schemes joins them with the absolute ones
RELATIVE_POSITIONS: dict[str, type[Positions]] = {
    "shaw": ShawPositions,
    "transformer_xl": TransformerXLPositions,
    "t5": T5RelativeBias,
    "alibi": ALiBiPositions,
}
