"""The `lm-augmentation` experiment: --quick on fixtures of every text, the scores, and the one-line errors."""

import json

import pytest
import torch

from scratchformer.cli.main import main
from scratchformer.data.augmentation import parse_augmentations
from scratchformer.experiments.harness import with_overrides
from scratchformer.experiments.lm_augmentation import (EXPERIMENT, VARIANTS, ExperimentConfig, bits_per_char,
                                                       derive_against_none, is_character_start)
from scratchformer.models.gpt import GPT, GPTConfig
from ood_fixtures import make_bbc_archive, make_tweets, make_wordnet
from imdb_fixture import make_imdb


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    """Every out-of-distribution text, the second corpus and WordNet, as small fixtures."""
    root = tmp_path_factory.mktemp("sources")
    ptb = root / "ptb.valid.txt"
    ptb.write_text(" the company said it expects N <unk> \n mr. smith declined to comment \n" * 40)
    mix = root / "second.txt"
    mix.write_text("The city council met on Tuesday and voted for the new budget.\n" * 40)
    return ["--ood.ptb", str(ptb), "--ood.imdb", str(make_imdb(root, n_train=3, n_test=6, n_unsup=1)),
            "--ood.tweets", str(make_tweets(root)), "--ood.bbc", str(make_bbc_archive(root)),
            "--mix_corpus", str(mix), "--wordnet.source", str(make_wordnet(root))]


def rows(out):
    return {r["variant"]: r["metrics"] for r in map(json.loads, (out / "rows.jsonl").read_text().splitlines())}


def test_quick_runs_every_augmentation_and_scores_every_text(tmp_path, sources):
    out = tmp_path / "out"
    assert main(["experiment", "lm-augmentation", "--quick", "--seeds", "1", "--out_dir", str(out), *sources]) == 0
    found = rows(out)
    assert set(found) == set(VARIANTS)
    texts = ("val", "history", "ptb", "imdb", "tweets", "bbc")
    for variant, m in found.items():
        # - an untrained byte model reads about 8 bits a byte; a few steps already take some off
        assert all(0 < m[f"bpc_{t}"] < 9 for t in texts), variant
        ood = [m[f"bpc_{t}"] for t in texts[1:]]
        assert m["ood_mean"] == pytest.approx(sum(ood) / len(ood))
        assert m["gap"] == pytest.approx(m["ood_mean"] - m["bpc_val"])
        assert m["ood_gain"] == pytest.approx(found["none"]["ood_mean"] - m["ood_mean"], abs=1e-9)
        assert m["id_cost"] == pytest.approx(m["bpc_val"] - found["none"]["bpc_val"], abs=1e-9)
    assert found["none"]["ood_gain"] == 0 and found["none"]["id_cost"] == 0
    assert len({found[v]["bpc_val"] for v in found}) > 1  # the augmentations changed the training
    table = (out / "summary.md").read_text()
    assert "mean OOD" in table and "(one seed)" in table
    for name in ("bpc_val.png", "ood_mean.png", "id_vs_ood.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"


def test_every_variant_names_known_augmentations_and_fits_every_scale():
    for name, changes in VARIANTS.items():
        parse_augmentations(changes.get("augment", ""))  # raises on an unknown name
        for scale in EXPERIMENT.scales.values():
            with_overrides(ExperimentConfig(), {**scale, **changes})
    assert VARIANTS["none"] == {} and VARIANTS["mix"] == {"mix_prob": 0.25}


def test_bits_per_char_is_log2_256_for_a_model_that_knows_nothing_and_counts_characters_not_bytes():
    model = GPT(GPTConfig(vocab_size=256, d_model=8, n_heads=2, n_layers=1, context_len=16))
    with torch.no_grad():
        model.lm_head.weight.zero_()  # every logit 0: uniform over the 256 bytes (tied: embeddings too)
    ascii_ids = torch.tensor(list(("abcdefgh" * 40).encode()))
    assert bits_per_char(model, ascii_ids, 16, 160) == pytest.approx(8.0, rel=1e-4)
    # - 'é' is two bytes: each character costs two bytes' bits
    two_byte = torch.tensor(list(("é" * 200).encode()))
    assert bits_per_char(model, two_byte, 16, 160) == pytest.approx(16.0, rel=1e-3)
    assert is_character_start(torch.tensor(list("aé€".encode()))).tolist() == [True, True, False, True, False, False]


def test_against_none_is_per_seed_and_none_where_a_seed_has_no_anchor():
    rows_ = [{"variant": v, "seed": s, "metrics": {"ood_mean": o, "bpc_val": i}}
             for v, s, o, i in [("none", 0, 3.0, 2.0), ("eda", 0, 2.9, 2.01), ("none", 1, 3.2, 2.1), ("eda", 2, 1.0, 1.0)]]
    out = {(r["variant"], r["seed"]): r["metrics"] for r in derive_against_none(ExperimentConfig(), rows_)}
    assert out[("eda", 0)]["ood_gain"] == pytest.approx(0.1) and out[("eda", 0)]["id_cost"] == pytest.approx(0.01)
    assert out[("none", 1)]["ood_gain"] == 0
    assert out[("eda", 2)]["ood_gain"] is None and out[("eda", 2)]["id_cost"] is None


def error_of(capsys, *args) -> str:
    assert main(["experiment", "lm-augmentation", "--quick", "--variants", "none", *args]) == 2
    errors = [line.split("error: ", 1)[1] for line in capsys.readouterr().err.splitlines() if "error: " in line]
    assert len(errors) == 1, errors
    return errors[0]


def test_bad_input_is_one_line(tmp_path, sources, capsys):
    out = ["--out_dir", str(tmp_path / "o")]
    assert "unknown augmentation 'synonyms'" in error_of(capsys, "--augment", "synonyms=0.1", *out, *sources)
    assert "[0, 1]" in error_of(capsys, "--augment", "char-noise=1.5", *out, *sources)
    assert "augment_prob is a probability and must be in [0, 1], got -0.5" in error_of(
        capsys, "--augment_prob", "-0.5", *out, *sources)
    assert "mix_prob is a probability and must be in [0, 1], got 2.0" in error_of(capsys, "--mix_prob", "2", *out, *sources)
    missing = str(tmp_path / "nothing.txt")
    assert "--ood.ptb null" in error_of(capsys, *sources, "--ood.ptb", missing, *out)
