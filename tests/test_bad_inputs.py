"""Bad input through the command line: one clear line (exit status 2) before any work is wasted,
never a traceback, a silent wrong answer or a half-made run folder. Also the help texts and the
files a command writes, as a new user meets them."""

from __future__ import annotations

import json
import math

import pytest
from toolkit_helpers import tiny_preset

from scratchformer.cli.main import COMMANDS, main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(code, err, *words) -> bool:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    return (code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err
            and all(w in lines[0] for w in words))


def help_text(capsys, *argv) -> str:
    with pytest.raises(SystemExit) as stop:
        main([*argv, "--help"])
    assert stop.value.code == 0
    return capsys.readouterr().out


# --------------------------------------------------------------------------------------------
# the version and the help texts


def test_version(capsys):
    from importlib.metadata import version

    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.strip() == f"scratchformer {version('scratchformer')}"


def test_finders_show_only_options_that_apply(capsys):
    for command in ("find-lr", "find-batch-size"):
        text = help_text(capsys, command)
        assert len(text.splitlines()) < 250, command  # it was about 660
        # - sampling, run folders and the schedule do not apply to a finder; the classifier's
        #   options are train-classifier's, named once
        for absent in ("--sample.", "--prompt", "--out_dir", "--train.max_steps", "--train.track",
                       "--classifier.model.", "--classifier.final_test"):
            assert absent not in text, (command, absent)
        for present in ("--model.d_model", "--train.batch_size", "--data.corpus", "--classifier CONFIG",
                        "train-classifier --help"):
            assert present in text, (command, present)


def test_finders_still_accept_every_preset_key(tmp_path, capsys):
    """Options left out of the help still parse, so a full `train` preset loads."""
    preset = tiny_preset(tmp_path, max_steps=5)
    code, out, _ = run(capsys, "find-lr", "--config", preset, "--finder.num_steps", "8", "--train.track", "none",
                       "--plot", str(tmp_path / "lr.png"))
    assert code == 0 and (tmp_path / "lr.png").exists()


def test_help_lists_the_choices(capsys):
    from scratchformer.core.position_schemes import POSITIONS
    from scratchformer.tasks.language_model import LM_TOKENIZERS as TOKENIZERS

    text = " ".join(help_text(capsys, "train").split())  # (the help wraps lines)
    tokenizer_help = text[text.index("--tokenizer TOKENIZER How"):][:500]
    assert all(name in tokenizer_help for name in TOKENIZERS), tokenizer_help
    position_help = text[text.index("--model.position POSITION Position"):][:400]
    assert all(name in position_help for name in POSITIONS), position_help
    assert "position_schemes.POSITIONS" not in text


def test_help_speaks_to_users_not_to_issue_trackers(capsys):
    import re

    for command in COMMANDS:
        text = help_text(capsys, command)
        assert not re.search(r"[Ii]ssue \d", text), command


def test_seq2seq_decode_has_a_description_with_its_examples_on_their_own_lines(capsys):
    text = help_text(capsys, "seq2seq", "decode")
    assert "Answer source strings with a model trained by `seq2seq train`" in text
    assert "\n  scratchformer seq2seq decode --run runs/reverse --input 12345 9081726\n" in text


# --------------------------------------------------------------------------------------------
# files in the right places


def test_find_lr_plot_goes_under_runs_not_into_the_current_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    preset = tiny_preset(tmp_path, max_steps=5)  # out_dir: tmp_path/runs
    code, out, _ = run(capsys, "find-lr", "--config", preset, "--finder.num_steps", "8")
    assert code == 0 and not (tmp_path / "lr_finder.png").exists()
    plots = list((tmp_path / "runs").glob("lr_finder-*.png"))
    assert len(plots) == 1 and f"plot: {plots[0]}" in out


def test_find_lr_on_a_trained_run_writes_beside_it(tmp_path, capsys):
    preset = tiny_preset(tmp_path, max_steps=3)
    assert main(["train", "--config", preset, "--name", "a"]) == 0
    code, out, _ = run(capsys, "find-lr", "--config", preset, "--resume", str(tmp_path / "runs" / "a"),
                       "--finder.num_steps", "8")
    assert code == 0 and (tmp_path / "runs" / "a" / "lr_finder.png").exists()


def test_env_json_records_the_real_machine(tmp_path, capsys):
    from scratchformer.provenance import cpu_model

    preset = tiny_preset(tmp_path, max_steps=2)
    assert main(["train", "--config", preset, "--name", "a"]) == 0
    env = json.loads((tmp_path / "runs" / "a" / "env.json").read_text())
    assert env["machine"].startswith(cpu_model()) and " cores" in env["machine"]


