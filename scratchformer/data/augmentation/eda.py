"""EDA: Easy Data Augmentation (Wei & Zou 2019, "EDA: Easy Data Augmentation Techniques for
Boosting Performance on Text Classification Tasks").

Four word operations, each changing about p of a text's words (the paper's alpha):

    synonym_replacement   "a good film"  -> "a beneficial film"   (WordNet synonyms)
    random_insertion      "a good film"  -> "a good film well"    (a synonym of some word, anywhere)
    random_swap           "a good film"  -> "film good a"
    random_deletion       "a good film"  -> "a film"              (each word with probability p)

`synonyms` is any function word -> list of synonyms (scratchformer.data.augmentation.wordnet
gives WordNet's); stop words are never replaced, as in the paper. Line breaks stay in place.
"""

from __future__ import annotations

import random
import string
from typing import Callable

from scratchformer.data.augmentation.words import count_to_change, join_words, split_words, word_positions

Synonyms = Callable[[str], list[str]]

# - the paper's stop words (NLTK's English list, abridged): they carry no sentiment to vary
STOP_WORDS = frozenset("""
i me my myself we our ours ourselves you your yours yourself yourselves he him his himself she her
hers herself it its itself they them their theirs themselves what which who whom this that these
those am is are was were be been being have has had having do does did doing a an the and but if or
because as until while of at by for with about against between into through during before after
above below to from up down in out on off over under again further then once here there when where
why how all any both each few more most other some such no nor not only own same so than too very
s t can will just don should now
""".split())


def split_punctuation(word: str) -> tuple[str, str, str]:
    """'film,' -> ('', 'film', ','): the word's leading punctuation, its core (lower-cased), its trailing."""
    core = word.strip(string.punctuation)
    if not core:
        return word, "", ""
    start = word.index(core)
    return word[:start], core.lower(), word[start + len(core):]


def synonyms_of(word: str, synonyms: Synonyms) -> list[str]:
    """The synonyms of a word's core, other than itself; none for stop words."""
    _, core, _ = split_punctuation(word)
    if not core or core in STOP_WORDS:
        return []
    return [s for s in synonyms(core) if s != core]


def synonym_replacement(text: str, p: float, rng: random.Random, synonyms: Synonyms) -> str:
    """Replace about p of the words (never stop words) by a random synonym of each."""
    items = split_words(text)
    positions = word_positions(items)
    n = count_to_change(p, len(positions))
    candidates = list(positions)
    rng.shuffle(candidates)
    replaced = 0
    for i in candidates:
        if replaced >= n:
            break
        options = synonyms_of(items[i], synonyms)
        if options:
            lead, _, trail = split_punctuation(items[i])
            items[i] = lead + rng.choice(options) + trail  # "film," -> "movie,"
            replaced += 1
    return join_words(items)


def random_insertion(text: str, p: float, rng: random.Random, synonyms: Synonyms) -> str:
    """Insert about p * (number of words) synonyms of random words (not stop words) at random places."""
    items = split_words(text)
    n = count_to_change(p, len(word_positions(items)))
    for _ in range(n):
        words = [items[i] for i in word_positions(items)]
        # - a few tries to find a word that has a synonym (the paper gives up after 10)
        for _ in range(10):
            options = synonyms_of(rng.choice(words), synonyms) if words else []
            if options:
                items.insert(rng.randint(0, len(items)), rng.choice(options))
                break
    return join_words(items)


def random_swap(text: str, p: float, rng: random.Random) -> str:
    """Swap two random words, about p * (number of words) times."""
    items = split_words(text)
    positions = word_positions(items)
    if len(positions) < 2:
        return join_words(items)
    for _ in range(count_to_change(p, len(positions))):
        i, j = rng.sample(positions, 2)
        items[i], items[j] = items[j], items[i]
    return join_words(items)


def random_deletion(text: str, p: float, rng: random.Random) -> str:
    """Delete each word with probability p; a text is never emptied (one random word stays)."""
    items = split_words(text)
    positions = word_positions(items)
    if not positions:
        return join_words(items)
    kept = [item for item in items if item == "\n" or rng.random() >= p]
    if not word_positions(kept):
        kept = [items[rng.choice(positions)]]
    return join_words(kept)


def eda(text: str, p: float, rng: random.Random, synonyms: Synonyms) -> str:
    """One of the four operations, drawn uniformly (the paper makes each augmented copy this way)."""
    op = rng.randrange(4)
    if op == 0:
        return synonym_replacement(text, p, rng, synonyms)
    if op == 1:
        return random_insertion(text, p, rng, synonyms)
    if op == 2:
        return random_swap(text, p, rng)
    return random_deletion(text, p, rng)
