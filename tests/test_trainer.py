"""The Trainer's toolkit behaviour: exact resume, accumulation, NaN, fp16, resume checks."""

import dataclasses
import math

import pytest
import torch
from toolkit_helpers import ClassifierData, TinyClassifier, pattern_data, tiny_cfg, tiny_gpt  # noqa: F401
from torch import nn

from scratchformer.errors import UserError
from scratchformer.training.checkpoint import load_checkpoint
from scratchformer.training.grad_stats import NonFiniteError
from scratchformer.training.trainer import TrainConfig, Trainer


def weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_resume_is_exact_with_stats_and_accumulation(tmp_path):
    data = pattern_data()
    cfg = tiny_cfg(max_steps=6, grad_accum=2, stats_interval=2)
    full = Trainer(tiny_gpt(dropout=0.1), cfg, data)
    full.fit()
    first = Trainer(tiny_gpt(dropout=0.1), cfg, data, run_dir=tmp_path / "run")
    first.fit(until=3)
    second = Trainer(tiny_gpt(seed=5, dropout=0.1), cfg, data, run_dir=tmp_path / "run")
    second.resume(tmp_path / "run")
    second.fit()
    for k, v in full.model.state_dict().items():
        assert torch.equal(v, second.model.state_dict()[k]), k
    losses = [r["loss"] for r in full.history if "loss" in r]
    resumed = [r["loss"] for r in first.history + second.history if "loss" in r]
    assert losses == resumed


def test_accumulation_matches_the_large_batch():
    data = pattern_data()
    big = Trainer(tiny_gpt(), tiny_cfg(max_steps=3, batch_size=8, grad_accum=1), data)
    small = Trainer(tiny_gpt(), tiny_cfg(max_steps=3, batch_size=4, grad_accum=2), data)
    big.fit()
    small.fit()
    for k, v in big.model.state_dict().items():
        torch.testing.assert_close(small.model.state_dict()[k], v, rtol=1e-3, atol=1e-5)
    big_losses = [r["loss"] for r in big.history if "loss" in r]
    assert big_losses == pytest.approx([r["loss"] for r in small.history if "loss" in r], rel=1e-5)


def test_a_step_reads_the_device_once_however_many_micro_batches(monkeypatch):
    """The loss adds up on the device; the loss and the gradient norm come back in one read
    (on a GPU each read waits for the queue to drain)."""
    trainer = Trainer(tiny_gpt(), tiny_cfg(max_steps=2, batch_size=8, grad_accum=4), pattern_data())
    reads = []
    for name in ("item", "tolist", "__float__"):
        real = getattr(torch.Tensor, name)
        monkeypatch.setattr(torch.Tensor, name, lambda t, *a, _real=real, _name=name: reads.append(_name) or _real(t, *a))
    out = trainer.train_step()
    assert reads == ["tolist"]
    assert isinstance(out["loss"], float) and isinstance(out["grad_norm"], float) and out["loss"] > 0


class NaNAt(nn.Module):
    """Wraps a model and returns a NaN loss from training step `bad_step` on (or while `poison`)."""

    def __init__(self, model, bad_step=None):
        super().__init__()
        self.model, self.bad_step, self.calls, self.poison = model, bad_step, 0, False

    def forward(self, *batch):
        logits, loss = self.model(*batch)
        if self.training:
            self.calls += 1
        bad = self.poison or (self.training and self.calls == self.bad_step)
        return logits, loss * float("nan") if bad else loss


def test_nan_stops_the_run_with_a_message():
    trainer = Trainer(NaNAt(tiny_gpt(), bad_step=3), tiny_cfg(max_steps=5), pattern_data())
    with pytest.raises(NonFiniteError, match="loss is nan at step 3"):
        trainer.fit()
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())
    assert trainer.step == 2


def test_nan_step_is_skipped_and_weights_stay_finite(capsys):
    model = NaNAt(tiny_gpt())
    trainer = Trainer(model, tiny_cfg(max_steps=2, on_nan="skip"), pattern_data())
    trainer.fit()
    before = weights(model)
    model.poison = True
    out = trainer.train_step()
    assert out["skipped"] and math.isnan(out["loss"])
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())  # not stepped
    model.poison = False
    trainer.train_step()
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert trainer.skipped_steps == 1


