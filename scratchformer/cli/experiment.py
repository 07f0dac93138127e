"""Run an experiment: a grid of variants x seeds, one results row per run, a summary table and plots.

  scratchformer experiment imdb-ablation --data.source ../shared/data/aclImdb.tar.gz --seeds 3
  scratchformer experiment positions --variants rope,alibi --train.max_steps 200
  scratchformer experiment positions --list            # the variants and metrics
  scratchformer experiment positions --quick           # seconds, at a tiny size
  scratchformer experiment positions --jobs 2          # two runs side by side
  scratchformer experiment positions --launcher slurm --sbatch_args "--time=01:00:00"

Every experiment takes the harness's options (--seeds, --scale, --variants, --list, --jobs, --out_dir,
--threads, --launcher) and its own config, with dotted overrides (--train.lr 3e-4) or --config YAML.
Stopped part-way? Run the same command again: finished runs are skipped, unfinished ones resume.
See docs/experiments.md.
"""

from __future__ import annotations

import importlib

from jsonargparse import ArgumentParser

from scratchformer.errors import config_from_options
from scratchformer.experiments import EXPERIMENTS
from scratchformer.experiments.sweep import SweepOptions, sweep

HELP = "run an experiment's grid of variants x seeds and write its table and plots"


def experiment(name: str):
    return importlib.import_module(EXPERIMENTS[name]).EXPERIMENT


def add_arguments(parser) -> None:
    sub = parser.add_subcommands(dest="name", required=True)
    for name, module_name in EXPERIMENTS.items():
        module = importlib.import_module(module_name)
        child = ArgumentParser(prog=f"scratchformer experiment {name}", description=module.__doc__,
                               exit_on_error=False)
        child.add_argument("--config", action="config", help="a YAML file of options (later options override it)")
        child.add_argument("--list", action="store_true", help="print the variants and metrics, and exit")
        child.add_argument("--quick", action="store_true",
                           help="a sweep of seconds at a tiny size (tests, a first look; its figures mean nothing)")
        child.add_class_arguments(SweepOptions, None, as_group=False, skip={"list", "quick"})
        child.add_class_arguments(module.EXPERIMENT.config, None, as_group=False)
        sub.add_subcommand(name, child, help=module.EXPERIMENT.help)


def given_keys(argv: list[str]) -> set[str]:
    """The dotted options given on this command line or in its --config, default values included
    (parsed again without the defaults filled in)."""
    parser = ArgumentParser(exit_on_error=False)
    add_arguments(parser)
    given = parser.parse_args(argv, defaults=False)
    return set(given[given.name].as_flat().__dict__)


def run(args, argv: list[str] | None = None) -> None:
    exp = experiment(args.name)
    options = args[args.name]
    sweep(exp, config_from_options(exp.config, options), config_from_options(SweepOptions, options),
          given_keys(argv) if argv is not None else None)
