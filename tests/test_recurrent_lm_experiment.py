"""The `recurrent-lm` experiment: its --quick form through the command line, one base shared by every
variant, recall at chance without memory, PTB from a folder or a checked download, and the one-line errors."""

import json
import math
import re
import threading
import time

import pytest
import torch

from scratchformer.cli.main import main
from scratchformer.data.ptb import SPLITS, PTBConfig
from scratchformer.data.recall import RecallMix, RecallVocab
from scratchformer.errors import UserError
from scratchformer.experiments.recurrent_lm import EXPERIMENT, derive_changes, paired_difference
from scratchformer.models.gpt import GPTConfig
from scratchformer.tasks.recurrent_lm import (FIRST, BaseConfig, RecallConfig, SegmentLMConfig, base_model, load_text,
                                              measure, recall_sequences)
from scratchformer.training.trainer import TrainConfig

TEXT = "the cat sat on the mat and the dog ate the hat .\n" * 300


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "text.txt"
    path.write_text(TEXT)
    return str(path)


def one_line_error(code, err, *words) -> bool:
    # - (the sweep's progress bar shares stderr: its redraws are left out)
    pieces = [p for ln in err.splitlines() for p in re.split(r"\r|(?=error: )", ln)]
    lines = [p for p in pieces if p.strip() and not p.strip().startswith("recurrent-lm:")]
    return (code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err
            and all(w in lines[0] for w in words))


def test_quick_runs_every_variant_on_one_shared_base(tmp_path, corpus, capsys):
    out = tmp_path / "quick"
    assert main(["experiment", "recurrent-lm", "--quick", "--seeds", "1", "--corpus", corpus, "--out_dir", str(out)]) == 0
    rows = {r["variant"]: r["metrics"] for r in map(json.loads, (out / "rows.jsonl").read_text().splitlines())}
    assert set(rows) == set(EXPERIMENT.quick_variants)
    # - one base for the seed, pretrained once: every variant reads the first segment with the same weights
    assert len(list(out.glob("base-*"))) == 1
    untrained = [v for v in rows if v in ("none", "window", "xl") or v.startswith("trick-")]
    assert len({rows[v]["first_segment_loss"] for v in untrained}) == 1
    for variant, m in rows.items():
        assert math.isfinite(m["ppl"]) and math.isfinite(m["ppl_first"]) and 0 <= m["recall"] <= 1
        assert m["ms_per_token"] > 0
        trains = variant == "rmt" or variant.startswith(("linear-", "adapter-"))
        assert (m["trained_params"] > 0) == trains, variant
    assert rows["none"]["first_vs_none"] == 0.0 and rows["rmt"]["ppl_vs_rmt"] == 0.0
    assert rows["none"]["first_delta"] == 0.0 and rows["none"]["first_delta_ci95"] == 0.0  # paired with itself
    assert all(math.isfinite(m["first_delta_ci95"]) for m in rows.values())  # 2 streams: an interval each
    S = json.loads((out / "none" / "seed-0" / "per_position.json").read_text())
    assert S["segment_len"] == 8 and len(S["loss"]) == 8
    assert (out / "ppl_by_position.png").exists() and (out / "recall.png").exists()


def test_a_moved_sweep_folder_keeps_its_paired_intervals(tmp_path, corpus):
    # - the paired interval reads each run's per-stream losses from its folder: after a move, from the new one
    args = ["experiment", "recurrent-lm", "--quick", "--seeds", "1", "--corpus", corpus, "--variants", "none,xl"]
    assert main(args + ["--out_dir", str(tmp_path / "first")]) == 0
    (tmp_path / "first").rename(tmp_path / "moved")
    assert main(args + ["--out_dir", str(tmp_path / "moved")]) == 0  # every row finished: only the tables again
    rows = {r["variant"]: r for r in map(json.loads, (tmp_path / "moved" / "rows.jsonl").read_text().splitlines())}
    assert rows["xl"]["run_dir"] == str(tmp_path / "moved" / "xl" / "seed-0")
    assert rows["xl"]["metrics"]["first_delta_ci95"] is not None


def test_changes_are_measured_against_the_same_seed():
    rows = [{"variant": v, "seed": s, "metrics": {"ppl_first": f, "ppl": p}}
            for v, s, f, p in (("none", 0, 10.0, 8.0), ("rmt", 0, 9.0, 6.0), ("xl", 0, 9.5, 6.3), ("xl", 1, 9.0, 6.0))]
    got = {(r["variant"], r["seed"]): r["metrics"] for r in derive_changes(None, rows)}
    assert got[("xl", 0)]["first_vs_none"] == pytest.approx(-0.05) and got[("xl", 0)]["ppl_vs_rmt"] == pytest.approx(0.05)
    assert got[("xl", 1)]["first_vs_none"] is None  # no `none` row of seed 1


def test_paired_difference_over_streams():
    mean, half = paired_difference([1.0, 2.0, 3.0], [0.5, 1.5, 2.5])
    assert mean == pytest.approx(0.5) and half == pytest.approx(0.0)  # the same gain on every stream
    mean, half = paired_difference([1.0, 2.0], [0.0, 2.0])  # differences 1, 0: sd 0.707, t(1) = 12.71
    assert mean == pytest.approx(0.5) and half == pytest.approx(12.706 * 0.7071 / math.sqrt(2), rel=1e-3)


def tiny(corpus, **changes) -> SegmentLMConfig:
    train = TrainConfig(max_steps=30, batch_size=8, lr=3e-3, warmup_steps=3, eval_interval=0, eval_batches=1,
                        stats_interval=0, log_interval=100, progress=False, device="cpu")
    base = BaseConfig(model=GPTConfig(d_model=16, n_heads=2, n_layers=1, context_len=24, position="rope"), train=train)
    return SegmentLMConfig(corpus=corpus, base=base, segment_len=8, recall=RecallConfig(values=4, examples=600),
                           eval_streams=2, eval_segments=3, **changes)


