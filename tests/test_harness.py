"""The experiment harness: rows, resume after a crash, a kill or Ctrl-C, workers, a SLURM array, tables."""

import dataclasses
import json
import math
import os
import stat
import sys
from collections import Counter
from pathlib import Path

import pytest

import harness_fixture
from harness_fixture import EXPERIMENT
from scratchformer.cli.experiment import given_keys
from scratchformer.cli.main import main
from scratchformer.errors import UserError
from scratchformer.experiments.harness import HARNESS_OPTIONS, config_from_dict, config_hash, scaled, with_overrides
from scratchformer.experiments.summary import seeds_note, stats
from scratchformer.experiments.sweep import SweepOptions, sweep

TESTS = Path(__file__).resolve().parent


def calls(out: Path) -> Counter:
    """How many times run() was called per (variant, seed)."""
    path = out / "calls.txt"
    return Counter(tuple(line.split()) for line in path.read_text().splitlines()) if path.exists() else Counter()


def rows(out: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((out / "rows").glob("*.json"))]


@pytest.fixture
def workers_find_the_fixture(monkeypatch):
    """Worker processes import harness_fixture (and scratchformer) through PYTHONPATH."""
    paths = [str(TESTS), str(TESTS.parent), os.environ.get("PYTHONPATH", "")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in paths if p))


def test_dotted_overrides_validate_and_change_the_hash():
    cfg = EXPERIMENT.config()
    wide = with_overrides(cfg, {"model.d_model": 16, "train.lr": 3e-3})
    assert (wide.model.d_model, wide.train.lr, cfg.model.d_model) == (16, 3e-3, 8)  # a copy: cfg unchanged
    assert config_hash(wide) != config_hash(cfg) and config_hash(cfg) == config_hash(EXPERIMENT.config())
    with pytest.raises(ValueError, match="unknown config field 'model.width'"):
        with_overrides(cfg, {"model.width": 3})
    with pytest.raises(ValueError, match="n_heads"):  # the nested dataclass validates itself again
        with_overrides(cfg, {"model.d_model": 9})
    # - back from JSON, as workers and array tasks read it
    assert config_from_dict(type(cfg), json.loads(json.dumps(harness_fixture.Config().__dict__, default=vars))) == cfg


def test_a_sweep_written_with_budgets_in_seconds_still_reads():
    from scratchformer.experiments import imdb_ablation, imdb_pretrain, perceiver_vs_gpt

    assert config_from_dict(imdb_ablation.ExperimentConfig, {"time_budget_s": 0.0}).budget is None
    assert config_from_dict(perceiver_vs_gpt.ExperimentConfig, {"budget_s": 120.0}).budget == "120s"
    old = {"lm_time_budget_s": 2200, "finetune_time_budget_s": 900.0, "partner": {"time_budget_s": 600}}
    cfg = config_from_dict(imdb_pretrain.ExperimentConfig, old)
    assert (cfg.lm_budget, cfg.finetune_budget, cfg.partner.budget) == ("2200s", "900s", "600s")


def test_no_experiment_option_may_shadow_a_harness_option():
    assert set(HARNESS_OPTIONS) == {f.name for f in dataclasses.fields(SweepOptions)}
    with pytest.raises(ValueError, match="clash"):
        dataclasses.replace(EXPERIMENT, config=SweepOptions)


def test_a_scale_changes_only_what_was_not_given():
    assert scaled(EXPERIMENT, EXPERIMENT.config(), "gpu").train.max_steps == 40
    given = with_overrides(EXPERIMENT.config(), {"train.max_steps": 7})
    assert scaled(EXPERIMENT, given, "gpu").train.max_steps == 7
    assert scaled(EXPERIMENT, EXPERIMENT.config(), "cpu") == EXPERIMENT.config()


def test_an_option_given_that_a_variant_sets_otherwise_is_named_in_a_warning(tmp_path, capsys):
    given = with_overrides(EXPERIMENT.config(), {"model.d_model": 12, "train.lr": 2e-3})
    sweep(EXPERIMENT, given, SweepOptions(out_dir=str(tmp_path / "sweep"), seeds=1))
    err = capsys.readouterr().err
    # - wide sets d_model=16 over the 12 given: named once; small leaves it, and lr is set by no variant
    assert "warning: variant 'wide' sets model.d_model=16 over the model.d_model=12 given" in err
    assert err.count("warning:") == 1 and "train.lr" not in err
    # - nothing given: no warning
    sweep(EXPERIMENT, None, SweepOptions(out_dir=str(tmp_path / "defaults"), seeds=1))
    assert "warning:" not in capsys.readouterr().err
    # - the command line knows an option was given even at its default value (d_model 8)
    sweep(EXPERIMENT, None, SweepOptions(out_dir=str(tmp_path / "defaults"), seeds=1), given_keys={"model.d_model"})
    assert "sets model.d_model=16 over the model.d_model=8 given" in capsys.readouterr().err
    assert {"model.norm", "train.lr", "budget"} <= given_keys(["cramming", "--model.norm", "layernorm",
                                                             "--train.lr=3e-3", "--budget", "2m"])


