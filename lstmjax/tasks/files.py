"""The user's own data: labelled text (CSV/TSV/JSONL) and numeric sequences (.npz).

Both loaders check the files where they enter and raise ``DataError`` (a ``ValueError``)
with one line naming the file and the line (text) or key (npz) to fix; bad *config*
values (``max_length=0``, ``holdout='abc'``, an unknown ``encoding``) raise a plain
``ValueError`` naming the field.

Splits (``split_plan``). Every task serves ``"train"``, ``"validation"`` and ``"test"``:

* the train file is ``path`` (or ``path.format(split="train")`` when ``path`` holds
  ``{split}``);
* validation and test each come from their own file when there is one:
  ``validation_path`` / ``test_path``, else the ``{split}`` pattern's file if it exists;
* a split without a file is *held out* of the train file: ``holdout`` is the share of the
  train file's N rows that train does not serve, ``k = round(N * holdout)``. A
  ``seed``-derived permutation of the rows gives its last ``k`` rows to the held-out
  split(s): all ``k`` to the one held out, or ``k // 2`` to test and ``k - k // 2`` to
  validation when both are (default ``holdout=0.2``: 80/10/10 from one file, 80/20
  train/validation beside a test file). Held-out splits are disjoint from each other and
  from train, and the same (file, holdout, seed) always gives the same rows.

Labels and the vocabulary are fixed by the train file: the vocabulary by the rows train
serves, the label set by the whole train file (so a rare class that lands only in a
held-out split is still a class) unless ``labels`` lists them. The ``TaskSpec`` is the
same for every split.

``target`` (text only): ``"label"`` (default) classifies by the label column;
``"next_token"`` / ``"previous_token"`` make a language model on the text column alone
(:class:`NextTokenSource`; no label column needed), whose runs can start a classifier
(``model.init_from``, :mod:`lstmjax.transfer`).

Example::

    spec, train = make_task({"name": "text_file", "path": "tweets.csv",
                             "test_path": "tweets_test.csv", "encoding": "latin-1"}, "train")
    # validation: 10% of tweets.csv held out (disjoint from train); test: tweets_test.csv
"""

from __future__ import annotations

import codecs
import collections
import contextlib
import csv
import functools
import gc
import hashlib
import io
import itertools
import json
import math
import os
import re
import zipfile
import zlib
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from lstmjax.tasks.spec import SPLITS, DataError, TaskSpec
from lstmjax.tasks.text import UNK, Vocabulary, tokenize

TEXT_FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".json": "jsonl"}
TEXT_DEFAULTS = {"path": None, "validation_path": None, "test_path": None, "text_column": "text",
                 "label_column": "label", "labels": None, "format": None, "delimiter": None,
                 "encoding": "utf-8",
                 "vocab_size": 20_000, "min_count": 1, "max_length": 500, "vocab_path": None,
                 "holdout": 0.2, "seed": 0, "target": "label"}
# what a text_file example's y is: its label (a classifier), or the next / previous token
# at every step (a language model, whose weights can start a classifier: model.init_from)
TEXT_TARGETS = ("label", "next_token", "previous_token")
NPZ_DEFAULTS = {"path": None, "validation_path": None, "test_path": None, "target": "auto",
                "num_classes": None, "holdout": 0.2, "seed": 0}
NPZ_TARGETS = ("auto", "classify", "regress")
MAX_CLASSES = 100_000  # class ids must be 0..K-1 with K <= MAX_CLASSES (no silent remapping)
NPZ_EXPECTED = "an .npz archive (np.savez(path, x=..., y=..., lengths=...)) with keys 'x', 'y' and optional 'lengths'"


# ----------------------------------------------------------------------------- splits

class SplitPlan(NamedTuple):
    """Where each split's examples come from.

    ``files[split]`` is the file a split reads; ``held_out`` lists the splits cut out of the
    train file (their ``files`` entry is the train file).
    """

    files: dict[str, str]
    held_out: tuple[str, ...]


def _int_field(kind: str, fields: dict, name: str, minimum: int) -> int:
    value = fields[name]
    if isinstance(value, bool) or not isinstance(value, (int, np.integer, float)) \
            or not math.isfinite(value) or value != int(value) or int(value) < minimum:
        raise ValueError(f"{kind}: {name}={value!r}; must be an integer >= {minimum}")
    return int(value)


def _holdout(kind: str, fields: dict) -> float:
    value = fields["holdout"]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) < 1.0:
        raise ValueError(f"{kind}: holdout={value!r}; must be a fraction in [0, 1) "
                         "(the share of the train file held out for the splits without their own file)")
    return float(value)


def check_file(path: str, kind: str, field: str, expected: str) -> str:
    """``path`` expanded, or ``DataError`` saying it is missing / a directory / unreadable."""
    resolved = os.path.expanduser(str(path))
    if not os.path.exists(resolved):
        raise DataError(f"{resolved}: no such file ({kind} field {field}={path!r}); expected {expected}")
    if os.path.isdir(resolved):
        raise DataError(f"{resolved}: is a directory ({kind} field {field}={path!r}); expected {expected}")
    if not os.access(resolved, os.R_OK):
        raise DataError(f"{resolved}: not readable (permission denied); expected {expected}")
    return resolved


