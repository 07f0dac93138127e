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
from scratchformer.data.tokenizers.byte_bpe import MIN_VOCAB, cached_byte_bpe
from scratchformer.errors import UserError
from scratchformer.models.generate import SamplingConfig
from scratchformer.models.gpt import GPT, GPTConfig
from scratchformer.models.registry import build_model
from scratchformer.training.checkpoint import load_checkpoint, load_weights, resolve_checkpoint
from scratchformer.training.trainer import TrainConfig, Trainer


# the tokenizers a language model can learn from its corpus
LM_TOKENIZERS = ("char", "byte", "word", "bpe")


@dataclass
class LMRunConfig:
    """A whole language-model run: what the YAML presets in configs/ describe."""

    model: GPTConfig = field(default_factory=GPTConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    data: CorpusConfig = field(default_factory=CorpusConfig)
    sample: SamplingConfig = field(default_factory=SamplingConfig)
    tokenizer: str = "char"
    """char (one id per character of the corpus), byte (256 UTF-8 bytes), word (lowercased words) or
    bpe (byte-level BPE learned on the corpus, GPT-2 style: keeps case and whitespace; learned once
    and cached beside the corpus). The model's vocab_size is set from it."""
    tokenizer_vocab_size: int = 8000
    """Vocabulary size of the bpe and word tokenizers (bpe: at least 257, the 256 bytes and a merge)."""
    out_dir: str = "runs"
    """Folder that holds run folders."""
    name: str | None = None
    """Run folder name; None makes one from the time (an existing run is never overwritten)."""
    resume: str | None = None
    """A run folder or checkpoint to continue from, exactly where it stopped."""
    prompt: str = "\n"
    """Prompt for the sample printed at the end of training."""
    init: str | None = None
    """Issue 6: start from pretrained weights (gpt2, gpt2-medium, smollm2, ... or a .gguf file / Hugging Face
    folder); the architecture and tokenizer come from the weights, --model.context_len sets the window."""

    def __post_init__(self):
        if self.tokenizer not in LM_TOKENIZERS:
            hint = " (hf_bpe is a pretrained model's vocabulary: use --init NAME)" if self.tokenizer == "hf_bpe" else ""
            raise ValueError(f"unknown tokenizer {self.tokenizer!r}; choose one of {', '.join(LM_TOKENIZERS)}{hint}")
        if self.tokenizer == "bpe" and self.tokenizer_vocab_size < MIN_VOCAB:
            raise ValueError(f"tokenizer_vocab_size must be at least {MIN_VOCAB} for bpe (256 bytes and a merge), "
                             f"got {self.tokenizer_vocab_size}")
        if self.tokenizer == "word" and self.tokenizer_vocab_size < 3:
            raise ValueError(f"tokenizer_vocab_size must be at least 3 for word, got {self.tokenizer_vocab_size}")


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


def build_tokenizer(cfg: LMRunConfig, train_text: str):
    """Learn the run's tokenizer on the training text only (bpe: read from its cache when learned before)."""
    if cfg.tokenizer == "bpe":
        return cached_byte_bpe(train_text, cfg.tokenizer_vocab_size, corpus=cfg.data.corpus)
    if cfg.tokenizer == "word":
        return TOKENIZERS["word"].train(train_text, vocab_size=cfg.tokenizer_vocab_size)
    return TOKENIZERS[cfg.tokenizer].train(train_text)


def check_prompt(prompt: str, tokenizer, data: LMData, default: str = "\n") -> str:
    """The prompt for the sample after training, checked before training starts.

    The default prompt (a newline) falls back to the first token of the training text when the
    tokenizer cannot read it (a corpus without newlines); a prompt the user chose must encode.
    """
    try:
        ids = tokenizer.encode(prompt)
    except UserError as e:
        ids, reason = [], str(e)
    else:
        reason = "it holds no token"
    if ids:
        return prompt
    if prompt == default:
        return tokenizer.decode(data.tokens["train"][:1].tolist())
    raise UserError(f"the prompt {prompt!r} cannot start a sample ({reason}); give --prompt with text from the corpus")


def prepare(cfg: LMRunConfig):
    """Corpus, tokenizer and data for a run, and the model config with vocab_size filled in."""
    splits = load_splits(cfg.data)
    if cfg.resume is not None:
        # - a resumed run keeps the tokenizer it started with
        tokenizer = tokenizer_from_dict(load_checkpoint(cfg.resume)["tokenizer"])
    else:
        tokenizer = build_tokenizer(cfg, splits["train"])
    splits = restrict_to_vocabulary(splits, tokenizer)
    model_cfg = dataclasses.replace(cfg.model, vocab_size=tokenizer.vocab_size)
    try:
        data = LMData.from_text(splits, tokenizer, model_cfg.context_len)
    except ValueError as e:  # a split shorter than the context
        raise UserError(f"corpus {cfg.data.corpus} is too short for this model: {e}; use a longer text or a "
                        "smaller --model.context_len") from None
    return tokenizer, data, model_cfg


def train_language_model(cfg: LMRunConfig, run_config: dict | None = None) -> tuple[Path, dict, Trainer]:
    """Train (or resume) a run; returns its folder, its final metrics and the trainer."""
    folder = run_folder(cfg)
    if cfg.init is not None:  # issue 6: continue training a pretrained model
        from scratchformer.models.pretrained.finetune import prepare_finetune

        tokenizer, data, model = prepare_finetune(cfg.init, cfg.data, cfg.model.context_len)
    else:
        tokenizer, data, model_cfg = prepare(cfg)
        torch.manual_seed(cfg.train.seed)
        model = GPT(model_cfg)
    # - the sample printed after training: check its prompt now, not after minutes of training
    cfg.prompt = check_prompt(cfg.prompt, tokenizer, data)
    trainer = Trainer(model, cfg.train, data, run_dir=folder, tokenizer=tokenizer,
                      run_config=run_config or {}, model_kind="gpt")
    if cfg.resume is not None:
        trainer.resume(cfg.resume)
    elif trainer.run_dir is not None:  # issue 4: under torchrun only rank 0 has a run folder
        trainer.run_dir.write_start(run_config or dataclasses.asdict(cfg), str(trainer.device))
    result = trainer.fit()
    if result.get("interrupted"):  # issue 4: Ctrl-C / SIGTERM wrote a checkpoint; stop here cleanly
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
