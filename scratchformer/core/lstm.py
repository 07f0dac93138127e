"""The LSTM, written out: one cell, then a stacked and bidirectional LSTM built from it.

Hochreiter & Schmidhuber 1997, "Long Short-Term Memory", with the forget gate of Gers et al. 2000:
the standard formulation that torch.nn.LSTM computes. Per time step, for input x_t and the last
state (h_{t-1}, c_{t-1}):

    i_t = σ(W_ii x_t + b_ii + W_hi h_{t-1} + b_hi)        input gate:  how much new content to write
    f_t = σ(W_if x_t + b_if + W_hf h_{t-1} + b_hf)        forget gate: how much old memory to keep
    g_t = tanh(W_ig x_t + b_ig + W_hg h_{t-1} + b_hg)     candidate content
    o_t = σ(W_io x_t + b_io + W_ho h_{t-1} + b_ho)        output gate: how much memory to show
    c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t                        the memory cell: an additive update
    h_t = o_t ⊙ tanh(c_t)                                  the hidden state, the layer's output

Legend:  B batch, T time steps, I input width, H hidden width (d_model), L n_layers, D directions (1 or 2).

    x (B, T, I) ─► layer 0 ─ dropout ─► layer 1 ─ ... ─► out (B, T, D*H),  final (h, c) each (L*D, B, H)
                   (bidirectional: a forward and a backward pass over T, side by side)

Padding: padding_mask (B, T) is True for real tokens, which come first (right padding, as
data.text_batches.pad_batch makes). A padded step leaves the state as it was and outputs zeros, so a
sequence gives the same result whatever padding sits beside it, and the backward direction starts at
each sequence's own last token.

Two paths with the same weights (copy_lstm_weights moves them either way):
  LSTM       the readable one: a Python loop over time steps and layers, LSTMCell per step;
  FastLSTM   torch.nn.LSTM (cuDNN / fused CPU kernels), padding through packed sequences.
             One step from a carried state (generation) takes the fused cell a layer instead.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

State = tuple[torch.Tensor, torch.Tensor]  # (h, c), each (L*D, B, H) for a stack, (B, H) for a cell


class LSTMCell(nn.Module):
    """One LSTM step, with torch.nn.LSTMCell's parameter names and shapes (gates stacked i, f, g, o)."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden_size, input_size))  # (4H, I)
        self.weight_hh = nn.Parameter(torch.empty(4 * hidden_size, hidden_size))  # (4H, H)
        self.bias_ih = nn.Parameter(torch.empty(4 * hidden_size)) if bias else None
        self.bias_hh = nn.Parameter(torch.empty(4 * hidden_size)) if bias else None
        # - torch's initialisation: uniform in ±1/sqrt(H) for every weight and bias
        bound = 1.0 / math.sqrt(hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def forward(self, x: torch.Tensor, state: State) -> State:
        """x: (B, I); state: (h, c), each (B, H). Returns the new (h, c)."""
        h, c = state
        # - all four gates' pre-activations in two matrix products: the input's and the memory's share
        gates = F.linear(x, self.weight_ih, self.bias_ih) + F.linear(h, self.weight_hh, self.bias_hh)  # (B, 4H)
        i, f, g, o = gates.chunk(4, dim=-1)  # (B, H) each
        # - the gates are fractions in (0, 1); the candidate content lies in (-1, 1)
        i, f, o, g = torch.sigmoid(i), torch.sigmoid(f), torch.sigmoid(o), torch.tanh(g)
        # - keep part of the old memory, add part of the new content
        c = f * c + i * g  # (B, H)
        # - show part of the squashed memory as the output
        h = o * torch.tanh(c)  # (B, H)
        return h, c


def check_right_padded(padding_mask: torch.Tensor) -> torch.Tensor:
    """(B,) lengths of a (B, T) mask; raises ValueError unless every row is real tokens, then pads."""
    lengths = padding_mask.sum(dim=1)  # (B,)
    prefix = torch.arange(padding_mask.size(1), device=padding_mask.device)[None, :] < lengths[:, None]  # (B, T)
    if not torch.equal(prefix, padding_mask):
        raise ValueError("the LSTM needs right padding: real tokens first, then pads, in every row")
    return lengths


class LSTM(nn.Module):
    """A stack of n_layers LSTMs, optionally bidirectional; the readable path (a loop over time).

    Layer l > 0 reads the outputs of layer l-1 (both directions side by side), with dropout between
    layers as in torch.nn.LSTM. cells[l * D + d] is layer l's cell for direction d (0 forward, 1 backward).
    """

    def __init__(self, input_size: int, hidden_size: int, n_layers: int = 1, bidirectional: bool = False,
                 dropout: float = 0.0):
        super().__init__()
        self.input_size, self.hidden_size, self.n_layers = input_size, hidden_size, n_layers
        self.directions = 2 if bidirectional else 1
        self.dropout = dropout
        self.cells = nn.ModuleList(
            LSTMCell(input_size if layer == 0 else self.directions * hidden_size, hidden_size)
            for layer in range(n_layers) for _ in range(self.directions))

    def zero_state(self, B: int, like: torch.Tensor) -> State:
        h = like.new_zeros(self.n_layers * self.directions, B, self.hidden_size)  # (L*D, B, H)
        return h, h.clone()

    def run_direction(self, cell: LSTMCell, x: torch.Tensor, mask: torch.Tensor, state: State,
                      reverse: bool) -> tuple[torch.Tensor, State]:
        """One cell over all T steps (backwards if reverse). x: (B, T, I), mask: (B, T, 1)."""
        h, c = state  # (B, H) each
        outputs = [None] * x.size(1)
        steps = range(x.size(1) - 1, -1, -1) if reverse else range(x.size(1))
        for t in steps:
            h_new, c_new = cell(x[:, t], (h, c))  # (B, H) each
            # - a padded step keeps the state as it was, and outputs zeros
            real = mask[:, t]  # (B, 1)
            h, c = torch.where(real, h_new, h), torch.where(real, c_new, c)
            outputs[t] = h_new * real
        return torch.stack(outputs, dim=1), (h, c)  # (B, T, H)

    def forward(self, x: torch.Tensor, padding_mask: torch.Tensor | None = None,
                state: State | None = None) -> tuple[torch.Tensor, State]:
        """x: (B, T, I); padding_mask: (B, T) True for real tokens; state: (h, c), each (L*D, B, H).

        Returns out (B, T, D*H) (zeros at pads) and the final (h, c), each (L*D, B, H): for every
        sequence, the state after its last real token (the backward direction: after its first)."""
        B, T, _ = x.shape
        if padding_mask is None:
            padding_mask = torch.ones(B, T, dtype=torch.bool, device=x.device)
        mask = padding_mask.bool()[:, :, None]  # (B, T, 1)
        h0, c0 = state if state is not None else self.zero_state(B, x)
        h_n, c_n = [], []
        for layer in range(self.n_layers):
            outs = []
            for d in range(self.directions):
                k = layer * self.directions + d
                out, (h, c) = self.run_direction(self.cells[k], x, mask, (h0[k], c0[k]), reverse=d == 1)
                outs.append(out)
                h_n.append(h)
                c_n.append(c)
            x = torch.cat(outs, dim=-1)  # (B, T, D*H)
            # - dropout between layers, not after the last (as torch.nn.LSTM)
            if layer < self.n_layers - 1 and self.dropout > 0:
                x = F.dropout(x, self.dropout, self.training)
        return x, (torch.stack(h_n), torch.stack(c_n))  # (B, T, D*H), (L*D, B, H) each


class FastLSTM(nn.Module):
    """The same stack on torch.nn.LSTM; padded rows go through packed sequences."""

    def __init__(self, input_size: int, hidden_size: int, n_layers: int = 1, bidirectional: bool = False,
                 dropout: float = 0.0):
        super().__init__()
        self.input_size, self.hidden_size, self.n_layers = input_size, hidden_size, n_layers
        self.directions = 2 if bidirectional else 1
        self.lstm = nn.LSTM(input_size, hidden_size, n_layers, batch_first=True, dropout=dropout,
                            bidirectional=bidirectional)

    def forward(self, x: torch.Tensor, padding_mask: torch.Tensor | None = None,
                state: State | None = None) -> tuple[torch.Tensor, State]:
        """As LSTM.forward; padding must be on the right."""
        B, T, _ = x.shape
        no_pads = padding_mask is None or bool(padding_mask.all())
        if no_pads and T == 1 and self.directions == 1 and state is not None:
            return self.step(x, state)  # one step from a carried state, as generation takes: a fused cell a layer
        if no_pads:
            return self.lstm(x, state)  # one fused call
        lengths = check_right_padded(padding_mask.bool())  # (B,)
        # - pack: the kernel runs each sequence for its own length only (an empty row runs one step, then is zeroed)
        packed = pack_padded_sequence(x, lengths.clamp(min=1).cpu(), batch_first=True, enforce_sorted=False)
        out, (h, c) = self.lstm(packed, state)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=T)  # (B, T, D*H), zeros at pads
        empty = lengths == 0  # (B,)
        if empty.any():
            # - a row with no real token keeps its starting state and outputs nothing
            h0, c0 = state if state is not None else (torch.zeros_like(h), torch.zeros_like(c))
            keep = empty[None, :, None]  # (1, B, 1)
            h, c = torch.where(keep, h0, h), torch.where(keep, c0, c)
            out = out.masked_fill(empty[:, None, None], 0.0)
        return out, (h, c)

    def step(self, x: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """One time step, x (B, 1, I), through each layer's fused cell (the kernel of torch.nn.LSTMCell)
        with torch.nn.LSTM's weights. On CPU torch.nn.LSTM runs oneDNN's kernel, which pays for a whole
        sequence's set-up on every call: for one step of 256 units it takes about twice as long."""
        h0, c0 = state  # (L, B, H) each
        inp = x[:, 0]  # (B, I)
        h_n, c_n = [], []
        for layer in range(self.n_layers):
            weights = [getattr(self.lstm, f"{name}_l{layer}")
                       for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
            h, c = torch.lstm_cell(inp, (h0[layer], c0[layer]), *weights)  # (B, H) each
            h_n.append(h)
            c_n.append(c)
            # - dropout between layers, not after the last (as torch.nn.LSTM)
            inp = F.dropout(h, self.lstm.dropout, self.training) if layer < self.n_layers - 1 else h
        return inp[:, None], (torch.stack(h_n), torch.stack(c_n))  # (B, 1, H), (L, B, H) each


def build_lstm(input_size: int, hidden_size: int, n_layers: int = 1, bidirectional: bool = False,
               dropout: float = 0.0, fast: bool = True) -> LSTM | FastLSTM:
    """The fast path (torch.nn.LSTM) or the readable one; both take and return the same things."""
    cls = FastLSTM if fast else LSTM
    return cls(input_size, hidden_size, n_layers, bidirectional, dropout)


def copy_lstm_weights(src: LSTM | FastLSTM | nn.LSTM, dst: LSTM | FastLSTM | nn.LSTM) -> None:
    """Copy every weight from one LSTM to another of the same shape, readable or fast, either way.

    The readable stack's cells[l * D + d].weight_ih is torch.nn.LSTM's weight_ih_l{l}, with the suffix
    _reverse for d = 1; likewise weight_hh, bias_ih and bias_hh.
    """
    def tensors(m) -> dict[str, torch.Tensor]:
        if isinstance(m, FastLSTM):
            m = m.lstm
        if isinstance(m, nn.LSTM):
            return dict(m.named_parameters())
        # - the readable stack's cells, under torch.nn.LSTM's names
        out = {}
        for k, cell in enumerate(m.cells):
            layer, d = divmod(k, m.directions)
            for name, p in cell.named_parameters():
                out[f"{name}_l{layer}" + ("_reverse" if d == 1 else "")] = p
        return out

    src_t, dst_t = tensors(src), tensors(dst)
    if src_t.keys() != dst_t.keys() or any(src_t[k].shape != dst_t[k].shape for k in src_t):
        raise ValueError("the two LSTMs differ in shape (width, layers or directions); weights cannot be copied")
    with torch.no_grad():
        for name, p in dst_t.items():
            p.copy_(src_t[name])


class LSTMCache:
    """The carried state of a recurrent language model during generation: the counterpart of KVCache.

    Where a transformer keeps every past key and value, an LSTM keeps one (h, c) per layer: constant
    memory however long the text. `length` counts the tokens the state has read; generation slides
    the same window as a transformer's (max_len tokens), so the two read the same text.
    """

    def __init__(self, max_len: int | None = None):
        self.state: State | None = None
        self.length = 0
        self.max_len = max_len

    def has_room(self, n: int = 1) -> bool:
        """Whether n more tokens fit in the window (generation starts again from the window when not)."""
        return self.max_len is None or self.length + n <= self.max_len

    def advance(self, T: int) -> None:
        self.length += T

    def reset(self) -> None:
        self.state, self.length = None, 0
