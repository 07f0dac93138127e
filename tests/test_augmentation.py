"""Text augmentations: each function's behaviour, the registry's checks, and WordNet loading
(on a tiny fake database; the real one is never needed)."""

import random
import tarfile

import pytest
import torch

from scratchformer.data.augmentation import (AUGMENTATIONS, AugmentationSpec, build_augmentation, case_noise,
                                             character_noise, mask_spans, parse_augmentations, punctuation_noise,
                                             random_crop, random_deletion, random_insertion, random_swap,
                                             span_masking, synonym_replacement, token_dropout)
from scratchformer.data.augmentation.words import join_words, split_words
from scratchformer.errors import UserError
from wordnet_fixture import write_fake_wordnet

TEXT = "the film was good and the acting was good too\nbut the ending was bad"
SYNONYMS = {"film": ["movie", "picture"], "good": ["beneficial"], "bad": ["awful"], "acting": ["playing"]}


def synonyms(word):
    return SYNONYMS.get(word, [])


def words(text):
    return [w for w in split_words(text) if w != "\n"]


def test_split_and_join_keep_line_breaks():
    assert split_words("a  b\nc") == ["a", "b", "\n", "c"]
    assert join_words(split_words(TEXT)) == TEXT


def test_synonym_replacement_changes_only_words_with_synonyms():
    out = synonym_replacement(TEXT, 1.0, random.Random(0), synonyms)
    assert out.count("\n") == 1 and len(words(out)) == len(words(TEXT))
    for before, after in zip(words(TEXT), words(out)):
        assert after == before or after in SYNONYMS[before]
    assert out != TEXT
    # - punctuation around a word stays; stop words are never replaced
    assert synonym_replacement("Film, the", 1.0, random.Random(0), synonyms).endswith(", the")


def test_random_insertion_adds_synonyms():
    out = random_insertion(TEXT, 0.2, random.Random(0), synonyms)
    added = len(words(out)) - len(words(TEXT))
    assert added == round(0.2 * len(words(TEXT)))
    inserted = set(words(out)) - set(words(TEXT))
    assert inserted <= {s for v in SYNONYMS.values() for s in v}


def test_random_swap_keeps_the_multiset_of_words():
    out = random_swap(TEXT, 0.3, random.Random(1))
    assert sorted(words(out)) == sorted(words(TEXT)) and out != TEXT
    assert out.split("\n")[0].count(" ") + out.split("\n")[1].count(" ") == TEXT.count(" ")


def test_random_deletion_rate_and_never_empty():
    long = " ".join(["w"] * 2000)
    kept = len(words(random_deletion(long, 0.3, random.Random(0))))
    assert 1300 < kept < 1500  # about 70% kept
    assert len(words(random_deletion("one two", 1.0, random.Random(0)))) == 1
    assert random_deletion(TEXT, 0.0, random.Random(0)) == TEXT


def test_token_dropout_masks_at_rate_p():
    long = " ".join(["w"] * 2000)
    masked = words(token_dropout(long, 0.25, random.Random(0))).count("_")
    assert 420 < masked < 580
    assert token_dropout(TEXT, 0.0, random.Random(0)) == TEXT


def test_span_masking_hides_about_p_in_runs():
    spans = mask_spans(1000, 0.15, random.Random(0), mean_span=3.0)
    covered = sum(e - s for s, e in spans)
    assert covered == 150
    assert all(s < e for s, e in spans) and all(a[1] < b[0] for a, b in zip(spans, spans[1:]))
    assert covered / len(spans) > 1.5  # runs, not single words
    out = span_masking(TEXT, 0.3, random.Random(0))
    assert words(out).count("_") == round(0.3 * len(words(TEXT)))


def test_random_crop_keeps_a_contiguous_window():
    text = " ".join(f"w{i}" for i in range(100))
    out = random_crop(text, 0.4, random.Random(0))
    assert len(out.split()) == 60 and out in text
    assert random_crop(text, 0.4, random.Random(0), min_words=100) == text  # short texts stay whole
    assert random_crop("a\nb c", 0.0, random.Random(0)) == "a\nb c"


def test_character_noise_rate_and_line_breaks():
    text = "abcdefghij\n" * 200
    out = character_noise(text, 0.1, random.Random(0))
    assert out.count("\n") == 200
    changed = sum(a != b for a, b in zip(out.split("\n"), text.split("\n")))
    assert 100 < changed < 200  # a line of 10 characters has a typo with probability 1 - 0.9**10
    assert character_noise(text, 0.0, random.Random(0)) == text