def split_plan(fields: dict, kind: str, expected: str) -> SplitPlan:
    """Resolve ``path`` / ``validation_path`` / ``test_path`` (see module doc); checks files exist."""
    path = fields.get("path")
    if not path:
        raise ValueError(f"{kind}: field 'path' is required (a file, or a pattern with '{{split}}')")
    per_split = "{split}" in str(path)
    fmt = (lambda s: str(path).replace("{split}", s)) if per_split else (lambda s: str(path))
    train = check_file(fmt("train"), kind, "path", expected)
    files, held = {"train": train}, []
    for split in ("validation", "test"):
        explicit = fields.get(f"{split}_path")
        if explicit:
            files[split] = check_file(explicit, kind, f"{split}_path", expected)
        elif per_split and os.path.exists(os.path.expanduser(fmt(split))):
            files[split] = check_file(fmt(split), kind, "path", expected)
        else:
            files[split], held = train, held + [split]
    return SplitPlan(files, tuple(held))


def holdout_indices(n: int, holdout: float, seed: int, held_out: tuple[str, ...] = ("validation",)
                    ) -> dict[str, np.ndarray]:
    """Sorted row indices per split for a file of ``n`` rows (see the module doc's rule).

    Returns ``{"train": ..., **{s: ... for s in held_out}}``: disjoint, together all n rows.
    """
    order = np.random.default_rng([int(seed), int(n)]).permutation(n)
    k = int(round(n * float(holdout))) if held_out else 0
    sizes = {"test": k // 2, "validation": k - k // 2} if len(held_out) == 2 else {s: k for s in held_out}
    out, end = {}, n
    for split in ("test", "validation"):
        if split in held_out:
            out[split] = np.sort(order[end - sizes[split]: end])
            end -= sizes[split]
    out["train"] = np.sort(order[:end])
    return out


def _rows_for(kind: str, fields: dict, plan: SplitPlan, split: str, n: int, path: str) -> np.ndarray | None:
    """Indices of the rows of ``path`` (n rows) that ``split`` serves; None = all rows."""
    if split != "train" and split not in plan.held_out:
        return None
    if not plan.held_out:
        return None
    holdout = _holdout(kind, fields)
    idx = holdout_indices(n, holdout, int(fields["seed"]), plan.held_out)[split]
    if len(idx) == 0:
        why = (f"there is no {split} file ({split}_path) and its share of holdout={holdout!r} of {n} rows "
               "rounds to 0" if split != "train" else f"holdout={holdout!r} of {n} rows leaves none")
        raise DataError(f"{path}: split {split!r} is empty: {why}")
    return idx


def _file_key(path: str) -> tuple:
    st = os.stat(path)
    return os.path.abspath(path), st.st_mtime_ns, st.st_size


# ----------------------------------------------------------------------------- text

_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def normalize_label(value: Any) -> str:
    """One canonical string per label, for CSV and JSON alike.

    Whitespace is stripped; numbers that are integers are written as integers (JSON ``1``,
    ``1.0``, and the strings ``"1"``, ``" 1"``, ``"1.0"`` are all ``"1"``); booleans are
    ``"true"``/``"false"``; other strings are kept as they are (case-sensitive).
    Raises ValueError for null, lists, objects and empty labels (callers add the line).
    """
    if value is None:
        raise ValueError("label is null")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(value):
            raise ValueError(f"label {value!r} is not a finite number")
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    if not isinstance(value, str):
        raise ValueError(f"label has type {type(value).__name__}; expected a string or a number")
    s = value.strip()
    if not s:
        raise ValueError("label is empty")
    if _INT.fullmatch(s):
        return str(int(s))
    if _FLOAT.fullmatch(s):
        f = float(s)
        if math.isfinite(f) and f.is_integer():
            return str(int(f))
    return s


class TextRows(NamedTuple):
    """Parsed rows of a text file: line numbers, tokens and normalised labels."""

    lines: np.ndarray        # int64 [N], the (last) line each record ends on
    tokens: list[list[str]]  # tokenize(text) per row
    labels: list[str]        # normalize_label(label) per row


def _encoding(encoding: Any) -> str:
    """Python codec name; 'utf-8' reads as 'utf-8-sig' (a UTF-8 BOM is skipped)."""
    try:
        name = codecs.lookup(str(encoding)).name
    except LookupError:
        raise ValueError(f"text_file: encoding={encoding!r} is not a known text encoding; "
                         "e.g. 'utf-8', 'latin-1', 'cp1252', 'utf-16'") from None
    return "utf-8-sig" if name == "utf-8" else name


# a file that starts with one of these BOMs says its own encoding (e.g. Excel's "Unicode
# text" export is UTF-16 with a BOM); UTF-32 first: its LE BOM starts with UTF-16's
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def _decode(path: str, raw: bytes, encoding: str) -> str:
    """``raw`` decoded with ``encoding``; with the default UTF-8, a UTF-16/32 BOM at the start
    decodes the file as what it says it is (a UTF-8 BOM is skipped)."""
    codec = _encoding(encoding)
    if codec == "utf-8-sig":
        codec = next((name for bom, name in _BOMS if raw.startswith(bom)), codec)
    # NUL bytes: UTF-16/32 without a BOM (no text file holds NUL), else a one-byte codepage
    suggest = "utf-16-le" if b"\x00" in raw[:4096] else "latin-1"
    try:
        text = raw.decode(codec)
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise DataError(f"{path}:{line}: cannot decode byte 0x{raw[e.start]:02x} as {encoding!r} "
                        f"({e.reason}); if the file is in another encoding, set it, e.g. "
                        f"--config.data.encoding={suggest}") from None
    if "\x00" in text:  # ASCII in UTF-16 without a BOM decodes as UTF-8 with NULs between
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise DataError(f"{path}:{line}: a NUL character in the text read as {encoding!r}; the "
                        "file looks UTF-16 or UTF-32 without a BOM: set it, e.g. "
                        "--config.data.encoding=utf-16-le")
    return text


def _read_decoded(path: str, encoding: str) -> str:
    """The whole file, read once and decoded by :func:`_decode`."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from None
    return _decode(path, raw, encoding)


def _format(path: str, fmt: str | None) -> str:
    fmt = fmt or TEXT_FORMATS.get(os.path.splitext(path)[1].lower())
    if fmt not in ("csv", "tsv", "jsonl"):
        raise DataError(f"{path}: unknown text format {fmt!r}; accepted: csv, tsv, jsonl "
                        f"(by extension {sorted(TEXT_FORMATS)} or the 'format' field)")
    return fmt


def _column_hint(header: Sequence[str], key: str, field: str) -> str:
    """Name the field that sets the column: with the column's value when one differs from
    ``key`` only in case or spaces, else pointing at the columns listed."""
    near = [h for h in header if h.strip().lower() == key.strip().lower()]
    if near:
        return f"; set --config.data.{field}={near[0]!r}"
    return f"; set --config.data.{field}=<one of them> to read another column"


def read_columns(path: str, columns: Sequence[str], fields: Sequence[str],
                 fmt: str | None = None, encoding: str = "utf-8",
                 delimiter: str | None = None) -> tuple[np.ndarray, list[list[Any]]]:
    """The line number of every data row ``[N]`` and, per name in ``columns``, its N raw
    values (CSV/TSV: strings; JSONL: JSON values), from one decode of the file.

    ``delimiter`` (one character) replaces the format's own: ``,`` for CSV, tab for TSV.
    ``fields`` names the config field that sets each column (``text_column``, ...), for
    the hint when a header differs only in case. Raises ``DataError`` naming ``path:line`` for undecodable bytes, a
    missing column or key, a CSV/TSV row with more or fewer fields than the header,
    invalid JSON, an empty file.
    """
    fmt = _format(path, fmt)
    if delimiter is not None and fmt == "jsonl":
        raise DataError(f"{path}: delimiter={delimiter!r} applies to CSV and TSV files, not "
                        "JSONL; unset --config.data.delimiter")
    text = _read_decoded(path, encoding)
    lines: list[int] = []
    values: list[list[Any]] = [[] for _ in columns]
    if fmt == "jsonl":
        for line_no, line in enumerate(text.split("\n"), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{path}:{line_no}: not valid JSON ({e.msg})") from None
            if not isinstance(record, dict):
                raise DataError(f"{path}:{line_no}: expected a JSON object, got {type(record).__name__}")
            for key, field in zip(columns, fields):
                if key not in record:
                    raise DataError(f"{path}:{line_no}: missing key {key!r} (keys: "
                                    f"{', '.join(record)}){_column_hint(record, key, field)}")
            lines.append(line_no)
            for out, key in zip(values, columns):
                out.append(record[key])
    else:
        sep = delimiter or ("," if fmt == "csv" else "\t")
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
        try:
            header = next(reader, None)
            while header is not None and not header:  # leading blank lines
                header = next(reader, None)
            if not header:
                raise DataError(f"{path}: empty file (expected a header row with the columns "
                                f"{', '.join(map(repr, columns))})")
            header = [h.strip() for h in header]
            for key, field in zip(columns, fields):
                if key not in header:
                    raise DataError(f"{path}:{reader.line_num}: missing column {key!r} "
                                    f"(columns: {', '.join(header)})"
                                    # a wrong delimiter first: then no column name fits
                                    f"{_delimiter_hint(header, sep) or _column_hint(header, key, field)}")
            index, width = [header.index(c) for c in columns], len(header)
            for row in reader:
                if len(row) != width:
                    if not row:
                        continue  # blank line
                    what = "more" if len(row) > width else "fewer"
                    hint = (" (an unquoted delimiter in the text? quote the field: \"a, b\")"
                            if len(row) > width else "")
                    raise DataError(f"{path}:{reader.line_num}: {len(row)} fields, {what} than the "
                                    f"header's {width} ({', '.join(header)}){hint}")
                lines.append(reader.line_num)
                for out, i in zip(values, index):
                    out.append(row[i])
        except csv.Error as e:
            raise DataError(f"{path}:{reader.line_num}: not valid {fmt.upper()} ({e})") from None
    if not lines:
        raise DataError(f"{path}: empty file (no data rows)")
    return np.asarray(lines, np.int64), values


def _texts(path: str, lines: np.ndarray, values: list[Any], column: str) -> list[str]:
    """Text values as strings; a JSON null, object or list is an error naming the line."""
    out = []
    for line_no, value in zip(lines, values):
        if isinstance(value, str):
            out.append(value)
        elif value is None:
            raise DataError(f"{path}:{line_no}: {column!r} is null; expected a string")
        elif isinstance(value, (dict, list)):
            raise DataError(f"{path}:{line_no}: {column!r} is a JSON {type(value).__name__}; "
                            "expected a string")
        else:
            out.append(str(value))
    return out


def read_text_rows(path: str, text_column: str = "text", label_column: str = "label",
                   fmt: str | None = None, encoding: str = "utf-8",
                   delimiter: str | None = None) -> TextRows:
    """Read, decode, tokenise and label every row of a CSV, TSV or JSONL file
    (:func:`read_columns`); also a ``DataError`` naming ``path:line`` for a null or
    non-string text and a null/empty/list label."""
    lines, (texts, raw_labels) = read_columns(path, (text_column, label_column),
                                              ("text_column", "label_column"), fmt, encoding,
                                              delimiter)
    texts = _texts(path, lines, texts, text_column)
    memo: dict[Any, str] = {}  # labels repeat: normalise each distinct one once
    labels = []
    for line_no, raw in zip(lines, raw_labels):
        key = (type(raw), raw) if isinstance(raw, (str, int, float, bool)) else None
        label = memo.get(key) if key is not None else None
        if label is None:
            label = _label(path, int(line_no), raw, label_column)
            if key is not None:
                memo[key] = label
        labels.append(label)
    return TextRows(lines, [tokenize(t) for t in texts], labels)


def read_texts(path: str, text_column: str = "text", encoding: str = "utf-8",
               delimiter: str | None = None) -> list[str]:
    """Texts to classify (``predict --input``): a ``.txt`` file one per non-blank line; a
    CSV, TSV or JSONL file its ``text_column``, read as training reads it."""
    if os.path.splitext(path)[1].lower() != ".txt":
        lines, (texts,) = read_columns(path, (text_column,), ("text_column",), None,
                                       encoding, delimiter)
        return _texts(path, lines, texts, text_column)
    return [line for line in _read_decoded(path, encoding).splitlines() if line.strip()]


def read_features(path: str, input_dim: int, max_length: int) -> np.ndarray:
    """Sequences to score (``predict --input FILE.npz``): float32 ``[N, T, D]`` from the
    archive's ``x``, with the run's ``D == input_dim`` and ``T <= max_length``."""
    try:
        with np.load(path, allow_pickle=False) as f:
            x = np.asarray(f["x"], np.float32)
    except (OSError, KeyError, ValueError) as e:
        raise DataError(f"{path}: cannot read key 'x' of an .npz ({e})") from None
    if x.ndim != 3 or x.shape[2] != input_dim or x.shape[1] > max_length:
        raise DataError(f"{path}: x has shape {x.shape}; this run expects [N, T <= "
                        f"{max_length}, {input_dim}]")
    if not np.isfinite(x).all():
        raise DataError(f"{path}: x holds NaN or Inf")
    return x


def read_inputs(path: str, spec: TaskSpec, text_column: str = "text", encoding: str = "utf-8",
                delimiter: str | None = None) -> list[str] | np.ndarray:
    """A file of new inputs for a trained run with task ``spec``: texts
    (:func:`read_texts`) for token inputs, float ``[N, T, D]`` (:func:`read_features`)
    for feature inputs. The one reader of ``lstmjax predict`` and
    ``lstmjax.load_run(...).read``."""
    if spec.input_kind == "tokens":
        return read_texts(path, text_column, encoding, delimiter)
    return read_features(path, int(spec.input_dim), int(spec.max_length))


def _delimiter_hint(header: list[str], sep: str) -> str:
    """A header read as one column that holds another common delimiter: say which field
    reads it (spreadsheets export ';'-separated files where the decimal mark is a comma)."""
    if len(header) != 1:
        return ""
    for other in (";", "\t", ",", "|"):
        if other != sep and other in header[0]:
            return (f"; the header looks {other!r}-separated: set "
                    f"--config.data.delimiter={other!r}")
    return ""


def _label(path: str, line: int, value: Any, column: str) -> str:
    try:
        return normalize_label(value)
    except ValueError as e:
        raise DataError(f"{path}:{line}: {column!r}: {e}") from None


@contextlib.contextmanager
def _no_gc():
    """Pause the cyclic GC while building ~10^6 small lists/strings (about 30% faster)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


@functools.lru_cache(maxsize=8)
def _read_text_cached(key: tuple, text_column: str, label_column: str, fmt: str | None,
                      encoding: str, delimiter: str | None) -> TextRows:
    # one parse per (file version, columns, format, encoding, delimiter): the splits share it
    with _no_gc():
        return read_text_rows(key[0], text_column, label_column, fmt, encoding, delimiter)


class TokenSource:
    """Token-id examples held as one flat int32 array plus offsets (fast to build and bucket).

    ``source[i] = {"x": int32 [T_i] ids, "y": int32 class}``. ``lines[i]`` is the file line
    of example ``i``; ``vocabulary`` and ``labels`` (class id -> label) are attached.
    """

    def __init__(self, ids: np.ndarray, offsets: np.ndarray, y: np.ndarray, lines: np.ndarray):
        self._ids, self._off, self._y, self.lines = ids, offsets, y, lines
        self.vocabulary: Vocabulary | None = None
        self.labels: list[str] | None = None

    def __len__(self) -> int:
        return len(self._y)

    def __getitem__(self, index: int) -> dict:
        i = int(index)
        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} examples")
        i %= len(self)
        return {"x": self._ids[self._off[i]: self._off[i + 1]], "y": self._y[i]}

    def lengths(self) -> np.ndarray:
        return np.diff(self._off).astype(np.int32)


