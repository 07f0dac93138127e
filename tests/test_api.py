"""The Python API: the README's Python blocks run as written (with fewer steps), and the API's own checks."""

import csv
import random
import re
from pathlib import Path

import pytest

from scratchformer import api
from scratchformer.errors import UserError

@pytest.fixture(autouse=True)
def home_in_tmp(tmp_path, monkeypatch):
    """The token cache (~/.cache/scratchformer) goes to a temporary home, not the user's."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


ROOT = Path(__file__).resolve().parents[1]
# - the README's runs, shortened: (text in the README, what the test runs instead, times it appears)
SHORTER = [('"max_steps": 300', '"max_steps": 4, "warmup_steps": 1', 2), ('"eval_interval": 100', '"eval_interval": 2', 1)]


def readme_python_blocks() -> list[str]:
    section = (ROOT / "README.md").read_text().split("### From Python", 1)[1]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def write_student_files(folder: Path) -> None:
    rng = random.Random(0)
    words = "Once upon a time there was a Little fox.\nIt ran, and ran; then it SLEPT\tunder a tree.\n"
    (folder / "my_text.txt").write_text(words * 150)
    good, bad = ["wonderful", "loved", "great", "minute"], ["dull", "boring", "awful", "waste"]
    with open(folder / "reviews.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        for i in range(80):
            label = ["positive", "negative"][i % 2]
            pool = good if label == "positive" else bad
            writer.writerow([" ".join(rng.choice(pool + ["the", "film", "was"]) for _ in range(8)), label])
    (folder / "configs").symlink_to(ROOT / "configs")


def test_readme_python_blocks_run(tmp_path, monkeypatch, capsys):
    pytest.importorskip("transformers")
    blocks = readme_python_blocks()
    assert blocks, "the README has no Python block under 'From Python'"
    code = "\n".join(blocks)
    for old, new, count in SHORTER:
        assert code.count(old) == count, f"the README's Python no longer says {old}"
        code = code.replace(old, new)
    write_student_files(tmp_path)
    monkeypatch.chdir(tmp_path)
    scope = {}
    exec(compile(code, "README.md", "exec"), scope)
    run, clf = scope["run"], scope["clf"]
    # - what the README's comments promise
    assert set(run.evaluate(split="val")) >= {"val_loss", "val_bpc"}
    assert run.generate("Once upon a time", max_new_tokens=5, seed=0).startswith("Once upon a time")
    label, prob = clf.classify("What a wonderful film.")
    assert label in ("positive", "negative") and 0.5 <= prob <= 1
    assert 0.0 <= clf.evaluate()["val_acc"] <= 1.0
    assert (tmp_path / "exported" / "my-lm-hf" / "config.json").is_file()
    assert (tmp_path / "runs" / "my-classifier" / "checkpoint.pt").is_file()


def test_api_mistakes_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="max_stepz"):
        api.train(train={"max_stepz": 3})
    with pytest.raises(UserError, match="unknown tokenizer"):
        api.train(tokenizer="hf_bpe")
    assert api.flatten({"train": {"max_steps": 5, "progress": False}, "name": "x", "init": None}) == \
        ["--train.max_steps", "5", "--train.progress", "false", "--name", "x", "--init", "null"]
