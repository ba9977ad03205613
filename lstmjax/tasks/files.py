"""The user's own data: labelled text (CSV/TSV/JSONL) and numeric sequences (.npz).

Both loaders validate at the boundary and raise a one-line ``ValueError`` naming the file
and the line (text) or key (npz) to fix: missing column/key, empty file, unknown label,
ragged data without lengths, non-numeric values.

Splits: if ``path`` contains ``{split}`` each split has its own file (labels and the
vocabulary come from the train file). Otherwise one file is split deterministically:
a ``seed``-derived shuffle puts the last ``holdout`` fraction in ``"validation"`` and
``"test"`` (the same examples) and the rest in ``"train"``.
"""

from __future__ import annotations

import csv
import json
import os

import numpy as np

from lstmjax.tasks.spec import ArraySource, TaskSpec
from lstmjax.tasks.text import Vocabulary

TEXT_FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".json": "jsonl"}
TEXT_DEFAULTS = {"path": None, "text_column": "text", "label_column": "label", "labels": None,
                 "format": None, "vocab_size": 20_000, "min_count": 1, "max_length": 500,
                 "vocab_path": None, "holdout": 0.1, "seed": 0}
NPZ_DEFAULTS = {"path": None, "target": "auto", "num_classes": None, "holdout": 0.1, "seed": 0}
NPZ_TARGETS = ("auto", "classify", "regress")


def _resolve(path: str | None, split: str, kind: str) -> tuple[str, bool]:
    if not path:
        raise ValueError(f"{kind}: field 'path' is required (a file, or a pattern with '{{split}}')")
    per_split = "{split}" in path
    resolved = os.path.expanduser(path.format(split=split) if per_split else path)
    if not os.path.exists(resolved):
        raise ValueError(f"{kind}: file {resolved} does not exist (path={path!r}, split={split!r})")
    return resolved, per_split


def _holdout_indices(n: int, split: str, holdout: float, seed: int) -> np.ndarray:
    if not 0.0 <= float(holdout) < 1.0:
        raise ValueError(f"holdout={holdout!r}; must be in [0, 1)")
    order = np.random.default_rng([int(seed), n]).permutation(n)
    n_eval = int(round(n * float(holdout)))
    return np.sort(order[n - n_eval:] if split != "train" else order[: n - n_eval])


# ----------------------------------------------------------------------------- text

def read_text_rows(path: str, text_column: str = "text", label_column: str = "label",
                   fmt: str | None = None) -> list[tuple[int, str, str]]:
    """``[(line_number, text, label_as_string), ...]`` from a CSV, TSV or JSONL file."""
    fmt = fmt or TEXT_FORMATS.get(os.path.splitext(path)[1].lower())
    if fmt not in ("csv", "tsv", "jsonl"):
        raise ValueError(f"{path}: unknown text format {fmt!r}; accepted: csv, tsv, jsonl "
                         f"(by extension {sorted(TEXT_FORMATS)} or the 'format' field)")
    rows = []
    with open(path, encoding="utf-8", newline="") as f:
        if fmt == "jsonl":
            for line_no, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as e:
                    raise ValueError(f"{path}:{line_no}: not valid JSON ({e.msg})") from None
                if not isinstance(record, dict):
                    raise ValueError(f"{path}:{line_no}: expected a JSON object, got {type(record).__name__}")
                for key in (text_column, label_column):
                    if key not in record:
                        raise ValueError(f"{path}:{line_no}: missing key {key!r} (keys: {', '.join(record)})")
                rows.append((line_no, str(record[text_column]), _label_str(record[label_column])))
        else:
            reader = csv.DictReader(f, delimiter="," if fmt == "csv" else "\t")
            if not reader.fieldnames:
                raise ValueError(f"{path}: empty file (expected a header row with "
                                 f"{text_column!r} and {label_column!r} columns)")
            for key in (text_column, label_column):
                if key not in reader.fieldnames:
                    raise ValueError(f"{path}:1: missing column {key!r} (columns: {', '.join(reader.fieldnames)})")
            for record in reader:
                if record[label_column] is None or record[text_column] is None:
                    raise ValueError(f"{path}:{reader.line_num}: too few fields for columns "
                                     f"{text_column!r} and {label_column!r}")
                rows.append((reader.line_num, record[text_column], record[label_column].strip()))
    if not rows:
        raise ValueError(f"{path}: empty file (no data rows)")
    return rows


def _label_str(value) -> str:
    # JSON labels may be 1, true or "pos"; compare them as text like CSV labels.
    return json.dumps(value) if isinstance(value, bool) else str(value)


