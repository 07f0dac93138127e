"""A tiny fake WordNet database in the real file format, for tests that must not need the real one.

Synsets (noun and adjective): {film, movie, picture}, {good, beneficial}, {bad, awful}. Each data
line starts at the byte offset it names, as in WordNet's data.* files.
"""

from __future__ import annotations

from pathlib import Path

SYNSETS = {"n": [["film", "movie", "picture"]], "a": [["good", "beneficial"], ["bad", "awful"]]}
POS_FILE = {"n": "noun", "v": "verb", "a": "adj", "r": "adv"}
HEADER = b"  1 This is a fake WordNet database for tests, in the format of WordNet 3.0.\n"


def data_lines(pos: str, offsets: dict) -> bytes:
    """data.POS: a licence line, then one record per synset at its own byte offset."""
    out = HEADER
    for lemmas in SYNSETS.get(pos, []):
        offset = len(out)
        words = " ".join(f"{w} 0" for w in lemmas)
        out += f"{offset:08d} 00 {pos} {len(lemmas):02x} {words} 000 | a test synset  \n".encode()
        for w in lemmas:
            offsets.setdefault(w, []).append(offset)
    return out


def write_fake_wordnet(folder: Path, glue_records: bool = False) -> Path:
    """Write a dict/ folder under `folder` and return it. glue_records: lose the line break between
    the first two records of data.adj (the damage the repair in wordnet.py puts right)."""
    d = folder / "dict"
    d.mkdir(parents=True, exist_ok=True)
    (d / "lexnames").write_text("00\tadj.all\t3\n01\tnoun.Tops\t1\n")
    for pos, name in POS_FILE.items():
        offsets: dict[str, list[int]] = {}
        data = data_lines(pos, offsets)
        if glue_records and pos == "a":
            cut = data.index(b"  \n", len(HEADER)) + 2
            data = data[:cut] + data[cut + 1:]
        (d / f"data.{name}").write_bytes(data)
        index = HEADER.decode() + "".join(
            f"{w} {pos} {len(offs)} 0 {len(offs)} 0 " + " ".join(f"{o:08d}" for o in offs) + "  \n"
            for w, offs in sorted(offsets.items()))
        (d / f"index.{name}").write_text(index)
    return d
