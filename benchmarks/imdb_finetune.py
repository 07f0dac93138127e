"""Fine-tuning choices for a pretrained IMDb language model: the validation accuracy of each variant.

    python -m benchmarks.imdb_finetune --lm runs/NAME/lm                      # every variant in turn
    python -m benchmarks.imdb_finetune --lm runs/NAME/lm --variants preset llrd_0.5 --threads 1

One GPT pretrained on train/unsup (the lm/ folder of `scratchformer experiment imdb-pretrain`) is
fine-tuned once per variant. A variant is a few changes to the fine-tuning of
configs/imdb_pretrain.yaml (its classifier, finetune and batching sections). Every variant runs the
same number of steps (--steps) instead of the preset's time budget, so variants compare at equal
work even when the machine's load changes; two single-thread sweeps can share the two cores.
Only the validation split is scored: choosing settings on test would make the final figure
(benchmarks.imdb_pretrain) optimistic. One seed each: differences under about a point are within
the noise of 2,500 validation reviews (the standard error of an accuracy near 91% is 0.6 points).

One sweep writes one results file, benchmarks/results/imdb_finetune.json (or --out NAME: two
sweeps side by side need two names), rewritten after every variant so an interrupted sweep keeps
the rows it finished. Every row carries the commit, the CPU and its load.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

from benchmarks.common import RESULTS, report, shared_file

ROOT = Path(__file__).resolve().parents[1]

# variant name -> changes to the preset's fine-tuning ({section: {field: value}})
VARIANTS: dict[str, dict] = {
    "preset": {},
    "llrd_1.0": {"finetune": {"layer_lr_decay": 1.0}},  # every layer at the same rate
    "llrd_0.5": {"finetune": {"layer_lr_decay": 0.5}},
    "llrd_0.5_lr_2e-3": {"finetune": {"layer_lr_decay": 0.5, "lr": 2.0e-3}},
    "dropout_0": {"classifier": {"dropout": 0.0}},
    "dropout_0.2": {"classifier": {"dropout": 0.2}},
    "meanmax": {"classifier": {"pooling": "meanmax"}},
    "max_len_512": {"batching": {"max_len": 512}},
    "causal": {"classifier": {"causal": True}},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lm", required=True, help="a pretrained language model run (RUN/lm)")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--steps", type=int, default=1650, help="fine-tuning steps of every variant")
    parser.add_argument("--threads", type=int, default=0, help="PyTorch threads (0: the default)")
    parser.add_argument("--out", default="imdb_finetune", help="results file name (benchmarks/results/OUT.json)")
    args = parser.parse_args()

    import torch

    from scratchformer.cli.main import build_parser
    from scratchformer.data.imdb import load_imdb
    from scratchformer.errors import config_from_options
    from scratchformer.experiments.imdb_pretrain import ExperimentConfig, classifier_run_config
    from scratchformer.tasks.classification import prepare_data, train_classifier
    from scratchformer.tasks.runs import load_language_model
    from scratchformer.provenance import git_commit, machine

    if args.threads:
        torch.set_num_threads(args.threads)
    source = str(shared_file("aclImdb.tar.gz"))
    cli = build_parser("experiment")
    # - the language model's own figures, when it comes from `experiment imdb-pretrain`
    experiment_results = Path(args.lm).parent / "results.json"
    lm_val = json.loads(experiment_results.read_text()).get("lm", {}) if experiment_results.exists() else {}
    tokenizer = load_language_model(args.lm).tokenizer  # the LM's own tokenizer
    imdb, prepared = None, {}
    path = RESULTS / f"{args.out}.json"
    result = {"benchmark": "imdb_finetune", "lm": args.lm, "steps": args.steps, "commit": git_commit(),
              "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "rows": []}
    for name in args.variants:
        # - the preset, with this variant's changes, parsed as `experiment imdb-pretrain` parses it
        overrides = [f"--{section}.{key}={value if isinstance(value, str) else json.dumps(value)}"
                     for section, changes in VARIANTS[name].items() for key, value in changes.items()]
        ns = cli.instantiate(cli.parse_args(["experiment", "imdb-pretrain", "--config",
                                             str(ROOT / "configs/imdb_pretrain.yaml"), "--data.source", source,
                                             f"--finetune.max_steps={args.steps}", *overrides]))
        cfg = config_from_options(ExperimentConfig, ns["experiment"]["imdb-pretrain"])
        run_cfg = dataclasses.replace(classifier_run_config(cfg, Path("runs") / "unused", init=Path(args.lm)),
                                      budget=None, fit_schedule_to_budget=False, save=False, final_test=False)
        if imdb is None:
            imdb = load_imdb(run_cfg.data, final_test=False)
        key = json.dumps(dataclasses.asdict(run_cfg.batching))
        if key not in prepared:  # - encode the reviews once per way of cutting them
            prepared[key] = prepare_data(run_cfg, imdb=imdb, tokenizer=tokenizer)[1]
        data = prepared[key]
        start = time.perf_counter()
        _, fit = train_classifier(run_cfg, tokenizer, data)
        row = {"variant": name, "changes": VARIANTS[name], "val_acc": fit["val_acc"],
               "val_loss": round(fit["val_loss"], 4) if fit.get("val_loss") else None, "steps": fit["step"],
               "train_s": fit["train_s"], "wall_s": round(time.perf_counter() - start, 1),
               "threads": torch.get_num_threads(), "lm": args.lm, "lm_val_loss": lm_val.get("val_loss"),
               "classifier": dataclasses.asdict(run_cfg.model), "finetune": dataclasses.asdict(run_cfg.train),
               "batching": dataclasses.asdict(run_cfg.batching), "commit": git_commit(),
               "at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), **machine()}
        print(f"{name}: validation accuracy {100 * fit['val_acc']:.2f}% ({fit['train_s']:.0f} s)", flush=True)
        # - this sweep's rows only, written after each so an interrupted sweep keeps what it finished
        result["rows"].append(row)
        RESULTS.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=2) + "\n")
    report(args.out, result)


if __name__ == "__main__":
    main()