def make_text(fields: dict, split: str, data_dir: str | None = None):
    del data_dir
    path, per_split = _resolve(fields["path"], split, "text_file")
    train_path = _resolve(fields["path"], "train", "text_file")[0] if per_split else path
    read = lambda p: read_text_rows(p, fields["text_column"], fields["label_column"], fields["format"])
    train_rows = read(train_path)
    if not per_split:
        train_rows = [train_rows[i] for i in _holdout_indices(len(train_rows), "train",
                                                               fields["holdout"], fields["seed"])]
    labels = [str(v) for v in fields["labels"]] if fields["labels"] else sorted({r[2] for r in train_rows})
    label_ids = {v: i for i, v in enumerate(labels)}
    if fields["vocab_path"] and os.path.exists(fields["vocab_path"]):
        vocab = Vocabulary.load(fields["vocab_path"])
    else:
        vocab = Vocabulary.build((r[1] for r in train_rows), max_size=int(fields["vocab_size"]),
                                 min_count=int(fields["min_count"]))
        if fields["vocab_path"]:
            vocab.save(fields["vocab_path"])
    if per_split:
        rows = read(path)
    else:
        all_rows = read(path)
        rows = [all_rows[i] for i in _holdout_indices(len(all_rows), split, fields["holdout"], fields["seed"])]
        if not rows:
            raise ValueError(f"{path}: split {split!r} is empty (holdout={fields['holdout']!r} of {len(all_rows)} rows)")
    max_length = int(fields["max_length"])
    examples = []
    for line_no, text, label in rows:
        if label not in label_ids:
            raise ValueError(f"{path}:{line_no}: unknown label {label!r}; accepted labels: {labels}")
        examples.append({"x": vocab.encode(text, max_length), "y": np.int32(label_ids[label])})
    spec = TaskSpec("text_file", "tokens", "classify", max_length=max_length, vocab_size=len(vocab),
                    num_classes=len(labels), chance=1 / len(labels),
                    description=f"text classification from {fields['path']}")
    source = ArraySource(examples)
    source.vocabulary, source.labels = vocab, labels
    return spec, source


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


def load_npz(path: str) -> dict[str, np.ndarray]:
    """Reads and validates x ``[N, T, D]`` (or ``[N, T]``), y ``[N]``, lengths ``[N]``."""
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise ValueError(f"{path}: not a readable .npz file ({e})") from None
    with archive:
        if not archive.files:
            raise ValueError(f"{path}: empty file (no arrays; expected keys 'x', 'y' and optional 'lengths')")
        arrays = {}
        for key in ("x", "y", "lengths"):
            if key not in archive.files:
                if key == "lengths":
                    continue
                raise ValueError(f"{path}: missing key {key!r} (keys: {', '.join(archive.files)})")
            try:
                arrays[key] = archive[key]
            except ValueError:  # object arrays need pickle: that is ragged data
                raise ValueError(f"{path}: key {key!r} is ragged (an object array); store x padded "
                                 "to [N, T, D] and add a 'lengths' [N] key") from None
    x, y = arrays["x"], arrays["y"]
    for key, a in arrays.items():
        if a.dtype.kind not in "biuf":
            raise ValueError(f"{path}: key {key!r} has non-numeric values (dtype {a.dtype}); "
                             "expected numbers")
    if x.ndim == 2:
        x = x[..., None]
    if x.ndim != 3 or x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{path}: key 'x' has shape {x.shape}; expected [N, T, D] or [N, T] with N, T >= 1")
    n, t = x.shape[:2]
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{path}: key 'x' has NaN or inf values (pad with 0 and give 'lengths' instead)")
    if y.ndim != 1 or len(y) != n:
        raise ValueError(f"{path}: key 'y' has shape {y.shape}; expected [{n}] to match x")
    lengths = arrays.get("lengths")
    if lengths is None:
        lengths = np.full(n, t, np.int32)
    elif lengths.shape != (n,) or lengths.dtype.kind not in "iu" or lengths.min() < 1 or lengths.max() > t:
        raise ValueError(f"{path}: key 'lengths' must be integers of shape [{n}] in [1, {t}]; "
                         f"got shape {lengths.shape}, dtype {lengths.dtype}")
    return {"x": x.astype(np.float32), "y": y, "lengths": lengths.astype(np.int32)}


def make_npz(fields: dict, split: str, data_dir: str | None = None):
    del data_dir
    if fields["target"] not in NPZ_TARGETS:
        raise ValueError(f"npz_file: target={fields['target']!r}; accepted: {NPZ_TARGETS}")
    path, per_split = _resolve(fields["path"], split, "npz_file")
    data = load_npz(path)
    y = data["y"]
    target = fields["target"]
    if target == "auto":
        target = "classify" if y.dtype.kind in "biu" else "regress"
    if target == "classify":
        if y.dtype.kind not in "biu" or (len(y) and y.min() < 0):
            raise ValueError(f"{path}: key 'y' must hold class ids >= 0 for target='classify'; "
                             f"got dtype {y.dtype}, min {y.min()}")
        num_classes = int(fields["num_classes"] or (int(y.max()) + 1))
        if y.max() >= num_classes:
            raise ValueError(f"{path}: key 'y' has class {int(y.max())} >= num_classes={num_classes}")
        y = y.astype(np.int32)
    else:
        y = y.astype(np.float32)
        num_classes = None
    n, t, d = data["x"].shape
    idx = np.arange(n) if per_split else _holdout_indices(n, split, fields["holdout"], fields["seed"])
    if len(idx) == 0:
        raise ValueError(f"{path}: split {split!r} is empty (holdout={fields['holdout']!r} of {n} examples)")
    spec = TaskSpec("npz_file", "features", target, max_length=t, input_dim=d, num_classes=num_classes,
                    chance=(1 / num_classes) if num_classes else None,
                    description=f"sequences from {fields['path']}")
    return spec, NpzSource(data["x"], data["lengths"], y, idx)