def test_gradient_statistics_are_logged_at_the_interval():
    trainer = Trainer(tiny_gpt(n_layers=2), tiny_cfg(max_steps=6, stats_interval=3, grad_accum=2, grad_clip=0.05),
                      pattern_data())
    trainer.fit()
    stats = [r for r in trainer.history if "clip_frac" in r]
    assert [r["step"] for r in stats] == [3, 6]
    record = stats[-1]
    assert {"grad_norm/blocks.0", "grad_norm/blocks.1", "grad_norm/tok_emb", "update_ratio/blocks.1"} <= set(record)
    assert record["clip_frac"] == 1.0  # a clip of 0.05 cuts every gradient
    # - per-layer norms combine to the global norm (before clipping)
    layer = [v for k, v in record.items() if k.startswith("grad_norm/")]
    assert math.sqrt(sum(v * v for v in layer)) == pytest.approx(record["grad_norm"], rel=1e-4)
    assert 0 < record["update_ratio/blocks.0"] < 1
    assert "noise_scale" in record


def test_fp16_uses_a_gradient_scaler_and_resumes_it(tmp_path):
    cfg = tiny_cfg(max_steps=4, dtype="float16")
    trainer = Trainer(tiny_gpt(), cfg, pattern_data(), run_dir=tmp_path / "run")
    assert trainer.scaler is not None
    trainer.fit()
    state = load_checkpoint(tmp_path / "run")
    assert state["scaler"]["scale"] > 0
    again = Trainer(tiny_gpt(), cfg, pattern_data())
    again.resume(tmp_path / "run")
    assert again.scaler.get_scale() == trainer.scaler.get_scale()


def test_works_with_a_classifier():
    trainer = Trainer(TinyClassifier(), tiny_cfg(max_steps=60, lr=3e-2, stats_interval=10), ClassifierData(),
                      model_kind="classifier")
    first = trainer.evaluate()["val_loss"]
    trainer.fit()
    assert trainer.evaluate()["val_loss"] < first - 0.1


def test_resume_from_another_model_is_a_clear_error(tmp_path):
    Trainer(TinyClassifier(), tiny_cfg(max_steps=1), ClassifierData(), run_dir=tmp_path / "cls",
            model_kind="classifier").fit()
    with pytest.raises(UserError, match="'classifier' model, but this run trains a 'gpt'"):
        Trainer(tiny_gpt(), tiny_cfg(), pattern_data()).resume(tmp_path / "cls")
    Trainer(tiny_gpt(), tiny_cfg(max_steps=1), pattern_data(), run_dir=tmp_path / "gpt").fit()
    with pytest.raises(UserError, match="different model \\(d_model = 32 there, 48 here\\)"):
        Trainer(tiny_gpt(d_model=48), tiny_cfg(), pattern_data()).resume(tmp_path / "gpt")


@pytest.mark.parametrize("field", ["batch_size", "grad_accum"])
def test_zero_batch_or_accumulation_is_rejected(field):
    with pytest.raises(ValueError, match=f"{field} must be at least 1, got 0"):
        TrainConfig(**{field: 0})


def test_bad_on_nan_and_tracker_names_are_rejected():
    with pytest.raises(ValueError, match="on_nan must be one of"):
        TrainConfig(on_nan="ignore")
    with pytest.raises(ValueError, match="unknown tracker 'mlflow'"):
        TrainConfig(track="mlflow")


def test_checkpoint_of_a_compiled_model_loads_into_a_plain_one(tmp_path):
    # - torch.compile wraps lazily (it compiles on the first call, which takes minutes on a busy
    #   CPU), so the wrapper and its `_orig_mod.` names exist without compiling
    trainer = Trainer(tiny_gpt(), tiny_cfg(max_steps=1, compile=True), pattern_data(), run_dir=tmp_path / "run")
    assert any(k.startswith("_orig_mod.") for k in trainer.model.state_dict())  # the one handle: the compiled model
    trainer.save()
    state = load_checkpoint(tmp_path / "run")
    assert not any(k.startswith(("_orig_mod.", "module.")) for k in state["model"])
    plain = tiny_gpt(seed=3)
    plain.load_state_dict(state["model"])
    assert torch.equal(plain.tok_emb.weight, trainer.model.tok_emb.weight)


