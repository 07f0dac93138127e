"""perceiver-vs-gpt and perceiver-retrieval: tiny runs of each variant kind, the budget rule, resume, bad input."""

import dataclasses
import json

import pytest
import torch

from scratchformer.data.corpus import CorpusConfig
from scratchformer.errors import UserError
from scratchformer.experiments import perceiver_retrieval as retrieval
from scratchformer.experiments import perceiver_vs_gpt as pvg
from scratchformer.experiments.harness import Run, with_overrides
from scratchformer.models.perceiver import PerceiverARConfig


@pytest.fixture
def corpus(tmp_path):
    # - about 3,000 characters of varied text: train, and the validation windows after eval_from
    g = torch.Generator().manual_seed(0)
    words = ["the", "king", "queen", "lord", "speak", "night", "day", "love", "war", "o", "my", "thou"]
    text = " ".join(words[i] for i in torch.randint(len(words), (2000,), generator=g).tolist())
    path = tmp_path / "corpus.txt"
    path.write_text(text)
    return str(path)


def tiny_cfg(corpus, **kw) -> pvg.ExperimentConfig:
    model = PerceiverARConfig(d_model=16, n_heads=2, n_layers=2, context_len=64, n_latents=16, position="rope")
    base = dict(data=CorpusConfig(corpus=corpus), model=model, window=64, eval_from=64, tokens_per_step=256,
                budget=None, eval_windows=4, eval_positions=8, curve_points=2)
    return pvg.ExperimentConfig(**{**base, **kw, "train": dataclasses.replace(pvg.default_train(), max_steps=6)})


def variants() -> dict:
    return pvg.variants([64], [16])  # gpt16, perceiver16-T64, gpt64


def test_every_kind_of_variant_trains_and_is_scored_on_the_same_positions(corpus, tmp_path):
    cfg = tiny_cfg(corpus)
    rows = {}
    for name, changes in variants().items():
        run = Run("perceiver-vs-gpt", name, 0, tmp_path / name)
        rows[name] = pvg.run(with_overrides(cfg, changes), run)
        curve = json.loads((tmp_path / name / "curve.json").read_text())
        assert [p["step"] for p in curve] == [3, 6]
        assert curve[-1]["train_flops"] == rows[name]["train_pflops"] * 1e15
    assert set(rows) == {"gpt16", "perceiver16-T64", "gpt64"}
    # - rotary positions: every model has the same parameters
    assert len({r["params"] for r in rows.values()}) == 1
    for r in rows.values():
        assert r["steps"] == 6 and 0 < r["bpc"] < 10
    # - the Perceiver AR's step costs a fraction of the full GPT's
    assert rows["perceiver16-T64"]["train_gflops_per_step"] < rows["gpt64"]["train_gflops_per_step"]


def test_the_budget_sets_the_steps_and_steps_from_reproduces_them(corpus, tmp_path):
    cfg = tiny_cfg(corpus, budget="1s")
    first = pvg.run(cfg, Run("perceiver-vs-gpt", "perceiver16-T64", 0, tmp_path / "a" / "perceiver16-T64" / "seed-0"))
    assert first["steps"] >= 1
    budget = json.loads((tmp_path / "a" / "perceiver16-T64" / "seed-0" / "budget.json").read_text())
    assert budget["steps"] == first["steps"] and budget["measured_step_s"] > 0
    # - a sweep folder whose row recorded the steps: a rerun trains exactly as many
    rows = tmp_path / "a" / "rows"
    rows.mkdir()
    (rows / "perceiver16-T64-seed0.json").write_text(json.dumps({"metrics": {"steps": 5}}))
    again = pvg.run(dataclasses.replace(cfg, steps_from=str(tmp_path / "a")),
                    Run("perceiver-vs-gpt", "perceiver16-T64", 0, tmp_path / "b"))
    assert again["steps"] == 5


