"""Train a text classifier on IMDb, or on your own labelled .csv/.tsv/.jsonl: a YAML preset
(--config configs/imdb.yaml) plus dotted overrides.

  scratchformer train-classifier --config configs/imdb.yaml --data.source ../shared/data/aclImdb.tar.gz
  scratchformer train-classifier --config configs/imdb.yaml --model.variant pool --train.max_steps 300

The run folder (runs/NAME) gets the resolved config, the command line, the environment,
metrics.jsonl, checkpoint.pt and results.json (validation accuracy; test accuracy with
--final_test true). Then `scratchformer classify --run runs/NAME --text "..."` uses it.
"""

from __future__ import annotations

from scratchformer.errors import config_from_options
from scratchformer.tasks.classification import ClassifierRunConfig

HELP = "train a text classifier (IMDb sentiment, or your own .csv/.jsonl) from a preset"


def add_arguments(parser) -> None:
    parser.add_argument("--config", action="config", help="a YAML preset from configs/ (later options override it)")
    parser.add_class_arguments(ClassifierRunConfig, None, as_group=False)


def run(args) -> None:
    from scratchformer.tasks.classification import prepare_data, train_classifier

    cfg = config_from_options(ClassifierRunConfig, args)
    if cfg.save and cfg.name is not None:  # refuse an existing run before reading and tokenising the data
        from scratchformer.training.run_dir import new_run_folder

        new_run_folder(cfg.out_dir, cfg.name)
    # - a tracker that cannot log is an error now, before minutes of reading and tokenizing
    from scratchformer.training import tracking

    tracking.check_available(cfg.train.track)
    if cfg.threads:
        import torch

        torch.set_num_threads(cfg.threads)
    tokenizer, data, _ = prepare_data(cfg)
    print(f"{len(data.ids['train'])} training texts, {len(data.ids['val'])} validation texts, "
          f"vocabulary {tokenizer.vocab_size}")
    _, result = train_classifier(cfg, tokenizer, data)
    line = f"trained {result['step']} steps in {result['train_s']:.0f} s: validation accuracy {100 * result['val_acc']:.2f}%"
    if "test_acc" in result:
        line += f", test accuracy {100 * result['test_acc']:.2f}%"
    print(line)
    if "run" in result:
        print(f"run folder: {result['run']}\nclassify:   scratchformer classify --run {result['run']} --text 'A fine film.'")
