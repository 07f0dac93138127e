"""Provenance: what counts as code that differs from the commit a result names, and the one record of
the machine that every speed carries."""

import subprocess

import torch

from scratchformer.provenance import cpu_model, describe_machine, machine, source_state


def git(repo, *args):
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def make_repo(tmp_path):
    repo = tmp_path / "repo"
    (repo / "scratchformer").mkdir(parents=True)
    (repo / "benchmarks" / "results").mkdir(parents=True)
    (repo / "scratchformer" / "model.py").write_text("x = 1\n")
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "code")
    return repo


def test_a_clean_checkout_names_its_commit(tmp_path):
    repo = make_repo(tmp_path)
    state = source_state(repo)
    assert len(state["commit"]) == 40 and state["dirty"] is False


def test_an_edited_file_or_a_new_module_is_dirty_but_results_and_notes_are_not(tmp_path):
    repo = make_repo(tmp_path)
    # - untracked notes at the top and a results file: still the committed code
    (repo / "notes.txt").write_text("todo\n")
    (repo / "benchmarks" / "results" / "speed.json").write_text("{}\n")
    assert source_state(repo)["dirty"] is False
    # - a new module a run could import is code the commit does not hold
    (repo / "benchmarks" / "new_benchmark.py").write_text("print(1)\n")
    assert source_state(repo)["dirty"] is True
    (repo / "benchmarks" / "new_benchmark.py").unlink()
    # - an edited tracked file
    (repo / "scratchformer" / "model.py").write_text("x = 2\n")
    assert source_state(repo)["dirty"] is True


def test_outside_a_checkout_the_commit_is_unknown(tmp_path):
    assert source_state(tmp_path) == {"commit": "unknown", "dirty": True}


def test_one_machine_record_for_every_speed():
    m = machine()
    assert m["cpu"] == cpu_model() and m["cores"] >= 1 and m["threads"] == torch.get_num_threads()
    assert len(m["load_avg"]) == 3 and m["torch"] == torch.__version__
    line = describe_machine(m)
    assert line.startswith(f"{m['cpu']}, {m['cores']} cores, load average ") and ("GPU" in line) == bool(m["gpu"])
    assert describe_machine(m | {"gpu": "H200", "load_avg": None}).endswith(f"{m['cores']} cores, GPU H200")