def encode_rows(vocab: Vocabulary, tokens: list[list[str]], max_length: int) -> tuple[np.ndarray, np.ndarray]:
    """All rows at once: flat int32 ids and int64 offsets ``[N + 1]`` (empty rows -> [unk])."""
    clipped = [t[:max_length] or [UNK] for t in tokens]
    lengths = np.fromiter((len(t) for t in clipped), np.int64, len(clipped))
    offsets = np.zeros(len(clipped) + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    get = vocab._ids.get  # noqa: SLF001 - the hot loop of a 40k-row file
    ids = np.fromiter(map(get, itertools.chain.from_iterable(clipped), itertools.repeat(1)), np.int32,
                      int(offsets[-1]))
    return ids, offsets


def encode_texts(vocab: Vocabulary, texts: Sequence[str], max_length: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Texts -> ``(x int32 [N, max_length], lengths int32 [N])``, right-padded with 0.

    Tokenised and encoded exactly as training encodes its files (:func:`tokenize`, then
    :func:`encode_rows`: the first ``max_length`` tokens, unknown words -> ``<unk>``, an
    empty text -> ``[<unk>]``); ``lstmjax.load_run(...).predict`` and ``lstmjax predict``
    read new texts through it.
    """
    ids, offsets = encode_rows(vocab, [tokenize(t) for t in texts], max_length)
    lengths = np.diff(offsets).astype(np.int32)
    x = np.zeros((len(texts), max_length), np.int32)
    # scatter the flat ids into their rows: row r holds ids[offsets[r]:offsets[r + 1]]
    rows = np.repeat(np.arange(len(texts)), lengths)
    x[rows, np.arange(len(ids)) - offsets[:-1][rows]] = ids
    return x, lengths


def _text_fields(fields: dict) -> dict:
    kind = "text_file"
    out = dict(fields)
    out["max_length"] = _int_field(kind, fields, "max_length", 1)
    out["vocab_size"] = _int_field(kind, fields, "vocab_size", 3)
    out["min_count"] = _int_field(kind, fields, "min_count", 1)
    _holdout(kind, fields)
    _encoding(fields["encoding"])
    if fields["format"] not in (None, "csv", "tsv", "jsonl"):
        raise ValueError(f"{kind}: format={fields['format']!r}; accepted: None (by extension), csv, tsv, jsonl")
    delimiter = fields["delimiter"]
    if delimiter is not None and (not isinstance(delimiter, str) or len(delimiter) != 1
                                  or delimiter in "\"\r\n"):
        raise ValueError(f"{kind}: delimiter={delimiter!r}; accepted: None (the format's own: "
                         "',' for csv, tab for tsv) or one character other than a quote or "
                         "a line break, e.g. ';'")
    if delimiter is not None and fields["format"] == "jsonl":
        raise ValueError(f"{kind}: delimiter={delimiter!r} with format='jsonl'; a delimiter "
                         "applies to csv and tsv only")
    if fields["target"] not in TEXT_TARGETS:
        raise ValueError(f"{kind}: target={fields['target']!r}; accepted: {TEXT_TARGETS} (the "
                         "label column, or a language model's next or previous token)")
    for name in ("text_column", "label_column"):
        if not isinstance(fields[name], str) or not fields[name]:
            raise ValueError(f"{kind}: {name}={fields[name]!r}; must be a non-empty column name")
    if fields["labels"] is not None:
        labels = [normalize_label(v) for v in fields["labels"]]
        if len(set(labels)) != len(labels) or len(labels) < 2:
            raise ValueError(f"{kind}: labels={list(fields['labels'])!r}; must be >= 2 distinct labels "
                             f"(after normalising: {labels})")
        out["labels"] = labels
    return out


@functools.lru_cache(maxsize=8)
def _read_unlabelled_cached(key: tuple, text_column: str, fmt: str | None, encoding: str,
                            delimiter: str | None) -> TextRows:
    # a language model reads the text column only: a file without labels is fine
    with _no_gc():
        lines, (texts,) = read_columns(key[0], (text_column,), ("text_column",), fmt, encoding,
                                       delimiter)
        return TextRows(lines, [tokenize(t) for t in _texts(key[0], lines, texts, text_column)], [])


class NextTokenSource:
    """Language-model examples from token rows (``target="next_token"`` / ``"previous_token"``).

    Row ``r = [w_1, ..., w_n]`` (n >= 2, the first ``max_length + 1`` tokens) gives
    ``x = [w_1, ..., w_{n-1}]`` and ``y = [w_2, ..., w_n]`` (int32 ``[n - 1]`` each): the
    target at step t is the token after x_t. ``reverse=True`` does the same on
    ``[w_n, ..., w_1]``: the target is the token *before*, which is what a BiLSTM's
    backward direction reads next (so its weights can start one, ``model.init_from``).
    """

    def __init__(self, ids: np.ndarray, offsets: np.ndarray, lines: np.ndarray, reverse: bool):
        self._ids, self._off, self.lines, self.reverse = ids, offsets, lines, reverse
        self.vocabulary: Vocabulary | None = None
        self.labels: list[str] | None = None

    def __len__(self) -> int:
        return len(self._off) - 1

    def __getitem__(self, index: int) -> dict:
        i = int(index)
        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} examples")
        i %= len(self)
        row = self._ids[self._off[i]: self._off[i + 1]]
        if self.reverse:
            row = row[::-1]
        return {"x": row[:-1], "y": row[1:]}

    def lengths(self) -> np.ndarray:
        return (np.diff(self._off) - 1).astype(np.int32)


def _language_model(fields: dict, split: str, vocab: Vocabulary, rows: TextRows,
                    idx: np.ndarray):
    """``(TaskSpec, NextTokenSource)``: rows ``idx`` of ``rows`` as language-model examples
    (rows of one token have no target and are left out)."""
    long_enough = [i for i in idx if len(rows.tokens[i]) >= 2]
    with _no_gc():
        ids, offsets = encode_rows(vocab, [rows.tokens[i] for i in long_enough],
                                   fields["max_length"] + 1)
    if len(long_enough) == 0:
        raise DataError(f"{fields['path']}: the {split} split has no row of two or more tokens; "
                        f"target={fields['target']!r} needs a token to predict")
    which = "next" if fields["target"] == "next_token" else "previous"
    spec = TaskSpec("text_file", "tokens", "classify_per_step", max_length=fields["max_length"],
                    vocab_size=len(vocab), num_classes=len(vocab), target_step=None, causal=True,
                    description=f"{which}-token language model on {fields['path']}")
    source = NextTokenSource(ids, offsets, rows.lines[np.asarray(long_enough, np.int64)],
                             reverse=fields["target"] == "previous_token")
    source.vocabulary, source.labels = vocab, list(vocab.words)
    return spec, source


def make_text(fields: dict, split: str, data_dir: str | None = None):
    """``(TaskSpec, TokenSource)`` for one split of a labelled text file, or
    ``(TaskSpec, NextTokenSource)`` for a language model on its text (``target``; see
    the module doc)."""
    del data_dir
    fields = _text_fields(fields)
    if fields["target"] != "label":
        return _make_unlabelled(fields, split)
    read = lambda p: _read_text_cached(_file_key(p), fields["text_column"], fields["label_column"],
                                       fields["format"], fields["encoding"], fields["delimiter"])
    train_path, train_all, train_idx, path, rows, idx = _split_rows(
        fields, split, read, f"{fields['text_column']!r} and {fields['label_column']!r}")
    labels = fields["labels"] or sorted(set(train_all.labels))
    if len(labels) < 2:
        raise DataError(f"{train_path}: only one label ({labels[0]!r}) in {len(train_all.labels)} rows; "
                        "a classifier needs >= 2")
    label_ids = {v: i for i, v in enumerate(labels)}
    vocab = _vocabulary(fields, [train_all.tokens[i] for i in train_idx])

    y = np.empty(len(idx), np.int32)
    for j, i in enumerate(idx):
        label = rows.labels[i]
        if label not in label_ids:
            raise DataError(f"{path}:{rows.lines[i]}: unknown label {label!r}; accepted labels: {labels}")
        y[j] = label_ids[label]
    with _no_gc():
        ids, offsets = encode_rows(vocab, [rows.tokens[i] for i in idx], fields["max_length"])
    # the input-blind baseline: always answer the train split's most frequent class
    train_labels = [train_all.labels[i] for i in train_idx]
    majority, share = majority_class(np.array([label_ids.get(v, -1) for v in train_labels]), len(labels))
    spec = TaskSpec("text_file", "tokens", "classify", max_length=fields["max_length"], vocab_size=len(vocab),
                    num_classes=len(labels), chance=share, majority_class=majority,
                    description=f"text classification from {fields['path']}")
    source = TokenSource(ids, offsets, y, rows.lines[idx])
    source.vocabulary, source.labels = vocab, labels
    return spec, source


def _make_unlabelled(fields: dict, split: str):
    read = lambda p: _read_unlabelled_cached(_file_key(p), fields["text_column"], fields["format"],
                                             fields["encoding"], fields["delimiter"])
    _, train_all, train_idx, _, rows, idx = _split_rows(fields, split, read,
                                                        f"{fields['text_column']!r}")
    vocab = _vocabulary(fields, [train_all.tokens[i] for i in train_idx])
    return _language_model(fields, split, vocab, rows, idx)


def _split_rows(fields: dict, split: str, read, columns: str):
    """``(train_path, train_rows, train_idx, path, rows, idx)``: the train file, its rows
    (``read(path)``) and the indices of the train split among them, then the file
    ``split`` reads, its rows and the indices of the split's rows (all of them when the
    split has its own file). The split plan of the module doc, shared by the classifier
    and the language model."""
    plan = split_plan(fields, "text_file", f"a CSV, TSV or JSONL file with a header / keys {columns}")
    train_path, path = plan.files["train"], plan.files[split]

    def rows_of(p: str, which: str):
        rows = read(p)  # cached: the train file is parsed once
        idx = _rows_for("text_file", fields, plan, which, len(rows.tokens), p) if p == train_path else None
        return rows, np.arange(len(rows.tokens)) if idx is None else idx

    return (train_path, *rows_of(train_path, "train"), path, *rows_of(path, split))


def _vocabulary(fields: dict, train_tokens: list[list[str]]) -> Vocabulary:
    """The vocabulary of ``vocab_path`` when that file exists, else counted from the train
    rows' tokens (and saved to ``vocab_path`` when set)."""
    vocab_path = fields["vocab_path"]
    if vocab_path and os.path.exists(vocab_path):
        return Vocabulary.load(vocab_path)
    counts = collections.Counter(itertools.chain.from_iterable(train_tokens))
    vocab = Vocabulary.from_counts(counts, max_size=fields["vocab_size"],
                                   min_count=fields["min_count"])
    if vocab_path:
        vocab.save(vocab_path)
    return vocab


def majority_class(y: np.ndarray, num_classes: int) -> tuple[int, float]:
    """``(class id, its share)`` of the most frequent class in int ``y [N]`` (ties: the
    lowest id; ids outside ``[0, num_classes)`` are counted in N only): the accuracy of
    the best input-blind guess, reported as the baseline."""
    y = np.asarray(y)
    counts = np.bincount(y[(y >= 0) & (y < num_classes)], minlength=num_classes)
    top = int(np.argmax(counts))
    return top, float(counts[top]) / max(len(y), 1)


# ----------------------------------------------------------------------------- npz

class NpzSource:
    """Padded arrays -> examples ``{"x": x[i, :len_i], "y": y[i]}`` without copying all."""

    def __init__(self, x: np.ndarray, lengths: np.ndarray, y: np.ndarray, indices: np.ndarray):
        self._x, self._lengths, self._y, self._idx = x, lengths, y, indices

    def __len__(self) -> int:
        return len(self._idx)

    def __getitem__(self, index: int) -> dict:
        j = self._idx[int(index)]
        return {"x": self._x[j, : self._lengths[j]], "y": self._y[j]}

    def lengths(self) -> np.ndarray:
        return self._lengths[self._idx].astype(np.int32)


def _finite_or_raise(path: str, key: str, a: np.ndarray, hint: str) -> None:
    if a.dtype.kind == "f":
        bad = ~np.isfinite(a)
        if bad.any():
            first = np.unravel_index(int(np.argmax(bad)), a.shape)
            raise DataError(f"{path}: key {key!r} has {int(bad.sum())} NaN or inf values (first at index "
                            f"{tuple(int(i) for i in first)}); {hint}")


def load_npz(path: str) -> dict[str, np.ndarray]:
    """Read and check one npz: x float32 ``[N, T, D]`` (``[N, T]`` -> D=1), y ``[N]``, lengths int32 ``[N]``.

    y keeps its dtype (integer -> classes, float -> regression targets, decided by the
    caller). Raises ``DataError`` naming the file and key for: a missing file, a
    directory, a ``.npy`` array, a truncated or corrupt archive, a missing key, ragged
    (object) arrays, non-numeric values, NaN/inf in x or y, float x outside the float32
    range, bad shapes and lengths outside ``[1, T]``.
    """
    if not os.path.exists(path):
        raise DataError(f"{path}: no such file; expected {NPZ_EXPECTED}")
    if os.path.isdir(path):
        raise DataError(f"{path}: is a directory; expected {NPZ_EXPECTED}")
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        why = "truncated or corrupt zip archive" if isinstance(e, (zipfile.BadZipFile, EOFError)) else \
            f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        raise DataError(f"{path}: not a readable .npz file ({why}); expected {NPZ_EXPECTED}") from None
    if isinstance(archive, np.ndarray):
        raise DataError(f"{path}: is a single .npy array (shape {archive.shape}), not an .npz archive; "
                        f"expected {NPZ_EXPECTED}")
    with archive:
        if not archive.files:
            raise DataError(f"{path}: empty file (no arrays); expected {NPZ_EXPECTED}")
        arrays = {}
        for key in ("x", "y", "lengths"):
            if key not in archive.files:
                if key == "lengths":
                    continue
                raise DataError(f"{path}: missing key {key!r} (keys: {', '.join(archive.files)}); "
                                f"expected {NPZ_EXPECTED}")
            try:
                arrays[key] = archive[key]
            except ValueError as e:
                if "pickle" in str(e).lower():  # object arrays need pickle: that is ragged data
                    raise DataError(f"{path}: key {key!r} is ragged (an object array); store x padded "
                                    "to [N, T, D] and add a 'lengths' [N] key") from None
                raise DataError(f"{path}: key {key!r} cannot be read ({e})") from None
            except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as e:
                raise DataError(f"{path}: key {key!r} cannot be read (truncated or corrupt archive: "
                                f"{type(e).__name__})") from None
    x, y = arrays["x"], arrays["y"]
    for key, a in arrays.items():
        if a.dtype.kind not in "biuf":
            raise DataError(f"{path}: key {key!r} has non-numeric values (dtype {a.dtype}); expected numbers")
    if x.ndim == 2:
        x = x[..., None]
    if x.ndim != 3 or x.shape[0] == 0 or x.shape[1] == 0 or x.shape[2] == 0:
        raise DataError(f"{path}: key 'x' has shape {x.shape}; expected [N, T, D] or [N, T] with N, T, D >= 1")
    n, t = x.shape[:2]
    _finite_or_raise(path, "x", x, "pad with 0 and give 'lengths' instead")
    with np.errstate(over="ignore"):  # overflow is checked just below, with a message
        x32 = x.astype(np.float32)
    if x.dtype.kind == "f" and not np.all(np.isfinite(x32)):
        big = float(np.max(np.abs(x.astype(np.float64))))
        raise DataError(f"{path}: key 'x' has values beyond the float32 range (max |x| = {big:.3g} > 3.4e38); "
                        "rescale x")
    if y.ndim != 1 or len(y) != n:
        hint = ""
        if y.ndim == 2 and len(y) == n and y.shape[1] == 1:
            hint = " (store y[:, 0])"
        elif y.ndim == 2 and len(y) == n and np.all((y == 0) | (y == 1)) and \
                np.all(y.sum(axis=1) == 1):  # one-hot rows
            hint = " (one-hot rows? store the class indices y.argmax(axis=1))"
        raise DataError(f"{path}: key 'y' has shape {y.shape}; expected [{n}] to match x{hint}")
    _finite_or_raise(path, "y", y, "every target must be a finite number")
    lengths = arrays.get("lengths")
    if lengths is None:
        lengths = np.full(n, t, np.int32)
    elif lengths.shape != (n,) or lengths.dtype.kind not in "iu" or lengths.min() < 1 or lengths.max() > t:
        raise DataError(f"{path}: key 'lengths' must be integers of shape [{n}] in [1, {t}]; "
                        f"got shape {lengths.shape}, dtype {lengths.dtype}"
                        + (f", range [{lengths.min()}, {lengths.max()}]" if lengths.size and
                           lengths.dtype.kind in "iuf" else ""))
    return {"x": x32, "y": y, "lengths": lengths.astype(np.int32)}


@functools.lru_cache(maxsize=4)
def _load_npz_cached(key: tuple) -> dict[str, np.ndarray]:
    return load_npz(key[0])


def _npz_target(fields: dict, train_path: str, y: np.ndarray) -> tuple[str, int | None]:
    target = fields["target"]
    if target not in NPZ_TARGETS:
        raise ValueError(f"npz_file: target={target!r}; accepted: {NPZ_TARGETS}")
    if target == "auto":
        target = "classify" if y.dtype.kind in "biu" else "regress"
    if target == "regress":
        return target, None
    given = fields["num_classes"]
    if given is not None:
        if isinstance(given, bool) or not isinstance(given, (int, np.integer)) or not 2 <= given <= MAX_CLASSES:
            raise ValueError(f"npz_file: num_classes={given!r}; must be an integer in [2, {MAX_CLASSES}] "
                             "(or None: the largest class id in the train file + 1)")
        return target, int(given)
    if y.dtype.kind not in "biu":
        raise DataError(f"{train_path}: key 'y' has dtype {y.dtype}; target='classify' needs integer class "
                        "ids 0..K-1 (or target='regress')")
    top = int(y.max())
    if top + 1 > MAX_CLASSES:
        raise DataError(f"{train_path}: key 'y' has class id {top}; class ids must be 0..K-1 with "
                        f"K <= {MAX_CLASSES} (map your labels to 0..K-1, or use target='regress')")
    if top < 1:
        raise DataError(f"{train_path}: key 'y' holds only class {top}; a classifier needs >= 2 classes "
                        "(or use target='regress')")
    return target, top + 1


def _npz_y(path: str, y: np.ndarray, target: str, num_classes: int | None) -> np.ndarray:
    if target == "regress":
        with np.errstate(over="ignore"):
            y32 = y.astype(np.float32)
        if not np.all(np.isfinite(y32)):
            raise DataError(f"{path}: key 'y' has values beyond the float32 range; rescale the targets")
        return y32
    if y.dtype.kind not in "biu":
        raise DataError(f"{path}: key 'y' has dtype {y.dtype}; target='classify' needs integer class ids "
                        f"0..{num_classes - 1}")
    lo, hi = int(y.min()), int(y.max())
    if lo < 0 or hi >= num_classes:
        bad = lo if lo < 0 else hi
        raise DataError(f"{path}: key 'y' has class id {bad}; expected 0..{num_classes - 1} "
                        f"(num_classes={num_classes}, from the train file or the num_classes field)")
    return y.astype(np.int32)


def make_npz(fields: dict, split: str, data_dir: str | None = None):
    """``(TaskSpec, NpzSource)`` for one split of npz sequence data (see module doc).

    Classification: ``y`` must hold class ids ``0..K-1`` with ``K <= MAX_CLASSES``
    (100,000); ``K`` is ``num_classes`` or the train file's largest id + 1. Labels are
    never remapped (a remap would make ids differ between files); other labels are an
    error that says so. ``target="auto"``: integer y -> classify, float y -> regress.
    """
    del data_dir
    _holdout("npz_file", fields)
    plan = split_plan(fields, "npz_file", NPZ_EXPECTED)
    train_path = plan.files["train"]
    train = _load_npz_cached(_file_key(train_path))
    target, num_classes = _npz_target(fields, train_path, train["y"])
    d = train["x"].shape[2]
    max_t = train["x"].shape[1]
    for s in SPLITS:  # one spec for all splits: check every split file agrees with train
        p = plan.files[s]
        if p != train_path:
            other = _load_npz_cached(_file_key(p))
            if other["x"].shape[2] != d:
                raise DataError(f"{p}: key 'x' has {other['x'].shape[2]} features per step; the train file "
                                f"{train_path} has {d}")
            max_t = max(max_t, other["x"].shape[1])
    path = plan.files[split]
    data = _load_npz_cached(_file_key(path))
    y = _npz_y(path, data["y"], target, num_classes)
    n = len(y)
    idx = _rows_for("npz_file", fields, plan, split, n, path) if path == train_path else None
    if idx is None:
        idx = np.arange(n)
    majority = share = None
    if target == "classify":  # the input-blind baseline: the train split's most frequent class
        train_y = _npz_y(train_path, train["y"], target, num_classes)
        train_idx = _rows_for("npz_file", fields, plan, "train", len(train_y), train_path)
        majority, share = majority_class(train_y if train_idx is None else train_y[train_idx],
                                         num_classes)
    spec = TaskSpec("npz_file", "features", target, max_length=int(max_t), input_dim=int(d),
                    num_classes=num_classes, chance=share, majority_class=majority,
                    description=f"sequences from {fields['path']}")
    return spec, NpzSource(data["x"], data["lengths"], y, idx)


# ----------------------------------------------------------------------------- fingerprint

def sha256_file(path: str, chunk: int = 1 << 20) -> str:
    """The hex sha256 of a file's bytes, read in ``chunk``-byte blocks (bounded memory).

    The one file digest: data fingerprints here, checkpoint file lists and data
    fingerprints (``lstmjax.checkpoint``) and run files (``lstmjax.runs``).
    """
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def fingerprint(fields: dict, kind: str) -> dict[str, str]:
    """``{file: sha256 of its bytes}`` for every data file the task reads (train, validation, test).

    The vocabulary file (``vocab_path``) is not included: it is the run's own artefact,
    written from the train file on first use.
    """
    expected = NPZ_EXPECTED if kind == "npz_file" else "a CSV, TSV or JSONL file"
    plan = split_plan(fields, kind, expected)
    return {p: sha256_file(p) for p in sorted(set(plan.files.values()))}
