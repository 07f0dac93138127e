"""Your own labelled texts for a classifier: a CSV, TSV or JSON Lines file with a text and a label column.

    reviews.csv                         reviews.jsonl
    text,label                          {"text": "A fine film.", "label": "pos"}
    A fine film.,pos                    {"text": "Dull and long.", "label": "neg"}
    "Dull, and long.",neg               {"text": "It was a film.", "label": "meh"}

Labels are strings (a number is read as its text), any number of them. The classes are the
distinct labels of the training file, sorted, so class id i names classes[i]; give `classes`
to choose the order yourself. A seeded random validation split is carved out of the file (the
same seed gives the same split); `test_source`, a second file with the same columns, is the
test split, read only for a final evaluation.

`load_classification_data(cfg)` reads either this kind of file or IMDb (imdb.py), by the source's suffix.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

from scratchformer.data.imdb import LABELS, IMDb, IMDbConfig, Reviews, carve_validation, load_imdb
from scratchformer.errors import UserError

# file suffix -> how the file is read
FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl"}


@dataclass
class TextDataConfig(IMDbConfig):
    """Where the labelled texts come from: IMDb (see source) or your own .csv / .tsv / .jsonl file."""

    text_column: str = "text"
    """For a .csv/.tsv/.jsonl source: the column (or JSON key) that holds the text."""
    label_column: str = "label"
    """For a .csv/.tsv/.jsonl source: the column (or JSON key) that holds the label (any string)."""
    header: bool = True
    """For a .csv/.tsv source: the first line names the columns. false: the file has no header line and
    the columns are numbered 0, 1, ... (then e.g. --data.text_column 1 --data.label_column 0)."""
    test_source: str | None = None
    """For a .csv/.tsv/.jsonl source: an optional second file with the same columns, the test split
    (read only with --final_test true)."""
    classes: list[str] | None = None
    """Class names in id order; unset, they are the sorted distinct labels of the training file."""
    cache_tokens: bool = True
    """Keep the token ids of each split in cache_dir/tokenized and reuse them on later runs with the
    same texts and tokenizer (tokenize once)."""

    def __post_init__(self):
        super().__post_init__()
        if self.test_source is not None and not is_labelled_file(self.test_source):
            raise ValueError(f"test_source must be a {'/'.join(FORMATS)} file, got {self.test_source!r}")
        if self.classes is not None and (len(self.classes) < 2 or len(set(self.classes)) != len(self.classes)):
            raise ValueError(f"classes must name at least two distinct labels, got {self.classes}")


@dataclass
class LabelledTexts(IMDb):
    """Splits of texts with label ids, and the name of each id."""

    classes: list[str] = field(default_factory=lambda: list(LABELS))


def is_labelled_file(source: str) -> bool:
    return Path(source).suffix.lower() in FORMATS


# --------------------------------------------------------------------------------------------
# reading one file


def read_rows(path: Path, header: bool = True) -> list[dict]:
    """The file's rows as dicts (column -> value; columns numbered "0", "1", ... without a header)."""
    kind = FORMATS[path.suffix.lower()]
    if not path.is_file():
        raise UserError(f"data file {path} does not exist; give the path of a .csv, .tsv or .jsonl file")
    try:
        text = path.read_text(encoding="utf-8-sig")  # (-sig: a spreadsheet's byte-order mark is dropped)
    except UnicodeDecodeError as e:
        raise UserError(f"data file {path} is not valid UTF-8 (byte {e.start}); save it as UTF-8 first") from None
    if not text.strip():
        raise UserError(f"data file {path} is empty; it needs a header line and one row per text")
    if kind == "jsonl":
        rows = []
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise UserError(f"{path} line {n} is not valid JSON ({e.msg}); write one JSON object per line") from None
            if not isinstance(row, dict):
                raise UserError(f"{path} line {n} is not a JSON object; write one {{\"text\": ..., \"label\": ...}} per line")
            rows.append(row)
        return rows
    lines = text.splitlines(keepends=True)  # (keepends: a quoted text may span lines)
    delimiter = "," if kind == "csv" else "\t"
    if header:
        return list(csv.DictReader(lines, delimiter=delimiter))
    return [{str(i): value for i, value in enumerate(row)} for row in csv.reader(lines, delimiter=delimiter) if row]


