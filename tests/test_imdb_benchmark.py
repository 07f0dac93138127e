"""The IMDb benchmark's protocol: anchors on the same splits, test only when asked, one table."""

import pytest

from benchmarks.imdb import anchor, render
from imdb_fixture import make_imdb
from scratchformer.data.imdb import IMDbConfig, load_imdb

pytest.importorskip("sklearn")


def test_anchor_chooses_c_on_validation_and_reads_test_only_when_asked(tmp_path):
    folder = make_imdb(tmp_path, n_train=60, n_test=20)
    imdb = load_imdb(IMDbConfig(source=str(folder)))
    out = anchor(imdb, (1, 2), final_test=False, cs=(0.01, 10.0))
    assert "test_acc" not in out and set(out["val_acc_by_C"]) == {"0.01", "10.0"}
    assert out["val_acc"] == max(out["val_acc_by_C"].values()) and out["val_acc"] >= 0.9
    final = anchor(load_imdb(IMDbConfig(source=str(folder)), final_test=True), (1, 1), final_test=True)
    assert final["test_acc"] >= 0.9


def test_render_marks_the_validation_choice_and_shows_missing_test_as_a_dash():
    row = dict(preset="configs/imdb_pool.yaml", variant="pool", tokenizer="word 50000", max_len=1000,
               steps=3000, batch_size=32, train_s=30.2, val_acc=0.9, ngram_buckets=0)
    results = {"best_preset": "configs/imdb_bigram.yaml", "commit": "abc", "date": "2026-12-04 00:00 UTC",
               "machine": {"cpu": "AMD EPYC, 2 cores", "load_avg": [3.0, 2.0, 1.0]}, "splits": {"val": 2502},
               "total_s": 100.0,
               "candidates": [row, {**row, "preset": "configs/imdb_bigram.yaml", "ngram_buckets": 10**6,
                                    "val_acc": 0.91, "test_acc": 0.895}],
               "anchors": {"tfidf_unigram_logreg": {"C": 4.0, "features": 40000, "seconds": 9.0, "val_acc": 0.88}}}
    table = render(results)
    assert "Goal ≥ 89% test within 15 minutes of training: not measured" in table
    lines = table.splitlines()[2:]
    assert "| 3,000 × 32 | 30 s | 90.0% | – |" in lines[2]
    assert "hashed bigrams" in lines[3] and "**89.5%**" in lines[3]
    assert "C = 4 chosen on validation" in lines[4] and "AMD EPYC" in table
    results.update(goal_from_scratch_met=True, best_test_acc=0.895, best_train_s=213.0)
    assert "not decided" in render({**results, "complete": False})
    assert "| `configs/imdb.yaml` | not finished in this run |" in render({**results, "complete": False})
    assert "met, 89.5% by `configs/imdb_bigram.yaml` after 213 s" in render(results)
