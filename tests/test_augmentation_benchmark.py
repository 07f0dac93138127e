"""benchmarks.augmentation: the classifier goals judged over seeds, paired by seed, from a sweep's rows."""

import json

import pytest

from benchmarks import augmentation as bench
from scratchformer.experiments.augmentation import EXPERIMENT, ExperimentConfig


def rows_of(accuracy: dict[str, list[float]], amazon_gap: dict[str, list[float]] | None = None) -> list[dict]:
    """Rows as the harness writes them, derived across rows as the experiment's table derives them."""
    rows = []
    for variant, per_seed in accuracy.items():
        for seed, acc in enumerate(per_seed):
            gap = (amazon_gap or {}).get(variant, [20.0] * len(per_seed))[seed]
            rows.append({"variant": variant, "seed": seed, "wall_s": 60.0,
                         "metrics": {"val_acc": acc, "ood_acc": acc - 0.2, "gap_amazon": gap, "auroc_bbc": 0.7}})
    return EXPERIMENT.derive(ExperimentConfig(), rows)


def test_goals_are_paired_by_seed_and_the_best_is_chosen_on_validation():
    rows = rows_of({"bigram-N500-none": [0.70, 0.80, 0.75], "bigram-N500-eda": [0.74, 0.84, 0.79],
                    "bigram-N500-crop": [0.71, 0.81, 0.76], "bigram-N500-uda": [0.80, 0.85, 0.80],
                    "bigram-Nall-none": [0.90, 0.90, 0.85], "bigram-N100-none": [0.6, 0.6, 0.6]},
                   amazon_gap={"bigram-N500-none": [20.0, 18.0, 19.0], "bigram-N500-uda": [17.0, 16.0, 17.0]})
    j = bench.judge(rows)
    m = j["models"]["bigram"]
    # - EDA is 4 points above none on every seed: the same gain, no spread, established past 3
    assert m["eda"]["mean"] == pytest.approx(0.04) and m["eda"]["std"] == pytest.approx(0.0, abs=1e-9)
    assert m["eda"]["verdict"] == "established"
    # - uda closes (0.8-0.7)/(0.9-0.7) = 50%, (0.85-0.8)/(0.9-0.8) = 50%, (0.8-0.75)/(0.85-0.75) = 50%
    assert m["consistency"]["uda"]["mean"] == pytest.approx(0.5) and "uda-tsa" not in m["consistency"]
    # - chosen on validation: uda (+6.7 points) over eda (+4) and crop (+1); it narrows Amazon by 3, 2 and 2 points
    assert m["best"]["augmentation"] == "uda"
    assert m["best"]["amazon_narrowed"]["mean"] == pytest.approx(7 / 3, abs=1e-3) and m["best"]["verdict"] != "missed"
    assert list(m["augmentations"]) == ["eda", "crop", "uda"]  # the experiment's order
    assert list(j["accuracy_by_n"]["bigram-none"]) == ["100", "500", "all"]
    assert j["run_minutes_per_seed"] == {"0": 6.0, "1": 6.0, "2": 6.0}
    assert "transformer" not in j["models"] and list(j["auroc_bbc_full"]) == ["bigram-Nall-none"]


def test_verdicts_and_the_rendered_table():
    assert bench.verdict({"mean": 0.02, "ci95_low": 0.01}, 0.03) == "missed"
    assert bench.verdict({"mean": 0.04, "ci95_low": 0.01}, 0.03) == "met on the mean"
    assert bench.verdict({"mean": 0.04, "ci95_low": None}, 0.03) == "met on the mean"  # one seed: no interval
    assert bench.verdict({"mean": None, "ci95_low": None}, 0.03) == "not run"
    rows = rows_of({"transformer-N500-none": [0.7, 0.72], "transformer-N500-eda": [0.72, 0.73]})
    result = {"judged": bench.judge(rows), "n_rows": len(rows), "row_commits": ["abcdef0123"], "rows_dirty": False}
    table = bench.render(result)
    assert "| eda | +1.5 ± 0.7" in table and "EDA gain ≥ 3 points: **missed**" in table
    assert "(no pretrained rows here)" in table and "abcdef0 (clean)" in table


def final_rows_of(test_acc: dict[str, list[float]], val_acc: dict[str, list[float]]) -> list[dict]:
    """Rows of a --final_test sweep: test accuracy, and the Amazon gap against IMDb test."""
    return [{"variant": v, "seed": seed, "metrics": {"val_acc": val_acc[v][seed], "test_acc": acc,
                                                     "gap_amazon": 20.0 - 100 * (acc - 0.7)}}
            for v, per_seed in test_acc.items() for seed, acc in enumerate(per_seed)]


