"""benchmarks.distillation_lm: the language-model distillation goals judged over seeds from a finished
sweep's rows, with generation timed again in alternating teacher/student pairs."""

import json

import pytest

from benchmarks import distillation_lm as bench
from scratchformer.cli.main import main
from scratchformer.data.corpus import CorpusConfig
from scratchformer.models.gpt import GPTConfig
from scratchformer.tasks.language_model import LMRunConfig, train_language_model
from scratchformer.training.trainer import TrainConfig

@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """Two seeds of a hard and a soft student of a tiny GPT on a repeated line."""
    root = tmp_path_factory.mktemp("distillation-lm")
    corpus = root / "corpus.txt"
    corpus.write_text("To be, or not to be, that is the question.\n" * 60)
    train = TrainConfig(max_steps=30, batch_size=16, lr=3e-3, warmup_steps=5, eval_interval=0, eval_batches=1,
                        stats_interval=0, progress=False, device="cpu", seed=0)
    teacher, _, _ = train_language_model(LMRunConfig(model=GPTConfig(d_model=16, n_heads=2, n_layers=1, context_len=16),
                                                     train=train, data=CorpusConfig(corpus=str(corpus)),
                                                     out_dir=str(root / "runs"), name="lm"))
    out = root / "sweep"
    assert main(["experiment", "distillation", "--quick", "--task", "lm", "--teacher", str(teacher), "--corpus.corpus",
                 str(corpus), "--variants", "soft-1x128,hard-1x128", "--seeds", "2", "--out_dir", str(out)]) == 0
    return out


def test_goals_are_judged_on_the_means_over_seeds(sweep, tmp_path):
    result = bench.main(["--sweep", str(sweep), "--results_dir", str(tmp_path), "--repeats", "3"])
    written = json.loads((tmp_path / "distillation_lm.json").read_text())
    assert written["judged"] == json.loads(json.dumps(result["judged"]))
    j, timed, g = result["judged"], result["timed"], result["verdicts"]
    # - by size, the hard-label anchor first within a size
    assert list(j["variants"]) == ["hard-1x128", "soft-1x128"] and j["seeds"] == [0, 1]
    # - behind is paired within each run: the student's loss minus the teacher's on the same windows
    rows = {(r["variant"], r["seed"]): r["metrics"] for r in map(json.loads, (sweep / "rows.jsonl").read_text().splitlines())}
    for v in j["variants"]:
        for s in (0, 1):
            m = rows[(v, s)]
            assert j["variants"][v]["behind"]["per_seed"][str(s)] == pytest.approx(
                m["student_loss"] - m["teacher_loss"], abs=1e-4)
    # - the experiment's prompt and length: 8 tokens, then as many new ones as the context of 16 leaves
    assert (result["prompt_tokens"], result["new_tokens"]) == (8, 8)
    # - every seed's student is timed in `repeats` pairs; the verdicts follow the goals' thresholds
    assert all(t["pairs"] == 2 * 3 and t["speedup_median"] > 0 for t in timed.values())
    for v, t in j["variants"].items():
        assert g["within"][v]["met"] == (t["behind"]["mean"] <= bench.GOAL_NATS)
        assert g["fast"][v] == (timed[v]["speedup_median"] >= bench.GOAL_SPEEDUP)
        assert (v in g["goal_met_by"]) == (g["within"][v]["met"] and g["fast"][v])
    table = bench.render(written)
    assert "| hard-1x128 | " in table and "(the anchor)" in table and "How many layers" in table


def test_a_classifier_sweep_is_refused_in_one_line(sweep, tmp_path):
    other = tmp_path / "sweep"
    other.mkdir()
    (other / "rows").mkdir()
    for p in (sweep / "rows").glob("*.json"):
        (other / "rows" / p.name).write_text(p.read_text())
    spec = json.loads((sweep / "sweep.json").read_text())
    spec["config"]["task"] = "classify"
    (other / "sweep.json").write_text(json.dumps(spec))
    with pytest.raises(SystemExit, match="--task classify sweep; this benchmark judges --task lm"):
        bench.main(["--sweep", str(other), "--results_dir", str(tmp_path)])
