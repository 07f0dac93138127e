"""The `sentence-vae` experiment through the command line: --quick on tiny fixtures, the rows it
writes, the comparison with the plain LM, and the one-line errors."""

import json

import pytest
import yaml

from scratchformer.cli.main import main
from scratchformer.experiments.sentence_vae import derive_ppl_vs_lm, ExperimentConfig, VARIANTS
from scratchformer.training.checkpoint import load_checkpoint
from scratchformer.training.kl_annealing import KLAnnealingConfig, kl_weight
from sentence_fixture import make_movies, make_ptb


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    root = tmp_path_factory.mktemp("sentences")
    return ["--ptb.source", str(make_ptb(root)), "--movies.source", str(make_movies(root))]


def test_quick_writes_a_row_per_variant_with_the_vae_numbers(tmp_path, sources, capsys):
    out = tmp_path / "out"
    assert main(["experiment", "sentence-vae", "--quick", *sources, "--out_dir", str(out)]) == 0
    rows = {r["variant"]: r["metrics"] for r in map(json.loads, (out / "rows.jsonl").read_text().splitlines())}
    assert set(rows) == {"prefix", "embedding", "both", "lm", "movies"}
    for name in ("prefix", "embedding", "both", "movies"):
        m = rows[name]
        assert m["kl"] > 0 and 0 <= m["active_units"] <= 4 and 0 <= m["bleu"] <= 1
        assert m["nll"] <= m["neg_elbo"] + 1.0  # the k-sample bound is (up to noise) tighter than the ELBO
        assert 0 < m["trained_share"] < 0.1
        assert (out / name / "seed-0" / "samples.md").exists()
    assert rows["lm"]["kl"] is None and rows["lm"]["ppl"] > 1
    assert rows["lm"]["ppl_vs_lm"] == 0.0 and rows["both"]["ppl_vs_lm"] is not None
    assert rows["movies"]["ppl_vs_lm"] is None  # another corpus: no anchor
    assert 0 <= rows["movies"]["probe_acc"] <= 1 and rows["prefix"]["probe_acc"] is None
    assert 0 <= rows["movies"]["probe_pooled_acc"] <= 1 and rows["prefix"]["probe_pooled_acc"] is None
    assert "| label | original |" in (out / "movies" / "seed-0" / "samples.md").read_text()
    assert (out / "kl_schedule.png").exists() and (out / "ppl_vs_lm.png").exists()
    # - the PTB base was pretrained once and shared by the four PTB variants
    assert len(list((out / "base").glob("ptb-*"))) == 1


def test_ppl_vs_lm_compares_each_vae_with_the_lm_of_its_seed():
    rows = [{"variant": v, "seed": s, "metrics": {"ppl": p}}
            for v, s, p in (("lm", 0, 100.0), ("both", 0, 105.0), ("both", 1, 120.0), ("movies", 0, 90.0))]
    got = [r["metrics"]["ppl_vs_lm"] for r in derive_ppl_vs_lm(ExperimentConfig(), rows)]
    assert got[0] == 0.0 and got[1] == pytest.approx(0.05) and got[2] is None and got[3] is None
    # - a named variant on PTB (fewer free bits) has the same anchor
    fewer = derive_ppl_vs_lm(ExperimentConfig(), rows[:1] + [{"variant": "prefix-fb0.1", "seed": 0,
                                                              "metrics": {"ppl": 102.0}}])
    assert fewer[1]["metrics"]["ppl_vs_lm"] == pytest.approx(0.02)


def test_fewer_free_bits_and_autoencoder_phase_variants_train_with_their_settings(tmp_path, sources):
    out = tmp_path / "out"
    variants = "prefix-fb0.1,prefix-ae-fb0.25,prefix-autoencoder,both-autoencoder,lm"
    assert main(["experiment", "sentence-vae", "--quick", *sources, "--variants", variants, "--out_dir", str(out)]) == 0
    recorded = yaml.safe_load((out / "prefix-fb0.1" / "seed-0" / "config.yaml").read_text())  # the run's config
    assert recorded["vae"]["free_bits"] == 0.1 and recorded["vae"]["inject"] == "prefix"
    assert load_checkpoint(out / "prefix-fb0.1" / "seed-0")["model_config"]["free_bits"] == 0.1  # what it trained
    rows = {r["variant"]: r["metrics"] for r in map(json.loads, (out / "rows.jsonl").read_text().splitlines())}
    assert rows["prefix-fb0.1"]["ppl_vs_lm"] is not None and rows["prefix-ae-fb0.25"]["ppl_vs_lm"] is not None
    # - the beta = 0 phase: 150 of the default's 500 steps; --quick's 4 steps keep it to the first
    ae = yaml.safe_load((out / "prefix-ae-fb0.25" / "seed-0" / "config.yaml").read_text())
    assert ae["annealing"]["start"] == 1 and ae["vae"]["free_bits"] == 0.25
    assert VARIANTS["prefix-ae-fb0.25"]["annealing.start"] == 150 < ExperimentConfig().train.max_steps
    # - the plain autoencoders: beta is 0 at every step of their runs, and their KL is still measured
    for variant, inject in (("prefix-autoencoder", "prefix"), ("both-autoencoder", "both")):
        recorded = yaml.safe_load((out / variant / "seed-0" / "config.yaml").read_text())
        plain = KLAnnealingConfig(**recorded["annealing"])
        assert recorded["vae"]["inject"] == inject and all(kl_weight(plain, s, 500) == 0.0 for s in range(500))
        assert rows[variant]["kl"] > 0


@pytest.mark.parametrize("args, message", [
    (["--vae.latent_size", "0"], "latent size must be at least 1"),
    (["--annealing.start", "20", "--annealing.end", "10"], "ends (step 10) before it starts (step 20)"),
    (["--vae.prefix_len", "48", "--variants", "prefix"], "a prefix of 48 leaves no room"),
])
def test_bad_settings_are_one_line_errors(tmp_path, sources, capsys, args, message):
    code = main(["experiment", "sentence-vae", "--quick", *sources, "--out_dir", str(tmp_path / "out"), *args])
    err = capsys.readouterr().err
    assert code == 2 and message in err
    assert "Traceback" not in err
