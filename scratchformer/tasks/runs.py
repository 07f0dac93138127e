"""Open the checkpoint of any run: one loader for every kind of model.

    run = load_run("runs/NAME")                       # a run folder or its checkpoint.pt
    run.model, run.tokenizer, run.kind, run.config    # eval mode, on the device asked for

The checkpoint names its kind ("gpt", "perceiver_ar", "classifier", "encoder_decoder"); the model
registry (models/registry.py) rebuilds that model from the stored config, and the weights are
loaded strictly. A command that can use only some kinds says so with `expect`, and a run of
another kind is a one-line error that names the command which can use it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from torch import nn

from scratchformer.data.tokenizers import tokenizer_from_dict
from scratchformer.errors import UserError
from scratchformer.models.registry import DESCRIPTIONS, LANGUAGE_MODELS, build_model
from scratchformer.training.checkpoint import load_checkpoint, load_weights
from scratchformer.devices import resolve_device

# - which command uses a run of each kind (for the message when a run is given to another one)
COMMANDS = {
    "gpt": "scratchformer generate --run {path} (or eval --run {path})",
    "perceiver_ar": "scratchformer eval --run {path}",
    "classifier": "scratchformer classify --run {path} --text '...'",
    "encoder_decoder": "scratchformer seq2seq decode --run {path} --input ...",
}


@dataclass
class LoadedRun:
    """A trained run, ready to use."""

    model: nn.Module
    """The model, in eval mode, on the device asked for."""
    tokenizer: object | None
    """The tokenizer it was trained with (None for seq2seq runs: their task has its own vocabulary)."""
    kind: str
    """The model kind: a key of models/registry.py's MODELS."""
    config: dict
    """The run's resolved config (what config.yaml holds), as a plain dict."""
    path: Path
    state: dict = field(repr=False)
    """The whole checkpoint (step, train_config, ...)."""

    @property
    def step(self) -> int:
        return int(self.state.get("step", 0))


def load_run(path: str | Path, device: str = "cpu", expect: tuple[str, ...] | None = None,
             command: str | None = None) -> LoadedRun:
    """The model, tokenizer and config of a run folder or checkpoint file.

    expect: the kinds the caller can use (e.g. LANGUAGE_MODELS); command: its name, for the error.
    """
    device = resolve_device(device)  # a missing GPU is said as such, before the checkpoint is read
    # - always read onto the CPU: a checkpoint written on a GPU opens anywhere
    state = load_checkpoint(path, map_location="cpu")
    kind = state.get("kind", "gpt")
    if expect is not None and kind not in expect:
        what = DESCRIPTIONS.get(kind, f"a {kind!r} model")
        right = COMMANDS.get(kind, "").format(path=path)
        used_by = f" `scratchformer {command}`" if command else " this"
        raise UserError(f"{path} holds {what}, which{used_by} cannot use" + (f"; use `{right}`" if right else ""))
    try:
        model = build_model(kind, state["model_config"])
    except (TypeError, ValueError) as e:
        raise UserError(f"checkpoint {path} holds an invalid {kind} model config ({e})") from None
    load_weights(model, state["model"], source=f"checkpoint {path}")
    tokenizer = tokenizer_from_dict(state["tokenizer"]) if state.get("tokenizer") is not None else None
    if tokenizer is None and kind != "encoder_decoder":
        raise UserError(f"checkpoint {path} has no tokenizer; it cannot read or write text")
    return LoadedRun(model.to(device).eval(), tokenizer, kind, state.get("run_config") or {}, Path(path), state)


def load_language_model(path: str | Path, device: str = "cpu", command: str = "generate") -> LoadedRun:
    """load_run for the commands that read and write text token by token (generate, eval)."""
    return load_run(path, device, expect=LANGUAGE_MODELS, command=command)
