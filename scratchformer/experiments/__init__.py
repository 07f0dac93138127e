"""Experiments: research questions run as grids of variants x seeds by harness.py.

Each experiment file holds a task (run), a table of variants and its metrics, and ends with
`EXPERIMENT = Experiment(...)`; docs/experiments.md shows how to write one. Register it here.
"""

# `scratchformer experiment NAME` -> the module that defines EXPERIMENT
EXPERIMENTS: dict[str, str] = {
    "imdb-ablation": "scratchformer.experiments.imdb_ablation",
    "positions": "scratchformer.experiments.positions",
    "imdb-pretrain": "scratchformer.experiments.imdb_pretrain",
    "perceiver-vs-gpt": "scratchformer.experiments.perceiver_vs_gpt",
    "perceiver-retrieval": "scratchformer.experiments.perceiver_retrieval",
    "length-generalisation": "scratchformer.experiments.length_generalisation",
    "distillation": "scratchformer.experiments.distillation",
    "augmentation": "scratchformer.experiments.augmentation",
    "cramming": "scratchformer.experiments.cramming",
    "recurrent-lm": "scratchformer.experiments.recurrent_lm",
}
