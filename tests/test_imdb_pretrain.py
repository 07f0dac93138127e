"""A classifier that starts from a pretrained GPT, and the `imdb-pretrain` experiment."""

import json
import shutil
from pathlib import Path

import pytest
import torch

from imdb_fixture import make_imdb
from scratchformer.cli.main import build_parser, main
from scratchformer.errors import config_from_options
from scratchformer.experiments.imdb_pretrain import ExperimentConfig
from scratchformer.models.classifier import Classifier, ClassifierConfig, init_from_gpt
from scratchformer.models.gpt import GPT, GPTConfig
from scratchformer.tasks.classification import fit_within_budget
from scratchformer.training.budget import parse_budget
from scratchformer.training.trainer import TrainConfig, Trainer

LM = dict(d_model=16, n_heads=2, n_layers=2, vocab_size=40, bias=False, norm="rmsnorm")


@pytest.mark.parametrize("position", ["learned", "rope"])
def test_a_classifier_from_a_gpt_computes_the_gpts_hidden_states(position):
    torch.manual_seed(0)
    gpt = GPT(GPTConfig(context_len=12, position=position, **LM)).eval()
    clf = Classifier(ClassifierConfig(variant="transformer", causal=True, context_len=20, position=position,
                                      **LM)).eval()
    init_from_gpt(clf, gpt)
    idx = torch.randint(0, 40, (3, 12))
    logits, _ = gpt(idx)  # (B, T, V)
    hidden = clf.attention(clf.tok_emb(idx), torch.ones(3, 12, dtype=torch.bool))  # (B, T, C)
    # - the GPT's head on the classifier's hidden states gives back the GPT's logits
    torch.testing.assert_close(gpt.lm_head(hidden), logits, atol=1e-5, rtol=1e-4)


def test_causal_classifier_ignores_later_tokens_at_earlier_positions():
    clf = Classifier(ClassifierConfig(variant="transformer", causal=True, **LM)).eval()
    a = torch.randint(0, 40, (1, 10))
    b = a.clone()
    b[0, 6:] = (b[0, 6:] + 1) % 40
    mask = torch.ones(1, 10, dtype=torch.bool)
    ha, hb = clf.attention(clf.tok_emb(a), mask), clf.attention(clf.tok_emb(b), mask)
    torch.testing.assert_close(ha[:, :6], hb[:, :6])
    assert not torch.allclose(ha[:, 6:], hb[:, 6:])


def test_init_from_gpt_refuses_a_different_architecture():
    gpt = GPT(GPTConfig(**LM))
    clf = Classifier(ClassifierConfig(variant="transformer", **{**LM, "n_layers": 1, "norm": "layernorm"}))
    with pytest.raises(ValueError, match="n_layers 1 vs 2.*norm 'layernorm' vs 'rmsnorm'"):
        init_from_gpt(clf, gpt)
    with pytest.raises(ValueError, match="only the transformer variant"):
        init_from_gpt(Classifier(ClassifierConfig(variant="pool", **LM)), gpt)


def test_causal_needs_the_transformer_without_a_cls_token():
    with pytest.raises(ValueError, match="causal needs variant 'transformer'"):
        ClassifierConfig(variant="transformer", pooling="cls", causal=True)
    with pytest.raises(ValueError, match="causal needs variant 'transformer'"):
        ClassifierConfig(variant="kqv", causal=True)


class Counting:
    """Stand-in data for a tiny GPT: random windows."""

    def batch(self, split, batch_size, generator):
        x = torch.randint(0, 40, (batch_size, 8), generator=generator)
        return x, x


