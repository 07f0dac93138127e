"""Train a language model on a corpus, end to end, or continue one from its run folder.

    corpus text ─► tokenizer ─► LMData ─► GPT ─► Trainer ─► runs/NAME/{config.yaml, metrics.jsonl, checkpoint.pt}

Resume (`scratchformer train --resume runs/NAME`) continues the run on its own config.yaml. Only
settings that are safe to change mid-run may differ (SAFE_ON_RESUME: the length, evaluation,
logging, tracking, device, sampling); a different corpus, tokenizer or model is refused, naming
the fields. Each resume is recorded in resumes.jsonl and config.yaml is updated. Reload a trained
run with `scratchformer.tasks.runs.load_run`.
"""

from __future__ import annotations

import dataclasses
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
from scratchformer.training.budget import budget_plan, budget_seconds, fit_within_budget, parse_budget
from scratchformer.training.checkpoint import load_checkpoint
from scratchformer.training.interrupt import TrainingInterrupted
from scratchformer.training.run_dir import RunDir, changes_on_resume, existing_run_folder, new_run_folder
from scratchformer.training.trainer import TrainConfig, Trainer, check_before_training

RESUME_COMMAND = "scratchformer train --resume"

# - what a resumed run may change (a prefix ending in '.' covers a whole section); all else must match
SAFE_ON_RESUME = ("train.max_steps", "train.eval_interval", "train.eval_batches", "train.log_interval",
                  "train.stats_interval", "train.checkpoint_interval", "train.track", "train.wandb_project",
                  "train.progress", "train.device", "train.compile", "sample.", "prompt", "budget")


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
    """How text becomes token ids: char (one id per character of the corpus), byte (256 UTF-8 bytes),
    word (lowercased words) or bpe (byte-level BPE learned on the corpus, GPT-2 style: keeps case and
    whitespace; learned once and cached beside the corpus). The model's vocab_size is set from it."""
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
    budget: str | None = None
    """Train for this long instead of to max_steps: 90s, 15m, 1h (training only: validation is left out
    and reported apart; compiling counts). The learning-rate schedule and the batch and length ramps
    are fitted to the step time measured after the warm-up, so the run ends fully decayed at the
    budget (max_steps stays the upper bound); the run folder's budget.json records what was done."""
    budget_from: str | None = None
    """An earlier budgeted run's folder: take exactly the steps it took, changing max_steps where its
    schedule was refitted, with no budget. The schedule and ramps follow it step for step, so a
    time-budgeted result is reproduced at fixed step counts whatever this machine's speed."""
    init: str | None = None
    """Start from pretrained weights (gpt2, gpt2-medium, smollm2, ... or a .gguf file / Hugging Face
    folder); the architecture and tokenizer come from the weights, --model.context_len sets the window."""

    def __post_init__(self):
        if self.tokenizer not in LM_TOKENIZERS:
            hint = " (hf_bpe is a pretrained model's vocabulary: use --init NAME)" if self.tokenizer == "hf_bpe" else ""
            raise ValueError(f"unknown tokenizer {self.tokenizer!r}; choose one of {', '.join(LM_TOKENIZERS)}{hint}")
        if self.tokenizer == "bpe" and self.tokenizer_vocab_size < MIN_VOCAB:
            raise ValueError(f"tokenizer_vocab_size must be at least {MIN_VOCAB} for bpe (256 bytes and a merge), "
                             f"got {self.tokenizer_vocab_size}")
        budget_seconds(self.budget)  # None, or a length: a budget of 0 or one that is not a length is one line
        if self.budget is not None and self.budget_from is not None:
            raise ValueError("give budget (train for a time) or budget_from (replay a run's steps), not both")
        if self.budget_from is not None:
            budget_plan(self.budget_from)  # a folder without a record of its steps: one line, before any work
        if self.tokenizer == "word" and self.tokenizer_vocab_size < 3:
            raise ValueError(f"tokenizer_vocab_size must be at least 3 for word, got {self.tokenizer_vocab_size}")


def run_folder(cfg: LMRunConfig) -> Path:
    """Where this run writes: the run it resumes, or a new folder (never one that holds a run)."""
    if cfg.resume is not None:
        return existing_run_folder(cfg.resume)
    return new_run_folder(cfg.out_dir, cfg.name, prefix="run", resume_command=RESUME_COMMAND)