def test_case_noise_changes_only_case():
    out = case_noise(TEXT, 1.0, random.Random(0))
    assert out.lower() == TEXT.lower() and out != TEXT
    assert case_noise(TEXT, 0.0, random.Random(0)) == TEXT


def test_punctuation_noise_changes_only_punctuation():
    text = "a good, fun film. it works! really? yes; done:"
    out = punctuation_noise(text, 1.0, random.Random(0))
    strip = lambda s: [w.strip(".,;:!?") for w in s.split()]  # noqa: E731
    assert strip(out) == strip(text) and out != text
    assert punctuation_noise(text, 0.0, random.Random(0)) == text


def test_same_seed_same_output_with_either_generator():
    for name in AUGMENTATIONS:
        augment = build_augmentation(f"{name}=0.3", synonyms=synonyms, fill=lambda left, n, right, rng: ["x"] * n)
        assert augment(TEXT, random.Random(3)) == augment(TEXT, random.Random(3))
        g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
        assert augment(TEXT, g1) == augment(TEXT, g2)


def test_pipeline_applies_in_order():
    augment = build_augmentation("case-noise=1.0,token-dropout=1.0")
    assert set(words(augment(TEXT, random.Random(0)))) == {"_"}
    assert build_augmentation("none")(TEXT, random.Random(0)) == TEXT
    assert build_augmentation("")(TEXT, random.Random(0)) == TEXT


@pytest.mark.parametrize("spec, message", [
    ("nonsense=0.1", "unknown augmentation 'nonsense'; valid: none, synonym"),
    ("swap=1.5", "a probability must be in [0, 1]"),
    ("swap=-0.1", "a probability must be in [0, 1]"),
    ("swap=lots", "not a number"),
])
def test_bad_specs_are_one_line_errors(spec, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")) as e:
        parse_augmentations(spec)
    assert "\n" not in str(e.value)


def test_missing_resource_is_an_error():
    with pytest.raises(ValueError, match="needs synonyms"):
        build_augmentation("eda=0.1")
    assert AugmentationSpec("eda", 0.0).p == 0.0


# --------------------------------------------------------------------------------------------
# WordNet


def test_wordnet_from_a_fake_database(tmp_path):
    pytest.importorskip("nltk")
    from scratchformer.data.augmentation.wordnet import WordNetConfig, load_wordnet

    folder = write_fake_wordnet(tmp_path / "src")
    wn = load_wordnet(WordNetConfig(source=str(folder), cache_dir=str(tmp_path / "cache")))
    assert sorted(wn("film")) == ["movie", "picture"]
    assert wn("good") == ["beneficial"] and wn("unknownword") == []
    # - an archive works too, and EDA reads it
    archive = tmp_path / "wn.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname="wordnet/dict")
    wn = load_wordnet(WordNetConfig(source=str(archive), cache_dir=str(tmp_path / "cache2")))
    out = build_augmentation("synonym=1.0", synonyms=wn)("a good film", random.Random(0))
    assert out in ("a beneficial movie", "a beneficial picture")


def test_wordnet_repairs_a_lost_line_break(tmp_path):
    pytest.importorskip("nltk")
    from scratchformer.data.augmentation.wordnet import WordNetConfig, load_wordnet

    folder = write_fake_wordnet(tmp_path / "src", glue_records=True)
    wn = load_wordnet(WordNetConfig(source=str(folder), cache_dir=str(tmp_path / "cache")))
    assert wn("bad") == ["awful"]  # the record after the glued line break


def test_a_path_that_is_not_wordnet_is_a_one_line_error(tmp_path):
    from scratchformer.data.augmentation.wordnet import WordNetConfig, load_wordnet

    (tmp_path / "notwn").mkdir()
    (tmp_path / "notwn" / "readme.txt").write_text("hello")
    not_tar = tmp_path / "x.tar.gz"
    not_tar.write_text("not an archive")
    for source in (tmp_path / "notwn", not_tar):
        with pytest.raises(UserError, match="is not a WordNet database") as e:
            load_wordnet(WordNetConfig(source=str(source), cache_dir=str(tmp_path / "cache")))
        assert "\n" not in str(e.value)
    with pytest.raises(UserError, match="does not exist"):
        load_wordnet(WordNetConfig(source=str(tmp_path / "missing"), cache_dir=str(tmp_path / "cache")))
