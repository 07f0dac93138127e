"""The Python API, for a notebook: what the commands do, as functions that return objects.

    from scratchformer import api

    run = api.train(data={"corpus": "my_text.txt"}, tokenizer="bpe", train={"max_steps": 200})
    run.generate("Once upon a time", max_new_tokens=100, seed=0)    # the prompt and its continuation
    run.evaluate()                                                   # {'val_loss': ..., 'val_bpc': ...}

    clf = api.train_classifier(data={"source": "reviews.csv"})      # a classifier on your own CSV
    clf.classify("A fine film.")                                     # ('pos', 0.93)
    clf.evaluate()                                                   # {'val_acc': ...}

    run = api.load("runs/NAME")    # a run folder, a checkpoint, an `export` folder or a pretrained name
    run.export("exported/NAME", format="hf")

Options are the command line's, as nested dicts (`train={"max_steps": 200}` is `--train.max_steps 200`)
plus an optional YAML preset (`config="configs/demo.yaml"`); they are parsed and checked by the same
parser, so a typo is the same one-line UserError the command prints.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import torch

from scratchformer.devices import model_device
from scratchformer.errors import UserError, config_from_options


# --------------------------------------------------------------------------------------------
# options as the command line would give them


def flatten(options: dict, prefix: str = "") -> list[str]:
    """{"train": {"max_steps": 5}, "tokenizer": "bpe"} -> ["--train.max_steps", "5", "--tokenizer", "bpe"]."""
    argv = []
    for key, value in options.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            argv += flatten(value, name + ".")
        else:
            text = value if isinstance(value, str) else json.dumps(value)  # (True -> true, None -> null)
            argv += [f"--{name}", text]
    return argv


def parse_config(command: str, cls, config: str | None, options: dict):
    """The config dataclass `cls` from a preset and options, checked as the command checks them."""
    from argparse import ArgumentError

    from scratchformer.cli.main import build_parser, one_line

    parser = build_parser(command)
    argv = [command] + (["--config", str(config)] if config else []) + flatten(options)
    try:
        args = parser.instantiate(parser.parse_args(argv))
    except (ArgumentError, ValueError, TypeError) as e:
        raise UserError(f"invalid options: {one_line(e)}") from None
    return config_from_options(cls, args[command])


# --------------------------------------------------------------------------------------------
# a trained model, whatever made it


class Run:
    """A model with its tokenizer: generate, classify, evaluate, export.

    model, tokenizer   the PyTorch module (eval mode) and the tokenizer
    kind               'gpt', 'classifier', ... (the model registry's name)
    folder             the run folder (None for a pretrained model or an export)
    metrics            what training reported (for a run trained here)
    """

    def __init__(self, model, tokenizer, kind: str = "gpt", folder: Path | None = None, state: dict | None = None,
                 metrics: dict | None = None):
        self.model, self.tokenizer, self.kind = model, tokenizer, kind
        self.folder, self.state, self.metrics = folder, state or {}, metrics or {}

    def __repr__(self) -> str:
        where = self.folder or "memory"
        return f"Run({self.kind}, {self.model.num_params() if hasattr(self.model, 'num_params') else '?'} parameters, {where})"

    # ---- language models ---------------------------------------------------------------------

    def generate(self, prompt: str = "\n", **sampling) -> str:
        """The prompt followed by sampled text. sampling: SamplingConfig fields (max_new_tokens, temperature,
        top_k, top_p, seed)."""
        from scratchformer.models.generate import SamplingConfig, generate

        self._need("gpt", "generate")
        ids = self.tokenizer.encode(prompt)
        if not ids:
            raise UserError("the prompt is empty after tokenisation; give at least one character")
        try:
            cfg = SamplingConfig(**sampling)
        except (TypeError, ValueError) as e:
            raise UserError(f"invalid sampling option: {e}") from None
        device = model_device(self.model)
        out = generate(self.model, torch.tensor([ids], device=device), cfg)  # (1, T + max_new_tokens)
        return self.tokenizer.decode(out[0].tolist())

    def evaluate(self, split: str = "val", batches: int = 50, batch_size: int = 16) -> dict:
        """Language model: mean loss (nats) and bits per character on a split of its corpus.
        Classifier: accuracy on the whole split ('val', or 'test' from the run's test data)."""
        if self.kind == "classifier":
            return self._accuracy(split)
        self._need("gpt", "evaluate")
        from scratchformer.data.corpus import CorpusConfig, load_splits
        from scratchformer.data.lm_data import LMData
        from scratchformer.tasks.language_model import restrict_to_vocabulary
        from scratchformer.training.evaluation import evaluate_loss

        splits = restrict_to_vocabulary(load_splits(CorpusConfig(**self._run_config("data"))), self.tokenizer)
        if not splits.get(split):
            raise UserError(f"the corpus has no {split!r} split")
        data = LMData.from_text(splits, self.tokenizer, self.model.config.context_len)
        device = model_device(self.model)
        seed = (self.state.get("run_config") or {}).get("train", {}).get("seed", 0) + 1  # the Trainer's validation batches
        return evaluate_loss(self.model, data, split, batches, batch_size, seed=seed, device=device)

    # ---- classifiers -------------------------------------------------------------------------

    def classify(self, text: str | list[str]) -> tuple[str, float] | list[tuple[str, float]]:
        """(label, its probability) for a text, or a list of them for a list of texts."""
        from scratchformer.data.text_batches import BatchingConfig
        from scratchformer.tasks.classification import classify

        self._need("classifier", "classify")
        batching = BatchingConfig(**self._run_config("batching"))
        if isinstance(text, str):
            return classify(self.model, self.tokenizer, text, batching)
        return [classify(self.model, self.tokenizer, t, batching) for t in text]

    def _accuracy(self, split: str) -> dict:
        from scratchformer.data.labelled_texts import TextDataConfig, load_classification_data
        from scratchformer.data.text_batches import BatchingConfig, ClassificationData
        from scratchformer.data.token_cache import encode_cached
        from scratchformer.tasks.classification import accuracy, probabilities

        data_cfg = TextDataConfig(**self._run_config("data"))
        texts = load_classification_data(data_cfg, final_test=split == "test")[split]
        cache = data_cfg.cache_dir if data_cfg.cache_tokens else None
        ids, _ = encode_cached(self.tokenizer, texts.texts, cache)
        data = ClassificationData({split: ids}, {split: texts.labels}, BatchingConfig(**self._run_config("batching")),
                                  pad_id=self.tokenizer.pad_id)
        return {f"{split}_acc": accuracy(probabilities(self.model, data, split), data.labels[split])}

    # ---- weights out -------------------------------------------------------------------------

    def export(self, out: str | Path, format: str = "safetensors") -> Path:
        """Write the weights (see `scratchformer export`); returns the folder."""
        from scratchformer.models.export import export_hf, export_safetensors

        model_config = dataclasses.asdict(self.model.config)
        tokenizer = self.tokenizer.to_dict() if self.tokenizer is not None else None
        if format == "hf":
            self._need("gpt", "export to a Hugging Face folder")
            return export_hf(self.model, model_config, tokenizer, out)[0]
        if format != "safetensors":
            raise UserError(f"unknown export format {format!r}; choose one of safetensors, hf")
        return export_safetensors(self.model, self.kind, model_config, tokenizer, out)

    # ---- helpers -----------------------------------------------------------------------------

    def _need(self, kind: str, what: str) -> None:
        if self.kind != kind:
            raise UserError(f"this is a {self.kind!r} model; only a {kind!r} model can {what}")

    def _run_config(self, part: str) -> dict:
        run_config = self.state.get("run_config") or {}
        if part not in run_config:
            raise UserError(f"this model carries no run config ({part}); it was not trained by scratchformer")
        return run_config[part]


# --------------------------------------------------------------------------------------------
# the entry points


def load(path_or_name: str | Path, device: str = "cpu") -> Run:
    """A run folder or checkpoint, a folder written by `export`, or a pretrained model name / file / folder."""
    from scratchformer.models.export import META

    path = Path(path_or_name).expanduser()
    if (path / META).is_file():  # a folder `scratchformer export` wrote
        from scratchformer.data.tokenizers import tokenizer_from_dict
        from scratchformer.models.export import load_export

        model, kind, _, tokenizer = load_export(path)
        return Run(model.to(device), tokenizer_from_dict(tokenizer) if tokenizer else None, kind)
    if path.is_dir() and (path / "checkpoint.pt").is_file() or path.suffix == ".pt":
        from scratchformer.tasks.runs import load_run

        run = load_run(path, device)
        return Run(run.model, run.tokenizer, run.kind, run.path if run.path.is_dir() else run.path.parent, run.state)
    from scratchformer.models.pretrained import from_pretrained

    model, tokenizer = from_pretrained(str(path_or_name))
    return Run(model.to(device), tokenizer, "gpt")


def train(config: str | None = None, **options) -> Run:
    """Train a language model (as `scratchformer train`) and return it; the run folder is run.folder."""
    from scratchformer.tasks.language_model import LMRunConfig, train_language_model

    cfg = parse_config("train", LMRunConfig, config, options)
    folder, result, trainer = train_language_model(cfg)
    run = load(folder, str(trainer.device))
    run.metrics = result
    return run


def train_classifier(config: str | None = None, **options) -> Run:
    """Train a classifier (as `scratchformer train-classifier`) and return it, with its accuracy in run.metrics."""
    from scratchformer.tasks.classification import ClassifierRunConfig, prepare_data, train_classifier as fit

    cfg = parse_config("train-classifier", ClassifierRunConfig, config, options)
    tokenizer, data, _ = prepare_data(cfg)
    model, result = fit(cfg, tokenizer, data)
    if "run" in result:
        run = load(result["run"])
    else:  # save false: the model lives in memory only
        run = Run(model, tokenizer, "classifier", state={"run_config": json.loads(json.dumps(dataclasses.asdict(cfg)))})
    run.metrics = result
    return run