def test_bf16_autocast_trains():
    trainer = Trainer(tiny_gpt(), tiny_cfg(max_steps=30, dtype="bfloat16", lr=1e-2), pattern_data())
    assert trainer.dtype == torch.bfloat16 and trainer.scaler is None
    first = trainer.evaluate()["val_loss"]
    trainer.fit()
    assert trainer.evaluate()["val_loss"] < first - 0.3
    assert trainer.model.tok_emb.weight.dtype == torch.float32  # weights stay float32 under autocast


def test_the_bare_week_one_step_and_the_trainers_step_give_the_same_weights():
    """training/step.py's six lines and Trainer.train_step (statistics on, clipping active) agree exactly."""
    from scratchformer.training.optim import build_optimizer
    from scratchformer.training.step import train_step

    data = pattern_data()
    cfg = tiny_cfg(max_steps=5, schedule="constant", warmup_steps=0, grad_clip=0.5, stats_interval=2)
    trainer = Trainer(tiny_gpt(), cfg, data)
    for _ in range(5):
        trainer.train_step()

    model = tiny_gpt()
    optimizer = build_optimizer(model, cfg.lr, cfg.weight_decay, (cfg.beta1, cfg.beta2), name=cfg.optimizer)
    generator = torch.Generator().manual_seed(cfg.seed)  # the Trainer's batches, drawn the same way
    for _ in range(5):
        train_step(model, data.batch("train", cfg.batch_size, generator), optimizer, cfg.grad_clip)

    for name, value in model.state_dict().items():
        assert torch.equal(value, trainer.model.state_dict()[name]), name
    assert not torch.equal(model.state_dict()["tok_emb.weight"], tiny_gpt().state_dict()["tok_emb.weight"])


def test_the_trainer_holds_one_handle_on_its_model():
    from scratchformer.training.checkpoint import unwrap

    model = tiny_gpt()
    trainer = Trainer(model, tiny_cfg(), pattern_data())
    assert trainer.model is model and unwrap(trainer.model) is model
    assert not any(hasattr(trainer, name) for name in ("wrapped", "forward_model"))


def test_checks_before_training_fix_or_warn(capsys):
    from scratchformer.training.trainer import check_before_training

    # - min_lr above lr (a preset's min_lr with a smaller --train.lr): trained with lr/10, said once
    cfg = check_before_training(tiny_cfg(lr=3e-4, min_lr=1e-3, schedule="cosine"))
    err = capsys.readouterr().err
    assert cfg.min_lr == pytest.approx(3e-5) and err.count("warning: min_lr 0.001 is above lr 0.0003") == 1
    assert check_before_training(tiny_cfg(lr=3e-4, min_lr=1e-3, schedule="constant")).min_lr == 1e-3  # no decay
    # - warmup as long as the run, intervals longer than it: warnings, the run goes ahead unchanged
    cfg = tiny_cfg(max_steps=10, warmup_steps=10, eval_interval=50, checkpoint_interval=20)
    assert check_before_training(cfg) == cfg
    err = capsys.readouterr().err
    assert "warmup_steps 10 >= max_steps 10" in err and "eval_interval 50" in err and "checkpoint_interval 20" in err
    assert check_before_training(tiny_cfg(), quiet=False) == tiny_cfg() and capsys.readouterr().err == ""
    # - the Trainer trains with the fixed config
    assert Trainer(tiny_gpt(), tiny_cfg(lr=1e-3, min_lr=1e-2), pattern_data()).cfg.min_lr == pytest.approx(1e-4)


