"""Tokenize once: the token ids of a list of texts, kept on disk and read back on later runs.

Encoding IMDb's 25,000 training reviews takes about 15 s in Python, on every run. Here the ids of
a split are written once to `CACHE/tokenized/KEY.npz` (all ids in one array, plus where each text
starts) and read back in well under a second. The key is a hash of

  - the texts themselves (so another data file, split or seed is another entry),
  - the tokenizer's saved form (`to_dict`: its vocabulary or merges),
  - the source code of the tokenizer's module (an edited encoder never reads stale ids),

so a cached entry is used only when encoding again would give exactly the same ids.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
from pathlib import Path

import numpy as np

VERSION = 1  # bump when the file layout below changes


def cache_key(texts: list[str], tokenizer) -> str:
    digest = hashlib.sha256(f"token-cache v{VERSION}\n".encode())
    digest.update(json.dumps(tokenizer.to_dict(), sort_keys=True).encode())
    digest.update(Path(inspect.getsourcefile(type(tokenizer))).read_bytes())
    for text in texts:
        encoded = text.encode("utf-8", errors="surrogatepass")
        digest.update(len(encoded).to_bytes(8, "little"))  # (lengths too: ["ab", "c"] is not ["a", "bc"])
        digest.update(encoded)
    return digest.hexdigest()[:24]


def save_ids(path: Path, ids: list[list[int]]) -> None:
    """All sequences in one flat array, with their start offsets; written atomically."""
    lengths = np.fromiter((len(s) for s in ids), dtype=np.int64, count=len(ids))
    flat = np.fromiter((i for s in ids for i in s), dtype=np.int32, count=int(lengths.sum()))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.part.npz")  # (runs in parallel never share one)
    np.savez(tmp, ids=flat, lengths=lengths)
    tmp.replace(path)


def load_ids(path: Path) -> list[list[int]]:
    with np.load(path) as f:
        flat, lengths = f["ids"], f["lengths"]
    return [part.tolist() for part in np.split(flat, np.cumsum(lengths)[:-1])] if len(lengths) else []


def encode_cached(tokenizer, texts: list[str], cache_dir: str | Path | None) -> tuple[list[list[int]], bool]:
    """(the ids of each text, whether they came from the cache). cache_dir None: encode, keep nothing."""
    if cache_dir is None:
        return [tokenizer.encode(t) for t in texts], False
    path = Path(cache_dir).expanduser() / "tokenized" / f"{cache_key(texts, tokenizer)}.npz"
    if path.is_file():
        try:
            return load_ids(path), True
        except (OSError, ValueError, KeyError):
            pass  # an unreadable entry: encode again and replace it
    ids = [tokenizer.encode(t) for t in texts]
    try:
        save_ids(path, ids)
    except OSError:
        pass  # a read-only cache folder: the run goes on without one
    return ids, False


def learn_tokenizer_cached(learn, settings: dict, texts: list[str], cache_dir: str | Path | None):
    """(tokenizer, whether it came from the cache): `learn()` trains one on `texts` with `settings`
    (a dict naming the kind and its options); its saved form is kept, keyed on both."""
    from scratchformer.data.tokenizers import TOKENIZERS, tokenizer_from_dict

    if cache_dir is None:
        return learn(), False
    digest = hashlib.sha256(f"tokenizer-cache v{VERSION}\n{json.dumps(settings, sort_keys=True)}\n".encode())
    kind = settings.get("kind")
    if kind in TOKENIZERS:  # the learning code is part of the key
        digest.update(Path(inspect.getsourcefile(TOKENIZERS[kind])).read_bytes())
    for text in texts:
        encoded = text.encode("utf-8", errors="surrogatepass")
        digest.update(len(encoded).to_bytes(8, "little"))
        digest.update(encoded)
    path = Path(cache_dir).expanduser() / "tokenizers" / f"{digest.hexdigest()[:24]}.json"
    if path.is_file():
        try:
            return tokenizer_from_dict(json.loads(path.read_text())), True
        except (OSError, ValueError, KeyError):
            pass  # an unreadable entry: learn again and replace it
    tokenizer = learn()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.part")
        tmp.write_text(json.dumps(tokenizer.to_dict()))
        tmp.replace(path)
    except OSError:
        pass
    return tokenizer, False
