"""benchmarks.perceiver: each goal judged from the experiments' rows, paired by seed, with the spread."""

import json

import pytest

from benchmarks import perceiver as bench


def write_rows(folder, rows):
    (folder / "rows").mkdir(parents=True)
    for r in rows:
        (folder / "rows" / f"{r['variant']}-seed{r['seed']}.json").write_text(json.dumps(r))


def row(variant, seed, **metrics):
    return {"variant": variant, "seed": seed, "metrics": metrics, "wall_s": 600.0, "commit": "abc", "dirty": False,
            "peak_mem_mb": 100.0, "load_avg": [1.0, 1.0, 1.0]}


def test_goals_from_rows(tmp_path, monkeypatch):
    lm, retrieval = tmp_path / "lm", tmp_path / "retrieval"
    write_rows(lm, [row(bench.PERCEIVER, s, bpc=2.0 + d, measured_step_s=0.2, paced_train_s=120, eval_s=10)
                    for s, d in enumerate([0.0, 0.01, 0.02])]
               + [row(bench.SHORT, s, bpc=2.1 + d, measured_step_s=0.1, paced_train_s=120, eval_s=30)
                  for s, d in enumerate([0.0, 0.01, 0.05])]
               + [row(bench.FULL, s, bpc=1.98, measured_step_s=1.0, paced_train_s=120, eval_s=10) for s in range(3)])
    write_rows(retrieval, [row(bench.PERCEIVER, s, acc_2048=0.5) for s in range(3)]
               + [row(bench.SHORT, s, acc_2048=0.1) for s in range(3)])
    monkeypatch.setattr(bench, "report", lambda name, result: result)
    out = bench.main(["--sweep", str(lm), "--retrieval", str(retrieval), "--generate", str(tmp_path / "none.json")])
    short = out["goals"]["lm_vs_short_gpt"]
    assert short["per_seed"] == pytest.approx({"0": 0.1, "1": 0.1, "2": 0.13}) and short["met"] and short["noise"] is False
    full = out["goals"]["lm_vs_full_gpt"]
    assert full["mean"] == pytest.approx(0.03) and full["step_time_ratio"] == pytest.approx(0.2)
    assert out["goals"]["retrieval"]["missed_by"] == pytest.approx(0.49)
    assert out["goals"]["retrieval"]["short_gpt_at_chance"] and not out["goals"]["retrieval"]["met"]
    assert out["goals"]["generation"]["met"] is None  # no generation file: not judged
    # - 3 of the 11 default variants ran: the other 8 are estimated at the budget plus the mean evaluation
    time = out["goals"]["cpu_time"]["per_seed"][0]
    assert time["estimated"] and time["runs"] == 3 and time["of"] == 11
    assert time["paced_minutes"] == pytest.approx((410 + 8 * (120 + 50 / 3)) / 60, abs=0.05)


def test_the_rendered_table_states_each_goal(tmp_path, monkeypatch):
    lm, retrieval = tmp_path / "lm", tmp_path / "retrieval"
    write_rows(lm, [row(v, s, bpc=2.0 + s / 100, measured_step_s=0.2, paced_train_s=120, eval_s=10, steps=100,
                        train_flops_per_predicted_token=1e6) for v in (bench.PERCEIVER, bench.SHORT, bench.FULL)
                    for s in range(2)])
    write_rows(retrieval, [row(v, s, acc_2048=0.1) for v in (bench.PERCEIVER, bench.SHORT) for s in range(2)])
    monkeypatch.setattr(bench, "report", lambda name, result: result)
    text = bench.render(bench.main(["--sweep", str(lm), "--retrieval", str(retrieval), "--generate", "none"]))
    assert "| gpt256 bpc − perceiver256 bpc ≥ 0.05 | 0.000 ± 0.000 |" in text and "**missed**" in text
    assert "| perceiver256-T4096 | 2 | 2.005 ± 0.007 | [1.942, 2.068] |" in text
    assert "| needle retrieval, accuracy (%) | seeds | d = 2,048 |" in text and "| gpt256 | 2 | 10.0 ± 0.0 |" in text
