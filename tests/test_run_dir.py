"""Run folders: one rule for claiming a folder, for every kind of run, and the resume bookkeeping."""

import multiprocessing
import time

import pytest
from toolkit_helpers import tiny_preset

from scratchformer.cli.main import main
from scratchformer.errors import UserError
from scratchformer.training.run_dir import (RunDir, changes_on_resume, existing_run_folder, flatten, new_run_folder,
                                            one_at_a_time)


def hold_for_a_while(folder, log):
    with one_at_a_time(folder):
        log.put(("in", time.monotonic()))
        time.sleep(0.3)
        log.put(("out", time.monotonic()))


def test_processes_sharing_a_folder_take_turns_in_it(tmp_path):
    # - two processes (as --jobs starts them) ask for one folder at once: their turns do not overlap
    ctx = multiprocessing.get_context("spawn")
    log = ctx.Queue()
    procs = [ctx.Process(target=hold_for_a_while, args=(tmp_path / "base", log)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
    events = sorted((log.get(timeout=5) for _ in range(4)), key=lambda e: e[1])
    assert [kind for kind, _ in events] == ["in", "out", "in", "out"]
    assert (tmp_path / "base").is_dir()


def test_a_new_run_gets_a_missing_or_empty_folder(tmp_path):
    assert new_run_folder(tmp_path, "a") == tmp_path / "a"
    (tmp_path / "empty").mkdir()
    assert new_run_folder(tmp_path, "empty") == tmp_path / "empty"
    named = new_run_folder(tmp_path, None, prefix="imdb")
    assert named.parent == tmp_path and named.name.startswith("imdb-") and not named.exists()


def test_a_folder_holding_a_run_is_refused_with_one_sentence(tmp_path):
    (tmp_path / "r").mkdir()
    for name in ("config.yaml", "command.txt", "env.json"):  # a run that failed before its first step
        (tmp_path / "r" / name).write_text("{}")
    assert new_run_folder(tmp_path, "r") == tmp_path / "r"
    (tmp_path / "r" / "lm").mkdir()  # anything else: a run (here an experiment's stage)
    with pytest.raises(UserError, match=r"^run folder .*r already holds a run; pick another --name$"):
        new_run_folder(tmp_path, "r")
    with pytest.raises(UserError, match=r"or continue it with `scratchformer train --resume .*r`$"):
        new_run_folder(tmp_path, "r", resume_command="scratchformer train --resume")


def test_a_file_where_a_folder_belongs_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match="is a file, not a folder"):
        new_run_folder(tmp_path / "file", "r")
    with pytest.raises(UserError, match="is a file, not a folder"):
        new_run_folder(tmp_path, "file")


def test_a_run_to_continue_must_hold_a_checkpoint(tmp_path):
    (tmp_path / "r").mkdir()
    with pytest.raises(UserError, match="no checkpoint"):
        existing_run_folder(tmp_path / "r")
    (tmp_path / "r" / "checkpoint.pt").write_bytes(b"")
    assert existing_run_folder(tmp_path / "r") == existing_run_folder(tmp_path / "r" / "checkpoint.pt") == tmp_path / "r"


def test_changes_on_resume_allows_safe_fields_and_names_the_others():
    saved = {"train": {"max_steps": 10, "lr": 1e-3, "betas": [0.9, 0.99]}, "sample": {"top_k": 5}, "data": {"corpus": "a"}}
    safe = ("train.max_steps", "sample.")
    resumed = {"train": {"max_steps": 20, "lr": 1e-3, "betas": (0.9, 0.99)}, "sample": {"top_k": 9}, "data": {"corpus": "a"}}
    assert changes_on_resume(saved, resumed, safe, "runs/r") == {"train.max_steps": [10, 20], "sample.top_k": [5, 9]}
    resumed["data"]["corpus"], resumed["train"]["lr"] = "b", 0.5
    with pytest.raises(UserError, match=r"data.corpus = 'a' there, 'b' here, train.lr = 0.001 there, 0.5 here"):
        changes_on_resume(saved, resumed, safe, "runs/r")


def test_resumes_are_appended_and_config_rewritten(tmp_path):
    run = RunDir(tmp_path / "r")
    run.write_config({"train": {"max_steps": 5}})
    run.record_resume(3, {"train.max_steps": [5, 9]}, argv=["scratchformer", "train", "--resume", "r"])
    run.record_resume(9, {}, argv=["scratchformer", "train", "--resume", "r"])
    run.write_config({"train": {"max_steps": 9}})
    assert [r["step"] for r in run.read_resumes()] == [3, 9]
    assert run.read_resumes()[0]["command"] == "scratchformer train --resume r"
    assert run.read_config() == {"train": {"max_steps": 9}} and flatten(run.read_config()) == {"train.max_steps": 9}
    assert not list(run.path.glob("*.tmp"))


def one_line_error(code, err):
    lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("warning: ")]
    return code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err


def test_every_command_refuses_an_existing_run_the_same_way(tmp_path, capsys):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "metrics.jsonl").write_text("")
    (tmp_path / "afile").write_text("x")
    preset = tiny_preset(tmp_path, max_steps=2)
    lm = ["train", "--config", preset, "--out_dir", str(tmp_path)]
    seq2seq = ["seq2seq", "train", "--train.max_steps", "1", "--train.progress", "false", "--out_dir", str(tmp_path)]
    for argv in (lm, seq2seq):
        code = main([*argv, "--name", "r"])
        err = capsys.readouterr().err
        assert one_line_error(code, err) and f"run folder {tmp_path / 'r'} already holds a run; pick another --name" in err
        code = main([*argv[:-1], str(tmp_path / "afile"), "--name", "x"])  # --out_dir names a file
        err = capsys.readouterr().err
        assert one_line_error(code, err) and "is a file, not a folder" in err