def read_labelled_file(path: str | Path, text_column: str, label_column: str,
                       header: bool = True) -> tuple[list[str], list[str]]:
    """(texts, labels as strings) from a .csv, .tsv or .jsonl file."""
    path = Path(path).expanduser()
    rows = read_rows(path, header)
    if not rows:
        raise UserError(f"data file {path} has a header but no rows; add one row per text")
    # - every column must be there: name the ones that are, so a typo is easy to see
    found = list(rows[0])
    no_header = " or, for a file without a header line, --data.header false with columns numbered from 0" \
        if header and FORMATS[path.suffix.lower()] != "jsonl" else ""
    for option, column in (("text_column", text_column), ("label_column", label_column)):
        if column not in found:
            shown = ", ".join(repr(str(c)[:40]) for c in found[:10])
            raise UserError(f"{path} has no column {column!r} (columns found: {shown}); "
                            f"name the right one with --data.{option}{no_header}")
    texts, labels = [], []
    for n, row in enumerate(rows, 1):
        text, label = row.get(text_column), row.get(label_column)
        if label is None or str(label).strip() == "":
            raise UserError(f"{path} row {n} has no label in column {label_column!r}; every row needs one")
        texts.append("" if text is None else str(text))
        labels.append(str(label).strip())
    return texts, labels


def to_reviews(texts: list[str], labels: list[str], classes: list[str], path) -> Reviews:
    """Texts with their label ids; a label outside `classes` is a mistake."""
    index = {c: i for i, c in enumerate(classes)}
    unknown = sorted(set(labels) - set(index))
    if unknown:
        raise UserError(f"{path} has labels {unknown[:5]} that are not among the classes {classes}; "
                        "fix the labels or list them all in --data.classes")
    return Reviews(list(texts), [index[lab] for lab in labels], [0] * len(texts))


# --------------------------------------------------------------------------------------------
# the public entry point


def load_labelled_texts(cfg: TextDataConfig, *, final_test: bool = False) -> LabelledTexts:
    """Splits 'train' and 'val' of a labelled file (plus 'test' from test_source with final_test=True)."""
    texts, labels = read_labelled_file(cfg.source, cfg.text_column, cfg.label_column, cfg.header)
    classes = list(cfg.classes) if cfg.classes else sorted(set(labels))
    if len(classes) < 2:
        raise UserError(f"{cfg.source} has only one class ({classes[0]!r}) in column {cfg.label_column!r}; "
                        "a classifier needs texts of at least two labels")
    train, val = carve_validation(to_reviews(texts, labels, classes, cfg.source), cfg.val_fraction, cfg.split_seed)
    splits = {"train": train, "val": val}
    if final_test:
        if cfg.test_source is None:
            raise UserError("--final_test true needs a test file for your own data: give --data.test_source PATH")
        test_texts, test_labels = read_labelled_file(cfg.test_source, cfg.text_column, cfg.label_column, cfg.header)
        splits["test"] = to_reviews(test_texts, test_labels, classes, cfg.test_source)
    notes = []
    missing = [c for c in classes if c not in {classes[i] for i in train.labels}]
    if missing:
        notes.append(f"classes {missing} have no text in the training split; the model cannot learn them")
    return LabelledTexts(splits, notes, classes)


def load_classification_data(cfg: IMDbConfig, *, final_test: bool = False) -> LabelledTexts | IMDb:
    """Your own .csv/.tsv/.jsonl file, or IMDb (download, archive or folder), by the source's suffix."""
    if is_labelled_file(cfg.source):
        return load_labelled_texts(cfg, final_test=final_test)
    imdb = load_imdb(cfg, final_test=final_test)
    return LabelledTexts(imdb.splits, imdb.notes, list(LABELS))