def test_stats_give_mean_std_and_a_student_t_interval():
    s = stats([1.0, 2.0, 3.0])
    assert (s["n"], s["mean"], s["std"]) == (3, 2.0, 1.0)
    half = 4.303 * 1.0 / math.sqrt(3)  # t(0.975, df=2) = 4.303
    assert s["ci95_low"] == pytest.approx(2 - half) and s["ci95_high"] == pytest.approx(2 + half)
    assert stats([5.0])["std"] is None and stats([])["n"] == 0


def test_a_figure_title_says_how_many_seeds_each_variant_averages():
    rows = lambda counts: [{"variant": v, "seed": s} for v, n in counts.items() for s in range(n)]  # noqa: E731
    assert seeds_note(rows({"a": 1, "b": 1})) == "one seed"
    assert seeds_note(rows({"a": 3, "b": 3})) == "mean over 3 seeds"
    # - a variant with fewer finished seeds is not hidden behind the largest count
    assert seeds_note(rows({"a": 2, "b": 4})) == "mean over 2-4 seeds per variant"


def test_a_sweep_writes_one_row_per_run_a_summary_and_a_plot(tmp_path, capsys):
    out = tmp_path / "sweep"
    summary = sweep(EXPERIMENT, None, SweepOptions(out_dir=str(out)))
    found = rows(out)
    assert sorted((r["variant"], r["seed"]) for r in found) == [("small", 0), ("small", 1), ("wide", 0), ("wide", 1)]
    row = found[0]
    assert len(row["commit"]) == 40 and isinstance(row["dirty"], bool) and len(row["config_hash"]) == 12
    assert row["metrics"]["steps"] == 20 and row["metrics"]["first_step"] == 1 and row["wall_s"] > 0
    assert row["threads"] >= 1 and row["device"] and row["cpu"] and row["peak_mem_mb"] > 10 and row["date"]
    assert {r["config_hash"] for r in found if r["variant"] == "small"} != {r["config_hash"] for r in found if r["variant"] == "wide"}
    # - the aggregate: per variant and metric, over the two seeds
    loss = {e["variant"]: e for e in summary if e["metric"] == "val_loss"}
    assert loss["small"]["n"] == 2 and loss["small"]["ci95_low"] < loss["small"]["mean"] < loss["small"]["ci95_high"]
    assert len((out / "rows.jsonl").read_text().splitlines()) == 4
    assert "| small |" in (out / "summary.md").read_text() and "val_loss" in (out / "summary.csv").read_text()
    assert (out / "val_loss.png").read_bytes()[:4] == b"\x89PNG"
    # - the same sweep again computes nothing
    sweep(EXPERIMENT, None, SweepOptions(out_dir=str(out)))
    assert set(calls(out).values()) == {1}
    # - one seed says so
    sweep(EXPERIMENT, None, SweepOptions(out_dir=str(tmp_path / "one"), seeds=1, variants="small"))
    assert "(one seed)" in (tmp_path / "one" / "summary.md").read_text()


def test_a_crash_mid_sweep_then_a_rerun_computes_each_row_once_and_resumes(tmp_path, monkeypatch):
    out = tmp_path / "sweep"
    monkeypatch.setenv("FIXTURE_FAIL", "wide:0:12:raise")  # after the checkpoint at step 10
    with pytest.raises(RuntimeError, match="a crash"):
        sweep(EXPERIMENT, None, SweepOptions(out_dir=str(out)))
    assert len(rows(out)) == 2  # the small runs finished before the crash
    sweep(EXPERIMENT, None, SweepOptions(out_dir=str(out)))
    assert calls(out) == {("small", "0"): 1, ("small", "1"): 1, ("wide", "0"): 2, ("wide", "1"): 1}
    found = {(r["variant"], r["seed"]): r for r in rows(out)}
    assert len(found) == 4 and len((out / "rows.jsonl").read_text().splitlines()) == 4
    # - the crashed run continued from its step-10 checkpoint rather than from the start
    assert found[("wide", 0)]["metrics"]["first_step"] == 11 and found[("wide", 0)]["metrics"]["steps"] == 20


