"""The `imdb-ablation` experiment on a tiny IMDb: one row per (variant, seed), test only with --final_test."""

import json

from imdb_fixture import make_archive
from scratchformer.cli.main import main
from scratchformer.experiments.imdb_ablation import EXPERIMENT, VARIANTS
from scratchformer.models.classifier import MIXERS

TINY = ["--model.d_model", "8", "--model.n_heads", "2", "--batching.max_len", "12", "--tokenizer.vocab_size", "50",
        "--train.max_steps", "30", "--train.batch_size", "8", "--train.lr", "1e-2", "--train.warmup_steps", "3"]


def rows(out):
    return {(r["variant"], r["seed"]): r for r in map(json.loads, (out / "rows.jsonl").read_text().splitlines())}


def test_every_classifier_variant_is_a_line_of_the_table():
    assert list(VARIANTS) == list(MIXERS) and all(v == {"model.variant": k} for k, v in VARIANTS.items())
    assert EXPERIMENT.seeds == 3


def test_ablation_writes_rows_summary_and_plots_and_reads_test_only_when_asked(tmp_path, capsys):
    archive = make_archive(tmp_path, n_train=40, n_test=10)
    out = tmp_path / "out"
    base = ["experiment", "imdb-ablation", "--data.source", str(archive), "--variants", "pool,kqv", "--seeds", "2",
            "--out_dir", str(out), *TINY]
    assert main(base) == 0
    found = rows(out)
    assert sorted(found) == [("kqv", 0), ("kqv", 1), ("pool", 0), ("pool", 1)]
    assert all(r["metrics"]["val_acc"] >= 0.7 and "test_acc" not in r["metrics"] for r in found.values())
    assert found[("pool", 0)]["metrics"]["params"] < found[("kqv", 0)]["metrics"]["params"]
    table = (out / "summary.md").read_text()
    assert "| pool |" in table and "±" in table and "test accuracy" not in table
    assert (out / "val_acc.png").read_bytes()[:4] == b"\x89PNG" and not (out / "test_acc.png").exists()
    # - every run folder is an ordinary classifier run
    assert (out / "kqv" / "seed-1" / "checkpoint.pt").exists()
    # - the final test is another config: another folder
    final = tmp_path / "final"
    assert main([*base[:6], "--seeds", "1", "--out_dir", str(final), *TINY, "--final_test", "true"]) == 0
    assert all(r["metrics"]["test_acc"] >= 0.7 for r in rows(final).values())
    assert (final / "test_acc.png").exists()
    capsys.readouterr()
    # - asking the first folder for the final test is refused, nothing mixed
    assert main([*base, "--final_test", "true"]) == 2
    assert "another --out_dir" in capsys.readouterr().err