# --------------------------------------------------------------------------------------------
# the start line of a run


def test_a_run_starts_with_one_line_saying_what_runs_where(tmp_path, capsys):
    preset = tiny_preset(tmp_path, max_steps=2)
    code, out, _ = run(capsys, "train", "--config", preset, "--name", "a")
    starts = [ln for ln in out.splitlines() if ln.startswith("training: ")]
    assert code == 0 and len(starts) == 1
    line = starts[0]
    for part in ("parameters", "device cpu", "dtype float32", "CPU thread", f"run folder {tmp_path / 'runs' / 'a'}"):
        assert part in line, part


def test_classifier_training_shows_progress_by_default():
    from scratchformer.tasks.classification import ClassifierRunConfig

    assert ClassifierRunConfig().train.progress


# --------------------------------------------------------------------------------------------
# bad input: one line, exit status 2, nothing wasted


def test_corpus_shorter_than_the_context(tmp_path, capsys):
    corpus = tmp_path / "short.txt"
    corpus.write_text("hello world, " * 3)
    code, _, err = run(capsys, "train", "--data.corpus", str(corpus), "--model.context_len", "64",
                       "--out_dir", str(tmp_path / "runs"))
    assert one_line_error(code, err, "too short", "context_len")


@pytest.mark.parametrize("extra, words", [
    (["--prompt", ""], ("--prompt is empty",)),
    (["--tokenizer", "word", "--prompt", "   "], ("cannot start a sample", "holds no token")),  # words, not spaces
])
def test_a_prompt_that_cannot_be_sampled_fails_before_training(tmp_path, capsys, extra, words):
    preset = tiny_preset(tmp_path, max_steps=3)
    code, out, err = run(capsys, "train", "--config", preset, "--name", "a", *extra)
    assert one_line_error(code, err, *words)
    assert "training:" not in out and not (tmp_path / "runs" / "a" / "metrics.jsonl").exists()


def test_a_prompt_with_a_character_the_corpus_lacks_fails_before_training(tmp_path, capsys):
    corpus = tmp_path / "one-line.txt"
    corpus.write_text("no newline anywhere in this text. " * 40)
    code, out, err = run(capsys, "train", "--data.corpus", str(corpus), "--model.context_len", "16",
                         "--train.max_steps", "2", "--out_dir", str(tmp_path / "runs"), "--prompt", "\t")
    assert one_line_error(code, err, "cannot start a sample", "outside the vocabulary")
    assert not list((tmp_path / "runs").glob("*/metrics.jsonl"))  # nothing was trained


@pytest.mark.parametrize("text", ["", "   \n\t "])
def test_classify_refuses_empty_text(tmp_path, capsys, text):
    code, out, err = run(capsys, "classify", "--run", str(tmp_path / "any"), "--text", text)
    assert one_line_error(code, err, "holds no text") and out == ""
    review = tmp_path / "empty.txt"
    review.write_text(text)
    code, out, err = run(capsys, "classify", "--run", str(tmp_path / "any"), "--file", str(review))
    assert one_line_error(code, err, "holds no text") and out == ""


@pytest.mark.parametrize("argv", [["--train.lr", "-1e-3"], ["--train.lr", "-1"], ["--train.lr=-0.5"]])
def test_a_negative_learning_rate_reads_as_a_number_and_is_refused(capsys, argv):
    code, _, err = run(capsys, "train", *argv)
    assert one_line_error(code, err, "lr must be > 0")


def test_negative_numbers_are_values_of_the_option_before_them():
    from scratchformer.cli.main import join_negative_numbers

    assert join_negative_numbers(["train", "--train.lr", "-1e-3", "--name", "x"]) == \
        ["train", "--train.lr=-1e-3", "--name", "x"]
    assert join_negative_numbers(["--a", "-.5", "--b=-2", "-h"]) == ["--a=-.5", "--b=-2", "-h"]


