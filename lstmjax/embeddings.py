"""Pretrained word vectors from a GloVe or word2vec text file, for a run's vocabulary.

    found = read_vectors("glove.6B.100d.txt", vocab.words, embed_dim=100)
    found.rows      # int32 [K]: vocabulary ids that the file has a vector for
    found.vectors   # float32 [K, E]: their vectors, row k for id rows[k]
    found.line()    # "embeddings: 8,123 of 9,998 vocabulary words found in glove.6B.100d.txt"

The file (UTF-8 text, one word a line, fields separated by single spaces):

* GloVe: ``word v1 v2 ... vE`` on every line;
* word2vec text format: the same after a first header line ``<count> <dim>`` (two
  integers; a first line of exactly two integer fields is read as that header).

E is the header's ``dim``, else the number of values on the first line; every line must
have E values, and E must equal ``model.embed_dim``. A word is everything before the last
E fields, so the few GloVe 840B tokens that contain a space still read; a line with one
value too many is still refused (its "word" would end in a number). Every line's count of
values is checked; the values themselves are parsed only on the lines a vocabulary word
takes (a value that is not a finite number there is refused), so a 400,000-line file reads
in seconds.

Matching, for the vocabulary's words (ids >= 2; ``<pad>`` and ``<unk>`` keep their
seeded init): the first line whose word equals the vocabulary word, else the first line
whose lower-cased word does (the tokenizer lower-cases, so "Paris" in a cased file fills
"paris"). Words not in the file keep the seeded random init, so a run stays a pure
function of its seed and the file.

The file is read once, when a run initializes; a resumed run restores its parameters
from the checkpoint and never opens it (nor do ``evaluate`` and ``predict``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from typing import Sequence

import numpy as np

from lstmjax.errors import DataError
from lstmjax.tasks.files import check_file
from lstmjax.tasks.text import PAD, UNK

EXPECTED = "a GloVe or word2vec text file (UTF-8, 'word v1 ... vE' per line)"
FIRST_WORD_ID = 2  # 0 = <pad>, 1 = <unk>: never taken from a file


@dataclasses.dataclass(frozen=True)
class Pretrained:
    """What :func:`read_vectors` found.

    Attributes:
      rows: int32 ``[K]`` vocabulary ids that got a vector (ascending).
      vectors: float32 ``[K, E]``: the vector of id ``rows[k]`` in row k.
      words: how many vocabulary words could match (the vocabulary less pad and unk).
      path: the file as given (``~`` expanded).
      sha256: hex digest of the file's bytes (what the run records).
      format: ``"glove"`` or ``"word2vec"`` (a header line).
      dim: E.
    """

    rows: np.ndarray
    vectors: np.ndarray
    words: int
    path: str
    sha256: str
    format: str
    dim: int

    @property
    def found(self) -> int:
        return int(self.rows.shape[0])

    def record(self) -> dict:
        """JSON for the run directory (``embeddings.json``) and ``summary.json``."""
        return {"path": self.path, "sha256": self.sha256, "format": self.format,
                "dim": self.dim, "found": self.found, "vocabulary_words": self.words}

    def line(self) -> str:
        return (f"embeddings: {self.found:,} of {self.words:,} vocabulary words found in "
                f"{self.path}")


def _header(fields: list[str]) -> tuple[int, int] | None:
    """``(count, dim)`` when a first line is a word2vec header (two non-negative ints)."""
    if len(fields) == 2 and all(f.isascii() and f.isdigit() for f in fields):
        return int(fields[0]), int(fields[1])
    return None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def check_path(path: str) -> str:
    """``path`` with ``~`` expanded, or a one-line ``DataError``: no such file, a
    directory, not readable."""
    return check_file(path, "model", "embeddings_path", EXPECTED)


def read_vectors(path: str, words: Sequence[str], embed_dim: int) -> Pretrained:
    """The file's vectors for the vocabulary ``words`` (id i = ``words[i]``).

    Args:
      path: a GloVe or word2vec text file (see the module doc).
      words: the vocabulary, ``words[0] == "<pad>"``, ``words[1] == "<unk>"``.
      embed_dim: the model's ``embed_dim``; the file's vectors must have that size.

    Raises:
      lstmjax.errors.DataError (one line, naming the file and, where it applies, the line):
        no such file, not UTF-8, an empty file, a line with another number of values, a
        value that is not a finite number, vectors of another size than ``embed_dim``.
    """
    if list(words[:2]) != [PAD, UNK]:
        raise ValueError(f"words must start with {[PAD, UNK]}, got {list(words[:2])}")
    resolved = check_path(path)
    wanted = {w: i for i, w in enumerate(words) if i >= FIRST_WORD_ID}
    exact: dict[int, tuple[int, list[str]]] = {}   # id -> (line number, its fields)
    lowered: dict[int, tuple[int, list[str]]] = {}
    digest = hashlib.sha256()
    dim, fmt, where = None, "glove", ""
    with open(resolved, "rb") as f:
        for number, raw in enumerate(f, 1):
            digest.update(raw)
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise DataError(f"{resolved}:{number}: not UTF-8 (byte 0x{raw[e.start]:02x}: "
                                f"{e.reason}); expected {EXPECTED}") from None
            if number == 1:
                line = line.lstrip("\ufeff")  # a UTF-8 BOM
            line = line.rstrip("\r\n").rstrip(" ")
            if not line.strip():
                continue  # a blank line (e.g. the file's last) carries no word
            if dim is None:  # the first line: a header, or the first vector fixes E
                fields = line.split(" ")
                header = _header(fields)
                if header is not None:
                    dim, fmt, where = header[1], "word2vec", "the header's dim"
                    if dim < 1:
                        raise DataError(f"{resolved}:{number}: the word2vec header says dim={dim}; "
                                        "expected '<count> <dim>' with dim >= 1")
                    _check_dim(resolved, dim, embed_dim)
                    continue
                dim, where = len(fields) - 1, f"line {number}"
                if dim < 1:
                    raise DataError(f"{resolved}:{number}: a word without values; expected "
                                    f"{EXPECTED}")
                _check_dim(resolved, dim, embed_dim)
            parts = line.rsplit(" ", dim)
            word = parts[0]
            # too few values, or one too many (then the "word" ends in a number)
            if len(parts) != dim + 1 or (" " in word and _is_number(word.rsplit(" ", 1)[1])):
                count = len(line.split(" ")) - 1
                raise DataError(f"{resolved}:{number}: {count} values; expected {dim} "
                                f"(the vector size set by {where})")
            i = wanted.get(word)
            if i is not None and i not in exact:
                exact[i] = (number, parts)
            else:
                i = wanted.get(word.lower())
                if i is not None and i not in lowered:
                    lowered[i] = (number, parts)
    if dim is None:
        raise DataError(f"{resolved}: is empty; expected {EXPECTED}")
    taken = {**lowered, **exact}  # an exact match wins over a lower-cased one
    rows = np.array(sorted(taken), np.int32)
    vectors = np.empty((len(rows), dim), np.float32)
    for k, i in enumerate(rows):
        number, parts = taken[int(i)]
        vectors[k] = _values(resolved, number, parts[1:])
    return Pretrained(rows, vectors, len(wanted), resolved, digest.hexdigest(), fmt, dim)


def _check_dim(path: str, dim: int, embed_dim: int) -> None:
    if dim != embed_dim:
        raise DataError(f"{path}: its vectors have {dim} values but model.embed_dim={embed_dim}; "
                        f"set --config.model.embed_dim={dim} (or use a file of {embed_dim}-value "
                        "vectors)")


def _values(path: str, number: int, fields: list[str]) -> np.ndarray:
    try:
        out = np.array([float(v) for v in fields], np.float64)
    except ValueError:
        bad = next(v for v in fields if not _is_number(v))
        raise DataError(f"{path}:{number}: value {bad!r} is not a number") from None
    if not np.isfinite(out).all():
        bad = next(v for v in fields if not math.isfinite(float(v)))
        raise DataError(f"{path}:{number}: value {bad!r} is not a finite number")
    return out

