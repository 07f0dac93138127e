"""benchmarks.recurrent_lm: the goals judged over seeds from a finished sweep's rows."""

import json

import pytest

from benchmarks import recurrent_lm as bench
from scratchformer.cli.main import main
from test_recurrent_lm_experiment import TEXT


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sweep")
    (folder / "text.txt").write_text(TEXT)
    out = folder / "recurrent-lm"
    assert main(["experiment", "recurrent-lm", "--quick", "--corpus", str(folder / "text.txt"), "--seeds", "2",
                 "--variants", "trick-layers-k1,none,window,rmt,linear-layers-k2", "--out_dir", str(out)]) == 0
    return out


def test_goals_are_judged_on_the_means_over_seeds(sweep, tmp_path):
    result = bench.main(["--sweep", str(sweep), "--results_dir", str(tmp_path)])
    assert json.loads((tmp_path / "recurrent_lm.json").read_text())["judged"] == json.loads(json.dumps(result["judged"]))
    j = result["judged"]
    # - the experiment's order, whatever order the rows came in
    assert list(j["variants"]) == ["none", "window", "rmt", "trick-layers-k1", "linear-layers-k2"]
    assert result["seeds"] == [0, 1] and all(t["ppl"]["n"] == 2 for t in j["variants"].values())
    # - the trained memories are judged on the first-32 cut, the hidden-state ones against RMT
    assert set(j["first_cut"]) == {"rmt", "linear-layers-k2"}
    assert set(j["within_rmt"]) == {"trick-layers-k1", "linear-layers-k2"}
    for v, met in j["first_cut"].items():
        assert met == (j["variants"][v]["first_vs_none"]["mean"] <= bench.GOAL_FIRST_CUT)
    # - no memory is its own anchor; each seed's minutes add up its rows
    assert j["variants"]["none"]["first_delta"]["mean"] == 0.0
    rows = [json.loads(p.read_text()) for p in (sweep / "rows").glob("*-seed1.json")]
    assert j["minutes_per_seed"]["1"] == pytest.approx(sum(r["wall_s"] for r in rows) / 60, abs=0.06)
    table = bench.render(json.loads((tmp_path / "recurrent_lm.json").read_text()))
    assert "| rmt |" in table and "within 2% of RMT" in table and "`trick-layers-k1`" in table
    # - a sweep on another sweep's bases is not timed as a seed, and one without the trick says nothing of it
    results = json.loads((tmp_path / "recurrent_lm.json").read_text())
    results["judged"]["trick"] = {}
    other = bench.render_memory3000(results)
    assert "copied is not in them" in other and "CPU default" not in other and "untrained trick" not in other
    assert "CPU default" in table and "untrained trick" in table
