"""Run one of the course's experiments by name, e.g.

  scratchformer experiment imdb-ablation --data.source ../shared/data/aclImdb.tar.gz --steps 200

An experiment is a module in scratchformer/experiments with HELP (one line), an
`ExperimentConfig` dataclass (its options) and `run(cfg)`. Adding one is one line in EXPERIMENTS.
"""

from __future__ import annotations

import importlib

from jsonargparse import ArgumentParser

from scratchformer.errors import config_from_options

HELP = "run a course experiment by name (see `scratchformer experiment --help`)"

# experiment name -> module
EXPERIMENTS: dict[str, str] = {
    "imdb-ablation": "scratchformer.experiments.imdb_ablation",
    "positions": "scratchformer.experiments.positions",  # issue 5: week-6 features
    "imdb-pretrain": "scratchformer.experiments.imdb_pretrain",  # issue 3: LM pretraining, then fine-tuning
}


def add_arguments(parser) -> None:
    sub = parser.add_subcommands(dest="name", required=True)
    for name, module_name in EXPERIMENTS.items():
        module = importlib.import_module(module_name)
        child = ArgumentParser(prog=f"scratchformer experiment {name}", description=module.__doc__,
                               exit_on_error=False)
        child.add_argument("--config", action="config", help="a YAML file of options (later options override it)")
        child.add_class_arguments(module.ExperimentConfig, None, as_group=False)
        sub.add_subcommand(name, child, help=getattr(module, "HELP", ""))


def run(args) -> None:
    module = importlib.import_module(EXPERIMENTS[args.name])
    module.run(config_from_options(module.ExperimentConfig, args[args.name]))
