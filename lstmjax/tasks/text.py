"""A small word tokenizer and a JSON-serialisable vocabulary (imdb, own text files).

Tokenisation: lowercase, drop HTML line breaks (IMDB has ``<br />``), split into words
(runs of Unicode letters/digits, with inner apostrophes: ``"don't"``, ``"café"``), single
CJK characters (``"我爱中国"`` -> 4 tokens) and single punctuation marks or symbols.

Vocabulary rules (``Vocabulary.build``), a pure function of the training text:

* id 0 = ``<pad>``, id 1 = ``<unk>``; every word not in the vocabulary encodes to 1;
* only words seen at least ``min_count`` times (>= 1) are kept;
* words are ranked by decreasing count, ties broken by the word's code-point order
  (``sorted``), so equal input gives an equal vocabulary on every machine;
* the vocabulary is truncated to ``max_size`` entries *including* pad and unk
  (``max_size - 2`` words);
* ``encode`` keeps the first ``max_length`` tokens and never returns an empty sequence
  (an empty or all-punctuation-free text encodes to ``[1]``).
"""

from __future__ import annotations

import collections
import json
import os
import re
from typing import Iterable, Mapping

import numpy as np

PAD, UNK = "<pad>", "<unk>"
_BR = re.compile(r"<br\s*/?>", re.IGNORECASE)
# CJK ideographs, kana and hangul syllables are one token each (no spaces between words);
# other letters/digits form words (with inner apostrophes); anything else but spaces is a
# one-character token. For ASCII text this is exactly the former [a-z0-9]-based rule.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_WORD = f"[^\\W_{_CJK}]+"  # word characters except "_" and CJK
_TOKEN = re.compile(f"{_WORD}(?:'{_WORD})*|[{_CJK}]|[^\\w\\s]|_")


def tokenize(text: str | bytes) -> list[str]:
    """Lowercased word, CJK-character and punctuation tokens (see module doc).

    >>> tokenize("Don't stop<br />café, 我爱中国!")
    ["don't", 'stop', 'café', ',', '我', '爱', '中', '国', '!']
    """
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
        counts = collections.Counter()
        for text in texts:
            counts.update(tokenize(text))
        return cls.from_counts(counts, max_size=max_size, min_count=min_count)

    @classmethod
    def from_counts(cls, counts: Mapping[str, int], *, max_size: int = 20_000,
                    min_count: int = 1) -> "Vocabulary":
        """Vocabulary from word counts, by the module's rules (min_count, ties, truncation).

        Raises ValueError naming ``vocab_size`` (``max_size < 3``) or ``min_count`` (< 1).
        """
        if isinstance(max_size, bool) or not isinstance(max_size, (int, np.integer)) or max_size < 3:
            raise ValueError(f"vocab_size={max_size!r}; must be an integer >= 3 (pad, unk and one word)")
        if isinstance(min_count, bool) or not isinstance(min_count, (int, np.integer)) or min_count < 1:
            raise ValueError(f"min_count={min_count!r}; must be an integer >= 1")
        ranked = sorted(w for w, c in counts.items() if c >= min_count)  # ties: code-point order
        ranked.sort(key=counts.__getitem__, reverse=True)  # stable: keeps that order among equals
        return cls([PAD, UNK] + ranked[: int(max_size) - 2])

    def encode(self, text: str | bytes, max_length: int | None = None) -> np.ndarray:
        """int32 ``[T]`` ids (unknown words -> 1), truncated to max_length; never empty."""
        return self.encode_tokens(tokenize(text), max_length)

    def encode_tokens(self, tokens: list[str], max_length: int | None = None) -> np.ndarray:
        """``encode`` for already tokenised text."""
        if max_length is not None and (isinstance(max_length, bool) or int(max_length) < 1):
            raise ValueError(f"max_length={max_length!r}; must be >= 1 (or None for no limit)")
        get = self._ids.get
        ids = [get(w, 1) for w in tokens[:max_length]] or [1]
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