def test_fit_schedule_to_budget_ends_the_schedule_with_the_budget():
    torch.manual_seed(0)
    cfg = TrainConfig(max_steps=10**6, batch_size=2, warmup_steps=2, eval_interval=0, progress=False,
                      stats_interval=0, lr=1e-3, min_lr=1e-5)
    trainer = Trainer(GPT(GPTConfig(context_len=8, **LM)), cfg, Counting())
    # - a clock that ticks 1 ms per step, so the test does not depend on the machine's load
    result = fit_within_budget(trainer, 0.2, fit_schedule=True, chunk=20, clock=lambda: trainer.step * 1e-3)
    # - max_steps came down to what the budget affords (200 steps), and training reached it: the rate fully decayed
    assert 190 <= trainer.cfg.max_steps <= 201 and result["step"] == trainer.cfg.max_steps
    assert trainer.lr_at(trainer.step) == pytest.approx(1e-5)


def test_experiment_pretrains_then_fine_tunes_a_classifier_and_its_control(tmp_path, capsys):
    folder = make_imdb(tmp_path, n_train=40, n_test=10, n_unsup=60)
    out = tmp_path / "out"
    argv = ["experiment", "imdb-pretrain", "--data.source", str(folder), "--out_dir", str(out),
            "--variants", "pretrained,scratch", "--tokenizer.kind", "word", "--tokenizer.vocab_size", "60",
            "--lm.d_model", "16", "--lm.n_heads", "2", "--lm.n_layers", "1", "--lm.context_len", "32",
            "--lm_train.batch_size", "4", "--batching.max_len", "32", "--final_test", "true",
            # - step counts, not the machine's speed, end each stage (the budgets only cap them)
            "--lm_train.max_steps", "30", "--finetune.max_steps", "40", "--finetune.warmup_steps", "5",
            "--lm_budget", "60s", "--finetune_budget", "60s"]
    assert main(argv) == 0
    rows = {r["variant"]: r["metrics"] for r in map(json.loads, (out / "rows.jsonl").read_text().splitlines())}
    assert rows["pretrained"]["val_acc"] >= 0.8 and "test_acc" in rows["pretrained"]
    assert rows["pretrained"]["lm_tokens_seen"] > 0 and "lm_tokens_seen" not in rows["scratch"]
    assert "val_acc" in rows["scratch"] and not (out / "scratch" / "seed-0" / "lm").exists()
    run = out / "pretrained" / "seed-0"
    results = json.loads((run / "results.json").read_text())
    assert results["lm"]["steps"] == 30 and results["lm"]["tokens"] > 60 * 10 and results["total_s"] > 0
    # - the fine-tuned classifier is an ordinary classifier run: `classify` reads it
    capsys.readouterr()
    assert main(["classify", "--run", str(run / "classifier"), "--text", "great wonderful superb"]) == 0
    assert capsys.readouterr().out.split()[0] in ("pos", "neg")
    # - a run that stopped after pretraining: the rerun fine-tunes, and does not pretrain again
    lm_log = (run / "lm" / "metrics.jsonl").read_text()
    (out / "rows" / "pretrained-seed0.json").unlink()
    shutil.rmtree(run / "classifier")
    assert main(argv) == 0
    assert (run / "lm" / "metrics.jsonl").read_text() == lm_log and (run / "classifier" / "checkpoint.pt").exists()
    assert len((out / "rows.jsonl").read_text().splitlines()) == 2


