"""Byte-level tokenizer: UTF-8 bytes are the tokens, so any text encodes (vocabulary 256)."""

from __future__ import annotations


class ByteTokenizer:
    kind = "byte"
    vocab_size = 256

    @classmethod
    def train(cls, text: str) -> "ByteTokenizer":
        return cls()

    def encode(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))

    def decode(self, ids: list[int]) -> str:
        # - a generated sequence may end mid-character: replace what does not decode
        return bytes(ids).decode("utf-8", errors="replace")

    def to_dict(self) -> dict:
        return {"kind": self.kind}

    @classmethod
    def from_dict(cls, d: dict) -> "ByteTokenizer":
        return cls()