def test_recall_is_at_chance_without_memory(tmp_path, corpus):
    cfg = tiny(corpus)
    scores, _ = measure(cfg, base_model(cfg, 0, tmp_path), seed=0)
    # - 600 answers that nothing seen predicts: 25% expected, 4 standard deviations either side
    sd = math.sqrt(0.25 * 0.75 / 600)
    assert abs(scores["recall"] - 0.25) < 4 * sd


def test_runs_side_by_side_pretrain_their_shared_base_once(tmp_path, corpus, monkeypatch):
    # - two variants of one seed at once (--jobs 2): the second waits for the first's base, not training its own
    from scratchformer.tasks import recurrent_lm as task

    fits, fit = [], task.Trainer.fit

    def slow_fit(trainer):
        fits.append(trainer.run_dir)
        time.sleep(0.5)  # the other run starts while this one trains
        return fit(trainer)

    monkeypatch.setattr(task.Trainer, "fit", slow_fit)
    cfg = tiny(corpus)
    got = [None, None]

    def build(i):
        got[i] = base_model(cfg, 0, tmp_path).model.state_dict()

    runs = [threading.Thread(target=build, args=(i,)) for i in range(2)]
    for r in runs:
        r.start()
    for r in runs:
        r.join()
    assert len(fits) == 1 and len(list(tmp_path.glob("base-*"))) == 1
    assert all(torch.equal(got[0][k], got[1][k]) for k in got[0])


def test_recall_puts_the_fact_in_the_previous_segment_and_the_question_early():
    vocab = RecallVocab(base=10, n_values=3)
    tokens = torch.randint(10, (5000,))
    S, n = 40, 3
    window = recall_sequences(tokens, vocab, 1.0, 64, n, S, torch.Generator().manual_seed(0))  # (64, 121)
    for row in window:
        marks = (row == vocab.marker).nonzero().flatten().tolist()
        assert len(marks) == 2 * (n - 1)  # a fact and its question at each boundary
        # - a question sits in the first FIRST tokens of segments 2.., a fact in segment 1 or after the question
        asks = [p for p in marks if p >= S and p % S < FIRST]
        facts = sorted(set(marks) - set(asks))
        for fact, ask in zip(facts, asks):
            assert fact // S + 1 == ask // S  # the fact sits in the segment before its question
            assert row[fact + 1] == row[ask + 1] and row[fact + 1] in vocab.values


class RandomWindows:
    """LMData's batch(): random windows of ids below 10."""
    tokens, chars_per_token = {}, {}

    def __init__(self, T):
        self.T = T

    def batch(self, split, batch_size, generator):
        window = torch.randint(10, (batch_size, self.T + 1), generator=generator)
        return window[:, :-1], window[:, 1:]


@pytest.mark.parametrize("T", [128, 16, 6])
def test_recall_mix_writes_one_fact_then_its_questions(T):
    vocab = RecallVocab(base=10, n_values=5)
    x, y = RecallMix(RandomWindows(T), vocab, share=0.5, questions=4).batch("train", 400, torch.Generator().manual_seed(0))
    assert torch.equal(x[:, 1:], y[:, :-1])  # still next-token pairs
    window = torch.cat([x, y[:, -1:]], dim=1)
    carrying = 0
    for row in window:
        marks = (row == vocab.marker).nonzero().flatten().tolist()
        if not marks:
            continue
        carrying += 1
        # - a fact in the first half and as many questions as fit (4 where there is room), each followed
        #   by the fact's value: every question is answerable from the fact
        assert marks[0] < len(row) // 2 and len(marks) == 1 + min(4, (len(row) - len(row) // 2 - 2) // 2)
        assert all(b - a >= 2 for a, b in zip(marks, marks[1:])) and marks[-1] + 1 < len(row)
        assert len({row[p + 1].item() for p in marks}) == 1 and row[marks[0] + 1] in vocab.values
    assert 150 < carrying < 250  # about half the windows


# --------------------------------------------------------------------------------------------
# PTB: the raw text of a local folder (data/ptb finds or downloads the files)


def test_ptb_text_comes_from_a_folder(tmp_path):
    for split, name in SPLITS.items():
        (tmp_path / name).write_text(f"{split} text <unk> N\n")
    text = load_text(SegmentLMConfig(ptb=PTBConfig(source=str(tmp_path))))
    assert text == {"train": "train text <unk> N\n", "val": "val text <unk> N\n", "test": "test text <unk> N\n"}
    (tmp_path / "ptb.test.txt").unlink()
    with pytest.raises(UserError, match="lacks ptb.test.txt"):
        load_text(SegmentLMConfig(ptb=PTBConfig(source=str(tmp_path))))


# --------------------------------------------------------------------------------------------
# bad input: one line, before any training


@pytest.mark.parametrize("argv, words", [
    (["--segment_len", "30"], ("segment of 30 tokens", "context of 24")),
    (["--variants", "trick-input-k2", "--segment_len", "23"], ("prefix of 2 positions", "exceed")),
    (["--variants", "rmt", "--memory.lora_targets", "[attn.c_attn]"], ("no linear layer named 'attn.c_attn'",)),
])
def test_what_cannot_fit_is_one_line(tmp_path, corpus, capsys, argv, words):
    out = tmp_path / "bad"
    code = main(["experiment", "recurrent-lm", "--quick", "--corpus", corpus, "--out_dir", str(out), *argv])
    _, err = capsys.readouterr()
    assert one_line_error(code, err, *words), err
    assert not list(out.glob("base-*"))  # nothing trained
