"""A language-model run end to end: exact resume, safe checkpoints, reloading a run."""

import dataclasses

import pytest
import torch

from scratchformer.data.corpus import CorpusConfig
from scratchformer.errors import UserError
from scratchformer.models.gpt import GPTConfig
from scratchformer.training.checkpoint import load_checkpoint
from scratchformer.tasks.language_model import LMRunConfig, prepare, train_language_model
from scratchformer.tasks.runs import load_run
from scratchformer.training.trainer import TrainConfig, Trainer


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("To be, or not to be, that is the question.\n" * 40)
    return str(path)


def config(corpus, tmp_path, **train) -> LMRunConfig:
    return LMRunConfig(
        model=GPTConfig(d_model=32, n_heads=4, n_layers=2, context_len=16, dropout=0.1),
        train=TrainConfig(**{**dict(max_steps=20, batch_size=4, eval_interval=5, eval_batches=2,
                                    log_interval=1, warmup_steps=3, progress=False), **train}),
        data=CorpusConfig(corpus=corpus), out_dir=str(tmp_path / "runs"), name="r",
        sample=dataclasses.replace(LMRunConfig().sample, max_new_tokens=5))


def losses(history):
    return {r["step"]: r["loss"] for r in history if "loss" in r}


def test_resume_is_exact(corpus, tmp_path):
    """Stop at step 10, resume in a fresh trainer: steps 11-20 match an uninterrupted run."""
    cfg = config(corpus, tmp_path)
    _, _, full = train_language_model(dataclasses.replace(cfg, name="full"))

    tokenizer, data, model_cfg = prepare(cfg)
    from scratchformer.models.gpt import GPT
    torch.manual_seed(cfg.train.seed)
    first = Trainer(GPT(model_cfg), cfg.train, data, run_dir=tmp_path / "runs" / "cut", tokenizer=tokenizer)
    first.fit(until=10)  # "interrupted" after step 10; fit writes a checkpoint when it stops
    torch.manual_seed(123)  # the resumed process starts from an unrelated RNG state
    second = Trainer(GPT(model_cfg), cfg.train, data, run_dir=tmp_path / "runs" / "cut", tokenizer=tokenizer)
    second.resume(tmp_path / "runs" / "cut")
    second.fit()

    expected = {s: v for s, v in losses(full.history).items() if s > 10}
    assert losses(second.history) == expected  # bit-exact, not approximately
    metrics_steps = [r["step"] for r in second.run_dir.read_metrics() if "loss" in r]
    assert metrics_steps == list(range(1, 21))  # the metrics file has each step once


def test_budget_from_replays_a_budgeted_run_step_for_step(corpus, tmp_path, capsys):
    """A run ended by a time budget, then replayed from its folder: the same steps, schedule and losses."""
    cfg = config(corpus, tmp_path, max_steps=100_000, eval_interval=0, log_interval=1, ramp_fraction=0.3,
                 batch_ramp_start=2, seq_ramp_start=8)  # the ramps follow the refitted max_steps too
    _, budgeted, first = train_language_model(dataclasses.replace(cfg, name="a", budget="1.5s"))
    replay = dataclasses.replace(cfg, name="b", budget_from=str(tmp_path / "runs" / "a"))
    _, replayed, again = train_language_model(replay)
    # - (how far run a got depends on the machine's load; the replay matches it step for step)
    assert replayed["step"] == budgeted["step"] > 0 and replayed["budget"]["refits"] == budgeted["budget"]["refits"]
    assert [r["lr"] for r in again.history if "lr" in r] == [r["lr"] for r in first.history if "lr" in r]
    assert losses(again.history) == losses(first.history)
    assert replayed["budget"]["replayed_from"].endswith("a")
    # - a budget and a replay at once, or a folder without a record of its steps: one line each
    with pytest.raises(ValueError, match="not both"):
        dataclasses.replace(cfg, budget="1s", budget_from=str(tmp_path / "runs" / "a"))
    with pytest.raises(UserError, match="no budget.json"):
        dataclasses.replace(cfg, budget_from=str(tmp_path / "nowhere"))


def test_checkpoint_is_weights_only_and_reloads(corpus, tmp_path):
    folder, result, trainer = train_language_model(config(corpus, tmp_path, max_steps=5))
    state = torch.load(folder / "checkpoint.pt", weights_only=True)  # no pickled objects inside
    assert state["step"] == 5 and state["kind"] == "gpt"
    run = load_run(folder)
    model, tokenizer = run.model, run.tokenizer
    idx = torch.tensor([tokenizer.encode("To be")])
    trainer.model.eval()
    assert torch.allclose(model(idx)[0], trainer.model(idx)[0], atol=1e-6)
    for name in ("config.yaml", "command.txt", "env.json", "metrics.jsonl"):
        assert (folder / name).exists()


def test_an_existing_run_is_never_overwritten(corpus, tmp_path):
    cfg = config(corpus, tmp_path, max_steps=2)
    train_language_model(cfg)
    before = (tmp_path / "runs" / "r" / "checkpoint.pt").read_bytes()
    with pytest.raises(UserError, match="already holds a run"):
        train_language_model(cfg)
    assert (tmp_path / "runs" / "r" / "checkpoint.pt").read_bytes() == before


def test_corrupt_and_missing_checkpoints_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="no checkpoint"):
        load_checkpoint(tmp_path / "nowhere")
    bad = tmp_path / "checkpoint.pt"
    bad.write_bytes(b"not a checkpoint at all")
    with pytest.raises(UserError, match="corrupt"):
        load_checkpoint(bad)


def test_resume_with_another_model_shape_is_a_user_error(corpus, tmp_path):
    cfg = config(corpus, tmp_path, max_steps=2)
    folder, _, _ = train_language_model(cfg)
    wider = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, d_model=64),
                                resume=str(folder), train=dataclasses.replace(cfg.train, max_steps=4))
    with pytest.raises(UserError, match="model.d_model = 32 there, 64 here"):
        train_language_model(wider)