def check_resume(saved: dict, cfg: LMRunConfig) -> dict:
    """{field: [before, after]} for what a resume changes; a UserError for anything unsafe to change."""
    # - where the run lives is given by --resume itself, whatever --out_dir and --name say
    # - (vocab_size is set from the tokenizer, and the training settings as the checks before
    #   training fix them, as config.yaml records them: neither is a change)
    resumed = {**dataclasses.asdict(cfg), "resume": saved.get("resume"), "name": saved.get("name"),
               "out_dir": saved.get("out_dir"),
               "train": dataclasses.asdict(check_before_training(cfg.train, quiet=True))}
    resumed["model"] = {**resumed["model"], "vocab_size": saved.get("model", {}).get("vocab_size")}
    return changes_on_resume(saved, resumed, SAFE_ON_RESUME, cfg.resume)


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
        # - a resumed run keeps the tokenizer and the model it started with (also one made by --init)
        state = load_checkpoint(cfg.resume)
        tokenizer = tokenizer_from_dict(state["tokenizer"])
        model_cfg = GPTConfig(**state["model_config"])
    else:
        tokenizer = build_tokenizer(cfg, splits["train"])
        model_cfg = dataclasses.replace(cfg.model, vocab_size=tokenizer.vocab_size)
    splits = restrict_to_vocabulary(splits, tokenizer)
    try:
        data = LMData.from_text(splits, tokenizer, model_cfg.context_len)
    except ValueError as e:  # a split shorter than the context
        raise UserError(f"corpus {cfg.data.corpus} is too short for this model: {e}; use a longer text or a "
                        "smaller --model.context_len") from None
    return tokenizer, data, model_cfg


def train_language_model(cfg: LMRunConfig, argv: list[str] | None = None) -> tuple[Path, dict, Trainer]:
    """Train (or resume) a run; returns its folder, its final metrics and the trainer.

    On resume, `cfg` must agree with the run's config.yaml but for SAFE_ON_RESUME (the command line
    builds it from that file and the options given); what changed is recorded in resumes.jsonl and
    config.yaml is updated. argv: the command line to record (default sys.argv).
    """
    folder = run_folder(cfg)
    changes = check_resume(RunDir(folder).read_config(), cfg) if cfg.resume is not None else {}
    if cfg.init is not None and cfg.resume is None:  # continue training a pretrained model
        from scratchformer.models.pretrained.finetune import prepare_finetune

        tokenizer, data, model = prepare_finetune(cfg.init, cfg.data, cfg.model.context_len)
    else:  # a new model, or (on resume) the model of the run's own config, whatever it started from
        tokenizer, data, model_cfg = prepare(cfg)
        torch.manual_seed(cfg.train.seed)
        model = GPT(model_cfg)
    # - the sample printed after training: check its prompt now, not after minutes of training
    cfg.prompt = check_prompt(cfg.prompt, tokenizer, data)
    # - the config as run: the model's real architecture (vocab_size, or a pretrained model's shape)
    run_config = {**dataclasses.asdict(cfg), "model": dataclasses.asdict(model.config), "resume": None}
    trainer = Trainer(model, cfg.train, data, run_dir=folder, tokenizer=tokenizer, run_config=run_config,
                      model_kind="gpt", resume_hint=f"{RESUME_COMMAND} {folder}")
    run_config["train"] = dataclasses.asdict(trainer.cfg)  # after the checks before training
    if cfg.resume is not None:
        trainer.resume(cfg.resume)
        if trainer.run_dir is not None:
            trainer.run_dir.write_config(run_config)
            trainer.run_dir.record_resume(trainer.step, changes, argv)
    elif trainer.run_dir is not None:  # under torchrun only rank 0 has a run folder
        trainer.run_dir.write_start(run_config, str(trainer.device), argv)
    if cfg.budget is not None or cfg.budget_from is not None:
        # - the schedule fitted to the budget, or an earlier budgeted run's steps and refits replayed
        #   with no budget (budget.json then says replayed_from); a Ctrl-C inside either raises
        #   after the checkpoint is written
        replay = budget_plan(cfg.budget_from) if cfg.budget_from is not None else None
        try:
            result = fit_within_budget(trainer, parse_budget(cfg.budget) if replay is None else 0, chunk=50,
                                       fit_schedule=True, replay=replay)
        except KeyboardInterrupt as stop:
            raise TrainingInterrupted(str(stop)) from None
        budget = result["budget"]
        if replay is not None:
            trainer.say(f"replayed {cfg.budget_from}: {result['step']} steps, the schedule refitted where it was")
        else:
            compiled = f", compiling {budget['compile_s']:.1f} s of it" if budget.get("compiled") else ""
            trainer.say(f"budget {cfg.budget}: {result['step']} steps in {budget['train_s']:.1f} s of training"
                        f"{compiled}; validation {budget['eval_s']:.1f} s apart (not in the budget)")
    else:
        result = trainer.fit()
    if result.get("interrupted"):  # Ctrl-C / SIGTERM wrote a checkpoint; stop here cleanly
        raise TrainingInterrupted(result["interrupted"])
    return folder, result, trainer
