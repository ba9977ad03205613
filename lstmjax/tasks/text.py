"""A small word tokenizer and a JSON-serialisable vocabulary (imdb, own text files).

Tokenisation: lowercase, drop HTML line breaks (IMDB has ``<br />``), split into words
(letters/digits/apostrophes) and single punctuation marks. Ids: 0 = ``<pad>``,
1 = ``<unk>``, then words by decreasing train-split frequency (ties alphabetical, so the
vocabulary is a pure function of the training text).
"""

from __future__ import annotations

import collections
import json
import os
import re
from typing import Iterable

import numpy as np

PAD, UNK = "<pad>", "<unk>"
_BR = re.compile(r"<br\s*/?>", re.IGNORECASE)
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z0-9]+)*|[^\sa-z0-9]")


def tokenize(text: str | bytes) -> list[str]:
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    return _TOKEN.findall(_BR.sub(" ", text).lower())


class Vocabulary:
    """Word <-> id map. ``encode(text) -> int32 [T]``; ``save``/``load`` as JSON."""

    def __init__(self, words: list[str]):
        if words[:2] != [PAD, UNK]:
            raise ValueError(f"vocabulary must start with {[PAD, UNK]}, got {words[:2]}")
        self.words = list(words)
        self._ids = {w: i for i, w in enumerate(self.words)}

    def __len__(self) -> int:
        return len(self.words)

    def __eq__(self, other) -> bool:
        return isinstance(other, Vocabulary) and self.words == other.words

    @classmethod
    def build(cls, texts: Iterable[str | bytes], *, max_size: int = 20_000, min_count: int = 1) -> "Vocabulary":
        """The ``max_size`` (including pad and unk) most frequent words seen >= min_count times."""
        if max_size < 3:
            raise ValueError(f"vocab_size={max_size!r}; must be >= 3 (pad, unk and one word)")
        counts = collections.Counter()
        for text in texts:
            counts.update(tokenize(text))
        ranked = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
        return cls([PAD, UNK] + ranked[: max_size - 2])

    def encode(self, text: str | bytes, max_length: int | None = None) -> np.ndarray:
        """int32 ``[T]`` ids (unknown words -> 1), truncated to max_length; never empty."""
        ids = [self._ids.get(w, 1) for w in tokenize(text)][:max_length] or [1]
        return np.array(ids, np.int32)

    def decode(self, ids: Iterable[int]) -> str:
        return " ".join(self.words[int(i)] for i in ids if int(i))

    def save(self, path: str) -> None:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"format": "lstmjax.vocabulary/1", "words": self.words}, f, ensure_ascii=False)

    @classmethod
    def load(cls, path: str) -> "Vocabulary":
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
            return cls(data["words"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ValueError(f"{path}: not a vocabulary JSON file ({type(e).__name__}: {e})") from e