def test_budget_from_replays_both_stages_of_a_time_budgeted_run(tmp_path, capsys):
    folder = make_imdb(tmp_path, n_train=40, n_test=10, n_unsup=60)
    common = ["experiment", "imdb-pretrain", "--data.source", str(folder), "--tokenizer.kind", "word",
              "--tokenizer.vocab_size", "60", "--lm.d_model", "16", "--lm.n_heads", "2", "--lm.n_layers", "1",
              "--lm.context_len", "32", "--lm_train.batch_size", "4", "--batching.max_len", "32",
              "--finetune.warmup_steps", "5", "--threads", "1"]
    # - run a: both stages end with their time budgets (how far they get depends on the machine)
    assert main(common + ["--out_dir", str(tmp_path / "a"), "--lm_budget", "1.5s",
                          "--finetune_budget", "1.5s"]) == 0
    a = json.loads((tmp_path / "a" / "pretrained" / "seed-0" / "results.json").read_text())
    budgets = {stage: json.loads((tmp_path / "a" / "pretrained" / "seed-0" / stage / "budget.json").read_text())
               for stage in ("lm", "classifier")}
    assert all(b["time_budget_s"] == 1.5 and b["refits"] for b in budgets.values())
    # - run b replays run a's folder, c a results file holding both records (as the benchmark's does)
    summary = tmp_path / "summary.json"
    summary.write_text(json.dumps({f"{stage}_budget": b for stage, b in budgets.items()}))
    for name, source in (("b", tmp_path / "a" / "pretrained" / "seed-0"), ("c", summary)):
        assert main(common + ["--out_dir", str(tmp_path / name), "--budget_from", str(source)]) == 0
        again = json.loads((tmp_path / name / "pretrained" / "seed-0" / "results.json").read_text())
        assert again["lm"]["steps"] == a["lm"]["steps"] and again["finetuned"]["step"] == a["finetuned"]["step"]
        assert again["lm"]["val_loss"] == pytest.approx(a["lm"]["val_loss"], abs=1e-4)
        assert again["finetuned"]["val_acc"] == a["finetuned"]["val_acc"]
        assert again["finetuned"]["budget"]["refits"] == a["finetuned"]["budget"]["refits"]
    # - a results file without the stage's record: one line, before any work
    summary.write_text(json.dumps({"lm_budget": budgets["lm"]}))
    capsys.readouterr()
    assert main(common + ["--out_dir", str(tmp_path / "d"), "--budget_from", str(summary)]) == 2
    err = capsys.readouterr().err
    assert "no classifier_budget record" in err and len(err.strip().splitlines()) == 1


def test_train_classifier_init_needs_the_transformer_variant(tmp_path, capsys):
    code = main(["train-classifier", "--data.source", str(tmp_path), "--init", str(tmp_path / "lm"),
                 "--model.variant", "pool"])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "variant 'transformer'" in err and len(err.strip().splitlines()) == 1


def test_the_preset_validates():
    cli = build_parser("experiment")
    preset = Path(__file__).resolve().parents[1] / "configs" / "imdb_pretrain.yaml"
    ns = cli.instantiate(cli.parse_args(["experiment", "imdb-pretrain", "--config", str(preset)]))
    cfg = config_from_options(ExperimentConfig, ns["experiment"]["imdb-pretrain"])
    assert not cfg.classifier.causal and cfg.finetune.layer_lr_decay < 1 and cfg.partner.model.ngram_buckets > 0
    assert parse_budget(cfg.lm_budget) + parse_budget(cfg.finetune_budget) < 3600 and cfg.pretrain
    assert ns["experiment"]["imdb-pretrain"]["variants"] == "pretrained"  # the control only when asked


def test_the_benchmark_table_states_the_goal_met_or_missed_by_how_much():
    from benchmarks.imdb_pretrain import render

    results = {"lm": {"train_s": 2199.3, "steps": 2444, "tokens_seen": 20_021_248}, "total_s": 3322.3,
               "finetune_train_s": 900.9, "finetune_steps": 1366, "val_acc": 0.9089, "test_acc": 0.90624,
               "goal_met": False, "seed": 0, "machine": {"cpu": "AMD EPYC, 2 cores", "threads": 2, "load_avg": [1.7]},
               "partner_train_s": 171.1, "partner_val_acc": 0.897, "partner_test_acc": 0.904,
               "total_s_with_partner": 3505.7, "ensemble_val_acc": 0.912, "ensemble_test_acc": 0.92008}
    table = render(results)
    assert "**90.62%**" in table and "92.0%" in table and "**missed**, by 0.38 points" in table
    assert "**met**" in render({**results, "test_acc": 0.915, "goal_met": True})
    assert "**missed** on time" in render({**results, "test_acc": 0.915, "goal_met": False})