def test_wandb_without_a_login_fails_before_the_run_folder_is_made(tmp_path, capsys, monkeypatch):
    pytest.importorskip("wandb")
    for name in ("WANDB_MODE", "WANDB_API_KEY", "WANDB_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    preset = tiny_preset(tmp_path, max_steps=2)
    code, out, err = run(capsys, "train", "--config", preset, "--name", "a", "--train.track", "wandb")
    assert one_line_error(code, err, "wandb login", "WANDB_MODE=offline")
    assert not (tmp_path / "runs").exists() and out == ""
    # - the classifier checks before it reads any review
    code, out, err = run(capsys, "train-classifier", "--data.source", str(tmp_path / "not-read.tar.gz"),
                         "--train.track", "wandb", "--out_dir", str(tmp_path / "runs"))
    assert one_line_error(code, err, "wandb login") and not (tmp_path / "runs").exists()
    # - offline needs no login
    from scratchformer.training.tracking import wandb_can_log

    monkeypatch.setenv("WANDB_MODE", "offline")
    assert wandb_can_log()


def test_skipping_most_steps_on_nan_is_an_error_and_metrics_stay_valid_json(tmp_path, capsys):
    preset = tiny_preset(tmp_path, max_steps=4)
    code, _, err = run(capsys, "train", "--config", preset, "--name", "a", "--train.lr", "1e8",
                       "--train.warmup_steps", "0", "--train.on_nan", "skip", "--train.log_interval", "1")
    assert one_line_error(code, err, "steps were skipped", "not learning", "lower the learning rate")
    assert "enable gradient clipping" not in err  # clipping is on by default

    def no_nan(constant):
        raise AssertionError(f"{constant} in metrics.jsonl")

    lines = (tmp_path / "runs" / "a" / "metrics.jsonl").read_text().splitlines()
    records = [json.loads(line, parse_constant=no_nan) for line in lines]
    assert any(r.get("loss") is None for r in records)


def test_a_few_skipped_steps_are_fine(tmp_path):
    from toolkit_helpers import pattern_data, tiny_cfg, tiny_gpt

    from scratchformer.training.trainer import Trainer

    trainer = Trainer(tiny_gpt(), tiny_cfg(max_steps=6, on_nan="skip"), pattern_data())
    real_step = trainer.train_step
    calls = []

    def step_with_one_nan():
        calls.append(1)
        if len(calls) == 2:  # the second step's gradient is NaN
            for p in trainer.model.parameters():
                p.grad = None
            trainer.step += 1
            trainer.skipped_steps += 1
            return {"loss": math.nan, "grad_norm": math.nan, "lr": 0.0, "tokens": 0, "skipped": True}
        return real_step()

    trainer.train_step = step_with_one_nan
    result = trainer.fit()
    assert result["skipped_steps"] == 1 and result["step"] == 6


@pytest.mark.parametrize("grad_clip, advice, absent", [
    (1.0, "gradient clipping at 1 is already on", "enable gradient clipping"),
    (0.0, "enable gradient clipping", "already on"),
])
def test_the_non_finite_message_fits_the_clipping(tmp_path, capsys, grad_clip, advice, absent):
    preset = tiny_preset(tmp_path, max_steps=4)
    code, _, err = run(capsys, "train", "--config", preset, "--name", "a", "--train.lr", "1e8",
                       "--train.warmup_steps", "0", "--train.grad_clip", str(grad_clip))
    assert one_line_error(code, err, "lower the learning rate", advice)
    assert absent not in err


# --------------------------------------------------------------------------------------------
# plots


def test_schedule_plot_gives_each_schedule_its_own_panel_and_no_legend(tmp_path, capsys, monkeypatch):
    import scratchformer.training.plots as plots

    figures = []
    real_save = plots.save

    def keep(fig, path):
        figures.append(fig)
        return real_save(fig, path)

    monkeypatch.setattr(plots, "save", keep)
    code, out, _ = run(capsys, "plot-schedule", "--schedule", "all", "--out", str(tmp_path / "s.png"))
    assert code == 0 and (tmp_path / "s.png").exists() and f"wrote {tmp_path / 's.png'}" in out
    from scratchformer.training.schedules import SCHEDULES

    visible = [ax for ax in figures[0].axes if ax.get_visible()]
    assert sorted(ax.get_title() for ax in visible) == sorted(SCHEDULES)  # constant no longer hides under warmup
    assert all(ax.get_legend() is None for ax in visible)


def test_a_saved_figure_is_written_at_its_dpi_into_a_new_folder_and_closed(tmp_path):
    import matplotlib.image

    from scratchformer.training.plots import pyplot, save

    plt = pyplot()
    fig, _ = plt.subplots(figsize=(2, 1))
    path = save(fig, tmp_path / "new" / "f.png", dpi=50, rect=(0, 0, 0.8, 1))
    assert matplotlib.image.imread(path).shape[:2] == (50, 100)  # (height, width) pixels: inches x dpi
    assert not plt.fignum_exists(fig.number)  # closed: a sweep's many figures do not pile up