def test_the_test_split_is_read_for_validations_choice_only():
    val = {"bigram-N500-none": [0.70, 0.80], "bigram-N500-eda": [0.74, 0.84], "bigram-N500-crop": [0.71, 0.81]}
    rows = rows_of(val)
    judged = bench.judge(rows)
    assert judged["models"]["bigram"]["best"]["augmentation"] == "eda"
    # - the chosen augmentation and its anchor on test: paired by seed; the rerun's validation moved by 0.5 points
    final = final_rows_of({"bigram-N500-none": [0.70, 0.72], "bigram-N500-eda": [0.73, 0.76]},
                          {"bigram-N500-none": [0.70, 0.80], "bigram-N500-eda": [0.745, 0.84]})
    f = bench.judge_final(judged, final, final_test=True, folder="final")["bigram"]
    assert f["augmentation"] == "eda" and f["test_gain"]["mean"] == pytest.approx(0.035)
    # - it narrows the Amazon gap by 3 and 4 points: met on the mean; two seeds leave an interval reaching below 2
    assert f["amazon_narrowed"]["mean"] == pytest.approx(3.5) and f["verdict"] == "met on the mean"
    assert bench.rerun_drift(rows, final) == pytest.approx(0.005)
    result = {"judged": judged, "n_rows": 6, "row_commits": ["abcdef0123"], "rows_dirty": False,
              "final": {"seeds": [0, 1], "n_rows": 4, "row_commits": ["1234567890"], "rows_dirty": False,
                        "val_drift": 0.005, "test_reviews": 5000, "models": {"bigram": f}}}
    table = bench.render(result)
    assert "**The test split, read once**" in table and "within 0.50 points" in table and "5000 reviews" in table
    assert "is the sweep's, run for run" in bench.render({**result, "final": {**result["final"], "val_drift": 0.0}})
    assert "`eda` 74.5% ± 2.1 on IMDb test" in table and "the test split only below" in table
    # - a final sweep that scored anything validation did not choose, or ran without --final_test: one line each
    crop = final + final_rows_of({"bigram-N500-crop": [0.8, 0.8]}, {"bigram-N500-crop": [0.71, 0.81]})
    with pytest.raises(SystemExit, match="scored the test split for bigram-N500-crop, which validation did not choose"):
        bench.judge_final(judged, crop, final_test=True, folder="final")
    with pytest.raises(SystemExit, match="was run without --final_test true"):
        bench.judge_final(judged, final, final_test=False, folder="final")


def test_a_sweep_of_pretrained_variants_goes_to_a_results_file_of_its_own(tmp_path):
    from benchmarks.report import find_renderer

    # - a finished (quick) sweep as the harness leaves it: its config, and one row file per run
    sweep = tmp_path / "augmentation-pretrained"
    (sweep / "rows").mkdir(parents=True)
    (sweep / "sweep.json").write_text(json.dumps({"config": {}, "quick": True}))  # quick: a dirty tree may judge it
    accuracy = {"pretrained-N500-none": [0.80, 0.78], "pretrained-N500-uda": [0.84, 0.80],
                "pretrained-Nall-none": [0.88, 0.86]}
    for variant, per_seed in accuracy.items():
        for seed, acc in enumerate(per_seed):
            row = {"variant": variant, "seed": seed, "wall_s": 600.0, "commit": "abcdef0123", "dirty": False,
                   "metrics": {"val_acc": acc, "ood_acc": acc - 0.2, "gap_amazon": 20.0, "auroc_bbc": 0.8}}
            (sweep / "rows" / f"{variant}-seed{seed}.json").write_text(json.dumps(row))
    result = bench.main(["--sweep", str(sweep), "--results_dir", str(tmp_path), "--name", "augmentation_pretrained"])
    assert (tmp_path / "augmentation_pretrained.json").is_file() and not (tmp_path / "augmentation.json").exists()
    # - uda closes (0.84-0.80)/(0.88-0.80) = 50% and (0.80-0.78)/(0.86-0.78) = 25%
    assert result["judged"]["models"]["pretrained"]["consistency"]["uda"]["mean"] == pytest.approx(0.375)
    # - benchmarks.report renders the file with the same table as the CPU default's
    assert find_renderer("augmentation_pretrained") is bench.render
    table = bench.render(json.loads((tmp_path / "augmentation_pretrained.json").read_text()))
    assert "uda closes ≥ 50% of the gap to full supervision: **missed**" in table
    assert "pretrained-Nall-none 0.800" in table and "(no pretrained rows here)" not in table
