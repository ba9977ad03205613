"""Bad data files and data configs: each row names the exception type and a fragment of its
one-line message. ``DataError`` (a ValueError) = a bad file or dataset; plain ``ValueError``
= a bad config field (named in the message)."""

import json
import os
import re

import numpy as np
import pytest

from lstmjax import data
from lstmjax.tasks import DataError


def _text(name, body, **fields):
    def build(tmp):
        path = tmp / name
        if isinstance(body, bytes):
            path.write_bytes(body)
        else:
            path.write_text(body, encoding="utf-8")
        return {"name": "text_file", "path": str(path), "holdout": 0.0, **fields}, "train"
    return build


def _jsonl(*records, **fields):
    return _text("d.jsonl", "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records), **fields)


def _npz(split="train", fields=None, **arrays):
    def build(tmp):
        np.savez(tmp / "d.npz", **arrays)
        return {"name": "npz_file", "path": str(tmp / "d.npz"), "holdout": 0.0, **(fields or {})}, split
    return build


def _raw(name, write, kind="npz_file"):
    def build(tmp):
        path = write(tmp, tmp / name)
        return {"name": kind, "path": str(path), "holdout": 0.0}, "train"
    return build


def _truncated(tmp, path):
    np.savez(path, x=np.zeros((50, 10, 3)), y=np.arange(50) % 2)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    return path


def _npy(tmp, path):
    np.save(path, np.zeros((3, 4)))
    return path


def _dir(tmp, path):
    os.mkdir(path)
    return path


def _split_files(train_y, test_y):
    def build(tmp):
        np.savez(tmp / "train.npz", x=np.zeros((len(train_y), 3, 1)), y=np.array(train_y))
        np.savez(tmp / "test.npz", x=np.zeros((len(test_y), 3, 1)), y=np.array(test_y))
        return {"name": "npz_file", "path": str(tmp / "{split}.npz"), "holdout": 0.0}, "test"
    return build


def _text_test_file(tmp):
    (tmp / "train.csv").write_text("text,label\na,pos\nb,neg\n")
    (tmp / "test.csv").write_text("text,label\nc,pos\nd,neutral\n")
    return {"name": "text_file", "path": str(tmp / "{split}.csv")}, "test"


def _cfg(cfg, split="train"):
    return lambda tmp: (cfg, split)


OK_CSV = "text,label\na,pos\nb,neg\n"
X = np.zeros((4, 3, 2))
Y = np.array([0, 1, 0, 1])

CASES = [
    # ---- text files
    ("latin1_bytes", _text("t.csv", "text,label\nbien,pos\nEspaña,neg\n".encode("latin-1")), DataError,
     "t.csv:3: cannot decode byte 0xf1 as 'utf-8'"),
    ("latin1_hint", _text("t.csv", b"text,label\n\xe9t\xe9,pos\n"), DataError, "--config.data.encoding=latin-1"),
    ("csv_extra_field", _text("t.csv", "text,label\nok,pos\nloved it, a lot,pos\n"), DataError,
     "t.csv:3: 3 fields, more than the header's 2"),
    ("csv_too_few_fields", _text("t.csv", "text,label\nok,pos\nlonely\n"), DataError,
     "t.csv:3: 1 fields, fewer than the header's 2"),
    ("tsv_extra_field", _text("t.tsv", "text\tlabel\na\tb\tc\n"), DataError, "t.tsv:2: 3 fields, more than"),
    ("csv_empty_label", _text("t.csv", "text,label\nok,pos\nhm,  \n"), DataError, "t.csv:3: 'label': label is empty"),
    ("csv_missing_column", _text("t.csv", "review,label\nok,pos\n"), DataError,
     "t.csv:1: missing column 'text' (columns: review, label)"),
    ("csv_empty_file", _text("t.csv", ""), DataError, "t.csv: empty file"),
    ("csv_header_only", _text("t.csv", "text,label\n"), DataError, "t.csv: empty file (no data rows)"),
    ("one_label_only", _text("t.csv", "text,label\na,pos\nb,pos \n"), DataError, "only one label ('pos')"),
    ("unknown_extension", _text("t.xml", "<a/>"), DataError, "t.xml: unknown text format None"),
    ("jsonl_null_text", _jsonl({"text": "a", "label": 1}, {"text": None, "label": 0}), DataError,
     "d.jsonl:2: 'text' is null"),
    ("jsonl_dict_text", _jsonl({"text": {"a": 1}, "label": 1}), DataError, "d.jsonl:1: 'text' is a JSON dict"),
    ("jsonl_null_label", _jsonl({"text": "a", "label": None}), DataError, "d.jsonl:1: 'label': label is null"),
    ("jsonl_list_label", _jsonl({"text": "a", "label": [1]}), DataError, "label has type list"),
    ("jsonl_nan_label", _jsonl('{"text": "a", "label": NaN}'), DataError, "label nan is not a finite number"),
    ("jsonl_invalid", _jsonl({"text": "a", "label": 1}, '{"text": "b" "label": 0}'), DataError,
     "d.jsonl:2: not valid JSON"),
    ("jsonl_array_line", _jsonl({"text": "a", "label": 1}, "[1, 2]"), DataError,
     "d.jsonl:2: expected a JSON object, got list"),
    ("jsonl_missing_key", _jsonl({"text": "a", "label": 1}, {"text": "b"}), DataError,
     "d.jsonl:2: missing key 'label'"),
    ("text_unknown_label_in_test_file", _text_test_file, DataError, "test.csv:3: unknown label 'neutral'"),
    ("text_path_missing", _cfg({"name": "text_file", "path": "/nonexistent/t.csv"}), DataError,
     "/nonexistent/t.csv: no such file (text_file field path="),
    ("text_path_directory", _raw("dir.csv", _dir, "text_file"), DataError, "dir.csv: is a directory"),
    ("text_no_path", _cfg({"name": "text_file"}), ValueError, "text_file: field 'path' is required"),
    ("max_length_0", _text("t.csv", OK_CSV, max_length=0), ValueError, "text_file: max_length=0; must be an integer >= 1"),
    ("max_length_negative", _text("t.csv", OK_CSV, max_length=-1), ValueError, "max_length=-1"),
    ("vocab_size_2", _text("t.csv", OK_CSV, vocab_size=2), ValueError, "vocab_size=2; must be an integer >= 3"),
    ("min_count_0", _text("t.csv", OK_CSV, min_count=0), ValueError, "min_count=0; must be an integer >= 1"),
    ("holdout_string", _text("t.csv", OK_CSV, holdout="abc"), ValueError, "text_file: holdout='abc'; must be a fraction"),
    ("holdout_empty_test", lambda tmp: (_text("t.csv", OK_CSV, holdout=0.5)(tmp)[0], "test"), DataError,
     "t.csv: split 'test' is empty: there is no test file (test_path)"),
    ("holdout_one", _text("t.csv", OK_CSV, holdout=1.0), ValueError, "holdout=1.0; must be a fraction in [0, 1)"),
    ("encoding_unknown", _text("t.csv", OK_CSV, encoding="klingon"), ValueError, "encoding='klingon'"),
    ("format_unknown", _text("t.csv", OK_CSV, format="xml"), ValueError, "format='xml'; accepted"),
    ("semicolon_csv", _text("t.csv", "text;label\ngood;pos\nbad;neg\n"), DataError,
     "t.csv:1: missing column 'text' (columns: text;label); the header looks ';'-separated: "
     "set --config.data.delimiter=';'"),
    ("delimiter_two_chars", _text("t.csv", OK_CSV, delimiter=";;"), ValueError,
     "delimiter=';;'; accepted: None"),
    ("delimiter_quote", _text("t.csv", OK_CSV, delimiter='"'), ValueError, "delimiter='\"'; accepted"),
    ("delimiter_jsonl_format", _text("t.csv", OK_CSV, delimiter=";", format="jsonl"), ValueError,
     "a delimiter applies to csv and tsv only"),
    ("delimiter_jsonl_extension", _text("t.jsonl", '{"text": "a", "label": "x"}\n', delimiter=";"),
     DataError, "t.jsonl: delimiter=';' applies to CSV and TSV files, not JSONL"),
    ("labels_duplicate", _text("t.csv", OK_CSV, labels=["1", 1.0]), ValueError, "must be >= 2 distinct labels"),
    # ---- npz files
    ("npz_y_nan", _npz(x=X, y=np.array([0.1, np.nan, 0.3, 0.4])), DataError, "d.npz: key 'y' has 1 NaN or inf"),
    ("npz_y_inf", _npz(x=X, y=np.array([0.1, np.inf, -np.inf, 0.4])), DataError, "key 'y' has 2 NaN or inf"),
    ("npz_x_beyond_float32", _npz(x=np.full((2, 3), 1e39), y=np.array([0, 1])), DataError,
     "d.npz: key 'x' has values beyond the float32 range (max |x| = 1e+39"),
    ("npz_x_nan", _npz(x=np.full((2, 3), np.nan), y=np.array([0, 1])), DataError, "key 'x' has 6 NaN or inf"),
    ("npz_y_huge_class", _npz(x=X, y=np.array([0, 1, 2, 2 ** 40])), DataError,
     "d.npz: key 'y' has class id 1099511627776; class ids must be 0..K-1 with K <= 100000"),
    ("npz_y_negative_class", _npz(fields={"num_classes": 3}, x=X, y=np.array([0, 1, -1, 2])), DataError,
     "key 'y' has class id -1; expected 0..2"),
    ("npz_one_class", _npz(x=X, y=np.zeros(4, np.int64)), DataError, "key 'y' holds only class 0"),
    ("npz_num_classes_absurd", _npz(fields={"num_classes": 2 ** 40}, x=X, y=Y), ValueError,
     "npz_file: num_classes=1099511627776; must be an integer in [2, 100000]"),
    ("npz_classify_float_y", _npz(fields={"target": "classify"}, x=X, y=np.array([0.5, 1, 0, 1])), DataError,
     "target='classify' needs integer class"),
    ("npz_target_unknown", _npz(fields={"target": "rank"}, x=X, y=Y), ValueError, "target='rank'; accepted"),
    ("npz_truncated", _raw("d.npz", _truncated), DataError, "d.npz: not a readable .npz file (truncated or corrupt"),
    ("npz_is_npy", _raw("d.npy", _npy), DataError, "d.npy: is a single .npy array (shape (3, 4)), not an .npz"),
    ("npz_directory", _raw("d.npz", _dir), DataError, "d.npz: is a directory"),
    ("npz_missing", _cfg({"name": "npz_file", "path": "/nonexistent/d.npz"}), DataError,
     "/nonexistent/d.npz: no such file (npz_file field path="),
    ("npz_text_file", _raw("d.npz", lambda t, p: (p.write_text("hello"), p)[1]), DataError,
     "d.npz: not a readable .npz file"),
    ("npz_missing_y", _npz(x=X), DataError, "d.npz: missing key 'y' (keys: x)"),
    ("npz_x_4d", _npz(x=np.zeros((2, 3, 4, 5)), y=np.array([0, 1])), DataError, "key 'x' has shape (2, 3, 4, 5)"),
    ("npz_y_one_hot", _npz(x=X, y=np.eye(2)[[0, 1, 1, 0]]), DataError,
     "key 'y' has shape (4, 2); expected [4] to match x (one-hot rows? store the class "
     "indices y.argmax(axis=1))"),
    ("npz_y_column", _npz(x=X, y=np.array([[0], [1], [1], [0]])), DataError,
     "key 'y' has shape (4, 1); expected [4] to match x (store y[:, 0])"),
    ("npz_y_too_short", _npz(x=X, y=np.array([0, 1, 1])), DataError,
     "key 'y' has shape (3,); expected [4] to match x"),
    ("npz_lengths_float", _npz(x=X, y=Y, lengths=np.array([1.0, 2, 3, 3])), DataError,
     "key 'lengths' must be integers"),
    ("npz_lengths_zero", _npz(x=X, y=Y, lengths=np.array([0, 2, 3, 3])), DataError, "in [1, 3]"),
    ("npz_ragged", _npz(x=np.array([np.zeros(3), np.zeros(5)], dtype=object), y=np.array([0, 1])), DataError,
     "key 'x' is ragged"),
    ("npz_test_file_class_out_of_range", _split_files([0, 1, 2], [0, 5]), DataError,
     "test.npz: key 'y' has class id 5; expected 0..2"),
    ("npz_holdout_negative", _npz(fields={"holdout": -0.1}, x=X, y=Y), ValueError, "npz_file: holdout=-0.1"),
    # ---- synthetic and TFDS configs
    ("synthetic_num_examples_0", _cfg({"name": "adding", "num_examples": 0}), ValueError,
     "adding: num_examples=0; must be an integer >= 1"),
    ("synthetic_backend", _cfg({"name": "adding", "backend": "disk"}), ValueError, "adding: backend='disk'"),
    ("synthetic_unknown_field", _cfg({"name": "adding", "lenght": 50}), ValueError, "unknown field 'lenght'"),
    ("mnist_holdout_string", _cfg({"name": "mnist", "holdout": "abc"}), ValueError, "holdout='abc'; must be an integer"),
    ("imdb_max_length_0", _cfg({"name": "imdb", "max_length": 0}), ValueError, "imdb: max_length=0"),
]


@pytest.mark.parametrize("build,exc,fragment", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input(tmp_path, build, exc, fragment):
    cfg, split = build(tmp_path)
    with pytest.raises(exc, match=re.escape(fragment)) as info:
        data.make_source(cfg, split, data_dir=str(tmp_path / "tfds"))
    msg = str(info.value)
    assert "\n" not in msg, msg  # one line: a CLI prints it as is
    if exc is DataError:
        assert os.sep in msg or "TFDS" in msg, f"a data error names the file: {msg}"
    else:
        assert type(info.value) is ValueError, "a config error is not a DataError"


def test_table_size():
    assert len(CASES) >= 25 and len({c[0] for c in CASES}) == len(CASES)
