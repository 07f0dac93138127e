"""Train a language model on a corpus, end to end, and reload it from its run folder.

    corpus text ─► tokenizer ─► LMData ─► GPT ─► Trainer ─► runs/NAME/{config.yaml, metrics.jsonl, checkpoint.pt}
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from scratchformer.data.corpus import CorpusConfig, load_splits
from scratchformer.data.lm_data import LMData
from scratchformer.data.tokenizers import TOKENIZERS, tokenizer_from_dict
from scratchformer.errors import UserError
from scratchformer.models.generate import SamplingConfig
from scratchformer.models.gpt import GPT, GPTConfig
from scratchformer.models.registry import build_model
from scratchformer.training.checkpoint import load_checkpoint, load_weights, resolve_checkpoint
from scratchformer.training.trainer import TrainConfig, Trainer


@dataclass
class LMRunConfig:
    """A whole language-model run: what the YAML presets in configs/ describe."""

    model: GPTConfig = field(default_factory=GPTConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    data: CorpusConfig = field(default_factory=CorpusConfig)
    sample: SamplingConfig = field(default_factory=SamplingConfig)
    tokenizer: str = "char"
    """How text becomes token ids: char (one per character), byte (one per UTF-8 byte), bpe (byte-level
    subwords learned on the training text), word (lowercased words and punctuation), or hf_bpe (a pretrained
    model's vocabulary, which comes with --init). vocab_size is set from it."""
    out_dir: str = "runs"
    """Folder that holds run folders."""
    name: str | None = None
    """Run folder name; None makes one from the time (an existing run is never overwritten)."""
    resume: str | None = None
    """A run folder or checkpoint to continue from, exactly where it stopped."""
    prompt: str = "\n"
    """Prompt for the sample printed at the end of training."""
    init: str | None = None
    """Start from pretrained weights (gpt2, gpt2-medium, smollm2, ... or a .gguf file / Hugging Face
    folder); the architecture and tokenizer come from the weights, --model.context_len sets the window."""

    def __post_init__(self):
        if self.tokenizer not in TOKENIZERS:
            raise ValueError(f"unknown tokenizer {self.tokenizer!r}; choose one of {sorted(TOKENIZERS)}")


def run_folder(cfg: LMRunConfig) -> Path:
    """Where this run writes; refuses to reuse a folder that already holds a run."""
    if cfg.resume is not None:
        return resolve_checkpoint(cfg.resume).parent
    name = cfg.name or time.strftime("run-%Y%m%d-%H%M%S")
    path = Path(cfg.out_dir) / name
    if (path / "checkpoint.pt").exists() or (path / "metrics.jsonl").exists():
        raise UserError(f"run folder {path} already holds a run; pick another --name, or continue it "
                        f"with --resume {path}")
    return path


def restrict_to_vocabulary(splits: dict[str, str], tokenizer) -> dict[str, str]:
    """Drop characters a character-level tokenizer never saw in training (from val/test text)."""
    if tokenizer.kind != "char":
        return splits
    known = set(tokenizer.stoi)
    return {k: "".join(c for c in v if c in known) for k, v in splits.items()}


def prepare(cfg: LMRunConfig):
    """Corpus, tokenizer and data for a run, and the model config with vocab_size filled in."""
    splits = load_splits(cfg.data)
    if cfg.resume is not None:
        # - a resumed run keeps the tokenizer it started with
        tokenizer = tokenizer_from_dict(load_checkpoint(cfg.resume)["tokenizer"])
    else:
        tokenizer = TOKENIZERS[cfg.tokenizer].train(splits["train"])
    splits = restrict_to_vocabulary(splits, tokenizer)
    model_cfg = dataclasses.replace(cfg.model, vocab_size=tokenizer.vocab_size)
    data = LMData.from_text(splits, tokenizer, model_cfg.context_len)
    return tokenizer, data, model_cfg


def train_language_model(cfg: LMRunConfig, run_config: dict | None = None,
                         check_tokenizer=None) -> tuple[Path, dict, Trainer]:
    """Train (or resume) a run; returns its folder, its final metrics and the trainer.

    check_tokenizer(tokenizer): called once the tokenizer is known, before any training (a command
    checks there that its prompt reads as tokens, rather than failing after the run)."""
    folder = run_folder(cfg)
    if cfg.init is not None:  # continue training a pretrained model
        from scratchformer.models.pretrained.finetune import prepare_finetune

        tokenizer, data, model = prepare_finetune(cfg.init, cfg.data, cfg.model.context_len)
    else:
        tokenizer, data, model_cfg = prepare(cfg)
        torch.manual_seed(cfg.train.seed)
        model = GPT(model_cfg)
    if check_tokenizer is not None:
        check_tokenizer(tokenizer)
    trainer = Trainer(model, cfg.train, data, run_dir=folder, tokenizer=tokenizer,
                      run_config=run_config or {}, model_kind="gpt")
    if cfg.resume is not None:
        trainer.resume(cfg.resume)
    elif trainer.run_dir is not None:  # under torchrun only rank 0 has a run folder
        trainer.run_dir.write_start(run_config or dataclasses.asdict(cfg), str(trainer.device))
    result = trainer.fit()
    if result.get("interrupted"):  # Ctrl-C / SIGTERM wrote a checkpoint; stop here cleanly
        from scratchformer.training.interrupt import TrainingInterrupted

        raise TrainingInterrupted(result["interrupted"])
    return folder, result, trainer


def load_run(path: str | Path, device: str = "cpu"):
    """(model, tokenizer, checkpoint dict) from a run folder or a checkpoint file."""
    state = load_checkpoint(path, map_location=device)
    try:
        model = build_model(state.get("kind", "gpt"), state["model_config"])
    except (TypeError, ValueError) as e:
        raise UserError(f"checkpoint {path} holds an invalid model config ({e})") from None
    load_weights(model, state["model"], source=f"checkpoint {path}")
    if state.get("tokenizer") is None:
        raise UserError(f"checkpoint {path} has no tokenizer; it cannot read or write text")
    tokenizer = tokenizer_from_dict(state["tokenizer"])
    return model.to(device).eval(), tokenizer, state
