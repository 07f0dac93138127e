"""benchmarks.cramming: the add-one and remove-one ablations judged over seeds from a sweep's rows."""

import json
import os

import pytest

from benchmarks import cramming as bench
from benchmarks.report import find_renderer
from scratchformer.cli.main import main


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sweep")
    corpus = folder / "corpus.txt"
    corpus.write_text("To be, or not to be, that is the question.\n" * 80)
    # - run from the sweep's own folder with a relative --out_dir, as a user does: its rows' run_dir
    #   are then relative to there, and the benchmark, run from elsewhere, must still find the curves
    here = os.getcwd()
    os.chdir(folder)
    try:
        variants = "minus-muon,baseline,plus-relu2,best,minus-zero_init+rmsnorm"
        assert main(["experiment", "cramming", "--quick", "--seeds", "2", "--steps", "12", "--data.corpus",
                     str(corpus), "--variants", variants, "--out_dir", "cramming"]) == 0
    finally:
        os.chdir(here)
    return folder / "cramming"


def test_each_variant_is_measured_against_its_anchor_of_the_same_seed(sweep, tmp_path):
    result = bench.main(["--sweep", str(sweep), "--results_dir", str(tmp_path)])
    assert json.loads((tmp_path / "cramming.json").read_text())["judged"] == json.loads(json.dumps(result["judged"]))
    j = result["judged"]
    # - the ablations' order: the baseline, what is added to it, best, what is removed from it, the rest
    assert list(j["variants"]) == ["baseline", "plus-relu2", "best", "minus-muon", "minus-zero_init+rmsnorm"]
    assert result["seeds"] == [0, 1] and result["corpus"] == "corpus.txt"
    rows = {(r["variant"], r["seed"]): r["metrics"] for r in
            map(json.loads, (sweep / "rows.jsonl").read_text().splitlines())}
    for variant, anchor in (("plus-relu2", "baseline"), ("minus-muon", "best"),
                            ("minus-zero_init+rmsnorm", "best")):
        expected = {str(s): round(rows[variant, s]["val_loss_whole"] - rows[anchor, s]["val_loss_whole"], 4)
                    for s in (0, 1)}
        assert j["variants"][variant]["delta_whole"]["per_seed"] == expected
    assert j["variants"]["baseline"]["delta_whole"]["mean"] == 0.0 == j["variants"]["best"]["delta_whole"]["mean"]
    # - the time to the target is read off each run's curve: the baseline reaches its own loss at its end
    assert j["variants"]["baseline"]["reached_target"] == "2 of 2"
    assert j["variants"]["baseline"]["speedup_to_target"]["mean"] == 1.0
    # - each trick: relu2 only added, muon only removed
    assert set(j["tricks"]["relu2"]) == {"added"} and set(j["tricks"]["muon"]) == {"removed"}
    table = bench.render(json.loads((tmp_path / "cramming.json").read_text()))
    assert "| plus-relu2 |" in table and "| muon | not run |" in table and "| relu2 |" in table


def test_a_few_variants_go_to_a_results_file_of_their_own(sweep, tmp_path):
    result = bench.main(["--sweep", str(sweep), "--results_dir", str(tmp_path), "--name", "cramming_lean"])
    assert (tmp_path / "cramming_lean.json").is_file() and not (tmp_path / "cramming.json").exists()
    text = bench.render_lean(json.loads((tmp_path / "cramming_lean.json").read_text()))
    assert "| minus-zero_init+rmsnorm |" in text and "| trick |" not in text
    change = result["judged"]["variants"]["minus-zero_init+rmsnorm"]["delta_whole"]
    assert f"- minus-zero_init+rmsnorm against best: {bench.verdict(change)}" in text


def test_added_tricks_are_each_judged_against_the_baseline(sweep, tmp_path):
    bench.main(["--sweep", str(sweep), "--results_dir", str(tmp_path), "--name", "cramming_15m_plus"])
    text = bench.render_15m_plus(json.loads((tmp_path / "cramming_15m_plus.json").read_text()))
    # - plus-relu2 is paired with the baseline, minus-* with best, and neither anchor with itself
    assert "- plus-relu2 against baseline: " in text and "below 0: better than baseline)" in text
    assert "- minus-muon against best: " in text and "- baseline against" not in text
    # - two seeds have an interval; one seed is said to have none
    assert text.startswith("2 seeds (0, 1), ") and "Mean [95% interval of the mean" in text
    one = json.loads((tmp_path / "cramming_15m_plus.json").read_text())
    one["seeds"] = [0]
    text_one = bench.render_15m_plus(one)
    assert text_one.startswith("1 seed (0), ") and "One run each: no interval." in text_one


def test_removed_tricks_at_15_minutes_go_to_their_own_file_which_the_report_can_render(sweep, tmp_path):
    bench.main(["--sweep", str(sweep), "--results_dir", str(tmp_path), "--name", "cramming_15m_minus"])
    assert (tmp_path / "cramming_15m_minus.json").is_file() and not (tmp_path / "cramming.json").exists()
    # - the report finds its renderer by the file's name, and it pairs each minus-* with best
    render = find_renderer("cramming_15m_minus")
    assert render is bench.render_15m_minus
    text = render(json.loads((tmp_path / "cramming_15m_minus.json").read_text()))
    assert "- minus-muon against best: " in text and "| minus-muon |" in text


def test_a_change_is_called_within_the_noise_when_its_interval_holds_zero():
    def change(low, high):
        return {"ci95_low": low, "ci95_high": high}

    assert bench.verdict(change(-0.2, -0.1)) == "helps" and bench.verdict(change(0.1, 0.2)) == "harms"
    assert bench.verdict(change(-0.1, 0.1)) == "within the noise"
    assert bench.verdict(change(None, None)) == "one seed"
    # - a removed trick whose removal raises the loss helped
    assert bench.verdict(change(0.1, 0.2), lower_is_better=False) == "helps"