def test_ctrl_c_stops_the_sweep_with_a_checkpoint_and_the_rerun_resumes_there(tmp_path, monkeypatch, capsys):
    out = tmp_path / "sweep"
    monkeypatch.setenv("FIXTURE_FAIL", "small:1:7:int")  # SIGINT during step 7
    with pytest.raises(KeyboardInterrupt):
        sweep(EXPERIMENT, None, SweepOptions(out_dir=str(out)))
    assert "run the same command again" in capsys.readouterr().err
    assert len(rows(out)) == 1 and (out / "small" / "seed-1" / "checkpoint.pt").exists()
    sweep(EXPERIMENT, None, SweepOptions(out_dir=str(out)))
    resumed = json.loads((out / "rows" / "small-seed1.json").read_text())
    assert resumed["metrics"]["first_step"] == 8  # the trainer finished step 7, checkpointed and stopped
    assert calls(out)[("small", "1")] == 2 and len(rows(out)) == 4


def test_a_killed_worker_then_a_rerun_with_jobs_computes_each_row_once(tmp_path, monkeypatch,
                                                                        workers_find_the_fixture):
    out = tmp_path / "sweep"
    monkeypatch.setenv("FIXTURE_FAIL", "small:1:13:kill")  # SIGKILL: no chance to clean up
    options = SweepOptions(out_dir=str(out), jobs=2, variants="small")  # two runs side by side
    with pytest.raises(UserError, match="small seed 1 failed"):
        sweep(EXPERIMENT, None, options)
    assert [(r["variant"], r["seed"]) for r in rows(out)] == [("small", 0)]
    sweep(EXPERIMENT, None, options)
    assert calls(out) == {("small", "0"): 1, ("small", "1"): 2}
    found = {(r["variant"], r["seed"]): r for r in rows(out)}
    assert len(found) == 2 and found[("small", 1)]["metrics"]["first_step"] == 11  # from the step-10 checkpoint
    assert found[("small", 1)]["peak_mem_scope"] in ("run", "process") and (out / "summary.md").exists()
    # - each row says how the machine was shared: two runs side by side
    assert [r["jobs"] for r in found.values()] == [2, 2] and json.loads((out / "sweep.json").read_text())["jobs"] == 2


STAND_IN = """#!{python}
# A stand-in for sbatch: run each index of --array=LIST with SLURM_ARRAY_TASK_ID set, one after another.
import os, subprocess, sys
args = sys.argv[1:]
with open({log!r}, "a") as f:
    f.write(" ".join(args) + "\\n")
indices = next(a for a in args if a.startswith("--array=")).split("=", 1)[1].split("%")[0]
for i in indices.split(","):
    subprocess.run(["bash", args[-1]], env={{**os.environ, "SLURM_ARRAY_TASK_ID": i}}, check=True)
print("Submitted batch job 42")
"""


def test_a_slurm_array_runs_each_pending_run_once_and_the_last_task_tabulates(tmp_path, workers_find_the_fixture,
                                                                             capsys):
    out, log = tmp_path / "sweep", tmp_path / "sbatch.log"
    sbatch = tmp_path / "fake-sbatch"
    sbatch.write_text(STAND_IN.format(python=sys.executable, log=str(log)))
    sbatch.chmod(sbatch.stat().st_mode | stat.S_IEXEC)
    # - one variant first, here; then the whole grid on the "cluster": only the pending runs are submitted
    sweep(EXPERIMENT, None, SweepOptions(out_dir=str(out), variants="small", seeds=1))
    assert sweep(EXPERIMENT, None, SweepOptions(out_dir=str(out), launcher="slurm", sbatch=str(sbatch), seeds=1,
                                                sbatch_args="--time=00:10:00")) is None
    assert log.read_text().split()[:2] == ["--array=1", "--time=00:10:00"]
    assert "Submitted batch job 42" in capsys.readouterr().out
    script = (out / "slurm" / "array.sbatch").read_text()
    assert "#SBATCH --signal=B:INT@120" in script and "$SLURM_ARRAY_TASK_ID" in script
    assert calls(out) == {("small", "0"): 1, ("wide", "0"): 1}
    assert "| wide |" in (out / "summary.md").read_text()  # written by the task that completed the grid
    # - the run made here ran alone; the cluster's task placement is not ours to record
    assert {r["variant"]: r["jobs"] for r in rows(out)} == {"small": 1, "wide": None}
    # - everything done: nothing more to submit
    sweep(EXPERIMENT, None, SweepOptions(out_dir=str(out), launcher="slurm", sbatch=str(sbatch), seeds=1))
    assert len(log.read_text().splitlines()) == 1


