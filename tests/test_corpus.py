"""Corpora: Markdown plays to plain text, deterministic splits, text files and their errors."""

import pytest

from scratchformer.data.corpus import CorpusConfig, file_splits, load_splits, markdown_to_text
from scratchformer.data.lm_data import LMData
from scratchformer.errors import UserError

PLAY = """# Macbeth

## ACT I

## SCENE I. A desert place.

_Thunder and lightning. Enter three Witches_

**First Witch**  
When shall we three meet again  
In thunder, lightning, or in rain?

_Alarum within. Enter DUNCAN,
meeting a bleeding Sergeant_

**DUNCAN**  
What bloody man is that?
"""


def test_markdown_becomes_name_colon_then_lines():
    assert markdown_to_text(PLAY) == (
        "First Witch:\nWhen shall we three meet again\nIn thunder, lightning, or in rain?\n\n"
        "DUNCAN:\nWhat bloody man is that?\n"
    )


def test_builtin_corpus_splits_by_play_deterministically():
    a, b = load_splits(CorpusConfig()), load_splits(CorpusConfig())
    assert a == b
    assert "MACBETH:" in a["test"] and "MACBETH:" not in a["train"]
    assert "PROSPERO:" in a["val"] and "PROSPERO:" not in a["train"]
    assert len(a["train"]) > 10 * len(a["val"])


def test_text_file_split_is_first_90_percent_train(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("abcdefghij" * 10)
    splits = load_splits(CorpusConfig(corpus=str(path)))
    assert splits["train"] == ("abcdefghij" * 10)[:90] and len(splits["val"]) == 10
    assert file_splits("x" * 100, 0.1, 0.1)["test"] == "x" * 10


@pytest.mark.parametrize("content, match", [(None, "does not exist"), ("", "is empty"),
                                            (b"\xff\xfe bad", "not valid UTF-8")])
def test_bad_corpus_files_are_user_errors(tmp_path, content, match):
    path = tmp_path / "c.txt"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(UserError, match=match):
        load_splits(CorpusConfig(corpus=str(path)))


def test_lm_batches_are_shifted_windows():
    import torch
    data = LMData({"train": list(range(100)), "val": list(range(50))}, context_len=8)
    x, y = data.batch("train", 4, torch.Generator().manual_seed(0))
    assert x.shape == (4, 8) and torch.equal(y, x + 1)
