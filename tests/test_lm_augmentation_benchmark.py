"""benchmarks.lm_augmentation: the choice made on the experiment's rows, confirmed once on held-out text."""

import json

import pytest

from benchmarks import lm_augmentation as bench
from scratchformer.cli.main import main
from scratchformer.data.lm_ood_texts import load_ood_texts
from scratchformer.experiments.harness import config_from_dict
from scratchformer.experiments.lm_augmentation import ExperimentConfig
from test_lm_augmentation import sources  # noqa: F401 (the fixture of every text)


@pytest.fixture(scope="module")
def sweep(tmp_path_factory, sources):  # noqa: F811
    out = tmp_path_factory.mktemp("sweep") / "lm-augmentation"
    # - a sample of 300 characters a text leaves a held-out part of every fixture
    assert main(["experiment", "lm-augmentation", "--quick", "--seeds", "2", "--variants", "none,eda,mix",
                 "--ood.max_chars", "300", "--out_dir", str(out), *sources]) == 0
    return out


def test_the_saved_models_rescored_on_the_sample_give_the_rows_figures(sweep):
    cfg = config_from_dict(ExperimentConfig, json.loads((sweep / "sweep.json").read_text())["config"])
    sample = load_ood_texts(cfg.ood)  # the very texts the experiment scored (the histories aside)
    row = json.loads((sweep / "rows" / "eda-seed1.json").read_text())["metrics"]
    again = bench.rescore(sweep / "eda" / "seed-1", {"ptb": sample["ptb"], "bbc": sample["bbc"]}, cfg.eval_chars)
    assert again == {"ptb": pytest.approx(row["bpc_ptb"], abs=1e-6), "bbc": pytest.approx(row["bpc_bbc"], abs=1e-6)}


def test_choose_on_the_rows_then_confirm_the_choice_alone_on_held_out_text(sweep, tmp_path):
    result = bench.main(["--sweep", str(sweep), "--results_dir", str(tmp_path)])
    assert json.loads((tmp_path / "lm_augmentation.json").read_text())["chosen"] == result["chosen"]
    sample, held = result["sample"], result["held_out"]
    # - the choice: the largest mean gain among the variants within the cost bound (or among all)
    within = [v for v in sample if sample[v]["id_cost"]["mean"] <= bench.GOAL_ID_COST] or list(sample)
    assert set(sample) == {"eda", "mix"} and result["chosen"] == max(within, key=lambda v: sample[v]["ood_gain"]["mean"])
    assert all(sample[v]["ood_gain"]["n"] == 2 for v in sample)
    # - the confirmation reads the test plays and the held-out parts, never the histories, for two models only
    assert set(held["texts"]) == {"test", "ptb", "imdb", "tweets", "bbc"} and set(held["bpc"]) == {"none", result["chosen"]}
    for seed in (0, 1):
        none, chosen = held["bpc"]["none"][f"seed{seed}"], held["bpc"][result["chosen"]][f"seed{seed}"]
        assert all(0 < b < 9 for b in [*none.values(), *chosen.values()])
        ood = [t for t in none if t != "test"]
        gain = sum(none[t] - chosen[t] for t in ood) / len(ood)
        assert held["ood_gain"]["per_seed"][str(seed)] == pytest.approx(gain, abs=2e-4)
        assert held["id_cost"]["per_seed"][str(seed)] == pytest.approx(chosen["test"] - none["test"], abs=2e-4)
    table = bench.render(result)
    assert f"**{result['chosen']}** (chosen)" in table and "held-out parts" in table and "test plays" in table


def test_an_empty_folder_is_one_line(tmp_path, capsys):
    (tmp_path / "rows").mkdir()
    (tmp_path / "sweep.json").write_text(json.dumps({"config": {}}))
    with pytest.raises(SystemExit, match="no finished rows"):
        bench.main(["--sweep", str(tmp_path), "--results_dir", str(tmp_path)])