def test_changed_settings_refuse_the_folder_before_anything_runs(tmp_path):
    out = tmp_path / "sweep"
    sweep(EXPERIMENT, None, SweepOptions(out_dir=str(out), variants="small", seeds=1))
    changed = with_overrides(EXPERIMENT.config(), {"train.max_steps": 10})
    with pytest.raises(UserError, match="other settings.*another --out_dir"):
        sweep(EXPERIMENT, changed, SweepOptions(out_dir=str(out), seeds=1))
    assert sum(calls(out).values()) == 1


def test_the_command_line_lists_variants_and_refuses_unknown_ones(capsys):
    assert main(["experiment", "positions", "--list"]) == 0
    listed = capsys.readouterr().out
    assert "alibi" in listed and "model.position='alibi'" in listed and "bpc_1024" in listed
    for variants in ("rope,lstm", "[rope, lstm]"):  # comma-separated, or a list as in a YAML file
        assert main(["experiment", "positions", "--variants", variants]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error:") and "['lstm']" in err and "alibi" in err and "\n" not in err
    assert main(["experiment", "positions", "--scale", "tpu"]) == 2
    assert "scale" in capsys.readouterr().err
    assert main(["experiment", "positions", "--out_dir", "benchmarks/results/positions"]) == 2
    assert "runs/" in capsys.readouterr().err


def test_quick_runs_an_experiment_at_its_tiny_size(tmp_path, monkeypatch):
    """--quick applies the experiment's quick settings (and its quick variants) and writes to NAME-quick."""
    from scratchformer.cli.main import main as cli

    monkeypatch.chdir(tmp_path)
    assert cli(["experiment", "perceiver-vs-gpt", "--quick", "--variants", "perceiver16-T128"]) == 0
    out = tmp_path / "runs" / "experiments" / "perceiver-vs-gpt-quick"
    sweep_ = json.loads((out / "sweep.json").read_text())
    assert sweep_["quick"] and sweep_["config"]["model"]["d_model"] == 16
    row = json.loads((out / "rows" / "perceiver16-T128-seed0.json").read_text())
    assert row["metrics"]["steps"] == 4


def test_overrides_are_validated_together_not_one_at_a_time():
    from scratchformer.experiments.harness import with_overrides
    from scratchformer.experiments.perceiver_vs_gpt import ExperimentConfig

    # - context 128 with n_latents 256 would fail on its own; set together with n_latents 16 it is valid
    cfg = with_overrides(ExperimentConfig(), {"model.context_len": 128, "model.n_latents": 16, "window": 128,
                                              "eval_from": 128, "eval_positions": 8})
    assert (cfg.model.context_len, cfg.model.n_latents, cfg.window) == (128, 16, 128)
    with pytest.raises(ValueError, match="unknown config field 'model.width'"):
        with_overrides(cfg, {"model.width": 3})


def test_every_registered_experiment_has_a_quick_form():
    import importlib

    from scratchformer.experiments import EXPERIMENTS

    for name, module in EXPERIMENTS.items():
        experiment = importlib.import_module(module).EXPERIMENT
        assert experiment.quick, f"{name} has no quick settings"
        assert set(experiment.quickened().variants) <= set(experiment.quick_variants or experiment.variants)


def test_quick_keeps_a_scales_default_variants_only_where_the_quick_variants_hold_them():
    first, second = list(EXPERIMENT.variants)[:2]
    held = dataclasses.replace(EXPERIMENT, scale_variants={"cpu": [first]},
                               quick_variants={first: {}, second: {}})
    assert held.quickened().scale_variants == {"cpu": [first]}
    lost = dataclasses.replace(EXPERIMENT, scale_variants={"cpu": [second]}, quick_variants={first: {}})
    assert lost.quickened().scale_variants is None  # its quick variants run instead


def test_a_scale_runs_its_own_default_variants_unless_variants_are_named():
    from scratchformer.experiments.harness import chosen_variants

    only_cpu = dataclasses.replace(EXPERIMENT, scale_variants={"cpu": [next(iter(EXPERIMENT.variants))]})
    assert chosen_variants(only_cpu, None, "cpu") == [next(iter(EXPERIMENT.variants))]
    assert chosen_variants(only_cpu, None, "gpu") == list(EXPERIMENT.variants)  # no list: every variant
    assert chosen_variants(only_cpu, ",".join(EXPERIMENT.variants), "cpu") == list(EXPERIMENT.variants)
    with pytest.raises(ValueError, match="scale_variants"):
        dataclasses.replace(EXPERIMENT, scale_variants={"cpu": ["no-such-variant"]})