def test_plan_only_fits_the_steps_without_training_and_other_seeds_replay_them(corpus, tmp_path):
    cfg = tiny_cfg(corpus, budget="1s", plan_only=True)
    plan = pvg.run(cfg, Run("perceiver-vs-gpt", "perceiver16-T64", 0, tmp_path / "plan" / "p"))
    assert set(plan) == {"steps", "measured_step_s"} and plan["steps"] >= 1
    assert not (tmp_path / "plan" / "p" / "curve.json").exists()  # nothing was trained
    rows = tmp_path / "plan" / "rows"
    rows.mkdir()
    (rows / "perceiver16-T64-seed0.json").write_text(json.dumps({"metrics": {"steps": 4, "measured_step_s": 0.5}}))
    # - seed 2 has no row of its own: it trains for seed 0's count, and its time axis uses seed 0's pace
    replay = dataclasses.replace(cfg, plan_only=False, budget="1s", steps_from=str(tmp_path / "plan"))
    out = pvg.run(replay, Run("perceiver-vs-gpt", "perceiver16-T64", 2, tmp_path / "seed2"))
    assert out["steps"] == 4 and out["paced_train_s"] == pytest.approx(2.0)
    curve = json.loads((tmp_path / "seed2" / "curve.json").read_text())
    assert [p["paced_s"] for p in curve] == [pytest.approx(1.0), pytest.approx(2.0)]
    with pytest.raises(UserError, match="no finished row for gpt16"):
        pvg.run(replay, Run("perceiver-vs-gpt", "gpt16", 0, tmp_path / "gpt16"))


def test_a_stopped_run_resumes_from_its_last_curve_point(corpus, tmp_path, monkeypatch):
    cfg = tiny_cfg(corpus)
    folder = tmp_path / "run"
    calls = {"n": 0}
    real = pvg.bpc_last

    def stop_after_first_point(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(pvg, "bpc_last", stop_after_first_point)
    with pytest.raises(KeyboardInterrupt):
        pvg.run(cfg, Run("perceiver-vs-gpt", "p", 0, folder))
    monkeypatch.setattr(pvg, "bpc_last", real)
    result = pvg.run(cfg, Run("perceiver-vs-gpt", "p", 0, folder))
    curve = json.loads((folder / "curve.json").read_text())
    assert [p["step"] for p in curve] == [3, 6] and result["steps"] == 6
    # - the same run uninterrupted ends with the same weights, so the same score
    fresh = pvg.run(cfg, Run("perceiver-vs-gpt", "p", 0, tmp_path / "fresh"))
    assert fresh["bpc"] == pytest.approx(result["bpc"], abs=1e-5)


def test_bad_input_is_one_sentence(corpus):
    with pytest.raises(ValueError, match="must be a multiple of the window"):
        tiny_cfg(corpus, tokens_per_step=100)
    with pytest.raises(ValueError, match="n_latents must be between 1 and context_len"):
        PerceiverARConfig(context_len=64, n_latents=128)
    with pytest.raises(UserError, match="fewer than the"):
        pvg.prepare_data(tiny_cfg(corpus, window=64, eval_from=100_000))
    with pytest.raises(ValueError, match="beyond the context"):
        retrieval.ExperimentConfig(distances=[8192])


def test_retrieval_run_reports_accuracy_at_every_distance(tmp_path):
    model = PerceiverARConfig(d_model=16, n_heads=2, n_layers=2, context_len=64, n_latents=8, position="rope")
    cfg = retrieval.ExperimentConfig(model=model, distances=[4, 32, 60], tokens_per_step=256, budget=None,
                                     eval_windows=20, train=dataclasses.replace(pvg.default_train(), max_steps=4),
                                     retrieval=retrieval.RetrievalConfig(context_len=64, distance=2, max_distance=64))
    out = retrieval.run(cfg, Run("perceiver-retrieval", "p", 0, tmp_path))
    assert set(out) == {"acc_4", "acc_32", "acc_60", "steps", "train_s", "measured_step_s"}
    assert all(0 <= out[f"acc_{d}"] <= 1 for d in (4, 32, 60)) and out["steps"] == 4
    short = with_overrides(cfg, {"kind": "gpt", "model.context_len": 16})
    out = retrieval.run(short, Run("perceiver-retrieval", "g", 0, tmp_path / "g"))
    assert out["acc_60"] <= 0.4  # cannot see that far: about chance