def test_the_readme_example_with_a_smaller_lr_decays(tmp_path, capsys):
    """`train --config configs/demo.yaml --train.lr 3e-4` (min_lr 1e-3 in the preset) runs, and decays."""
    from scratchformer.cli.main import main

    corpus = tmp_path / "c.txt"
    corpus.write_text("abcdefgh\n" * 300)
    assert main(["train", "--config", "configs/demo.yaml", "--train.lr", "3e-4", "--data.corpus", str(corpus),
                 "--model.n_layers", "1", "--model.d_model", "32", "--model.context_len", "16",
                 "--train.max_steps", "6", "--train.warmup_steps", "1", "--train.batch_size", "2", "--train.log_interval", "1",
                 "--train.eval_batches", "1", "--train.progress", "false", "--train.device", "cpu",
                 "--sample.max_new_tokens", "2", "--prompt", "abc", "--out_dir", str(tmp_path), "--name", "demo"]) == 0
    assert "warning: min_lr 0.001 is above lr 0.0003" in capsys.readouterr().err
    import json

    lrs = [json.loads(line)["lr"] for line in (tmp_path / "demo" / "metrics.jsonl").read_text().splitlines()
           if '"lr"' in line]
    assert lrs[1] == pytest.approx(3e-4) and all(a >= b for a, b in zip(lrs[1:], lrs[2:]))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the machine without a GPU")
def test_a_missing_gpu_is_one_line(tmp_path, capsys):
    from toolkit_helpers import tiny_preset

    from scratchformer.cli.main import main

    code = main(["train", "--config", tiny_preset(tmp_path), "--train.device", "cuda", "--name", "g"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "no CUDA GPU" in err and "Traceback" not in err
    assert not (tmp_path / "runs" / "g").exists()  # no half-made run folder


def test_schedule_fitted_to_a_new_length_on_resume_has_no_jump():
    """lr_at after a resume at step 40 of 100 that makes the run 300 steps long."""
    trainer = Trainer(tiny_gpt(), tiny_cfg(max_steps=300, warmup_steps=10, lr=1e-2, min_lr=1e-3), pattern_data())
    original = [trainer.schedule(s, max_steps=100, lr=1e-2, min_lr=1e-3, warmup_steps=10) for s in range(101)]
    trainer.schedule_stretches = [(40, 100)]
    assert [trainer.lr_at(s) for s in range(41)] == original[:41]
    # - the 60 steps left of the old curve now span 260: 30 old steps after the resume take 130
    assert trainer.lr_at(40 + 130) == pytest.approx(original[70])
    assert trainer.lr_at(300) == pytest.approx(1e-3)
    # - a shorter run: the rest of the curve sped up
    trainer.cfg = dataclasses.replace(trainer.cfg, max_steps=70)
    assert trainer.lr_at(40) == original[40]  # (a time budget moving max_steps later moves only the rest)
    assert trainer.lr_at(55) == pytest.approx(original[70]) and trainer.lr_at(70) == pytest.approx(1e-3)


def test_compile_that_fails_falls_back_to_the_uncompiled_model_with_a_warning(monkeypatch, capsys):
    """Where no compiler works, the first compiled step fails: the run warns and trains the same steps uncompiled."""
    import torch

    from scratchformer.data.lm_data import LMData
    from scratchformer.models.gpt import GPT, GPTConfig
    from scratchformer.training.trainer import TrainConfig, Trainer

    class Broken(torch.nn.Module):  # what torch.compile returns where the backend cannot compile
        def forward(self, *args, **kwargs):
            raise RuntimeError("InductorError: no working C++ compiler found\nmore detail")

    def broken_compile(model, **kw):
        return Broken()

    def losses(compile_on):
        torch.manual_seed(0)
        data = LMData({"train": torch.arange(300) % 17, "val": torch.arange(100) % 17}, context_len=8)
        cfg = TrainConfig(max_steps=5, batch_size=4, warmup_steps=1, eval_interval=0, eval_batches=1, stats_interval=0,
                          progress=False, device="cpu", compile=compile_on)
        trainer = Trainer(GPT(GPTConfig(vocab_size=17, d_model=8, n_heads=2, n_layers=1, context_len=8)), cfg, data)
        return [trainer.train_step()["loss"] for _ in range(5)], trainer

    monkeypatch.setattr(torch, "compile", broken_compile)
    fell_back, trainer = losses(True)
    err = capsys.readouterr().err
    assert "warning: torch.compile does not work here (RuntimeError: InductorError: no working C++ compiler found)" in err
    assert err.count("\n") == 1 and not trainer.compiled
    assert fell_back == losses(False)[0]  # the same batches and the same steps as a run that never compiled
