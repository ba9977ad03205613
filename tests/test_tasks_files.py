"""Own data: CSV/TSV/JSONL labelled text and .npz sequences, including each bad file."""

import json

import numpy as np
import pytest

from lstmjax import data
from lstmjax.tasks import Vocabulary


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return str(path)


def _text_cfg(path, **kw):
    return {"name": "text_file", "path": path, "holdout": 0.0, **kw}


@pytest.mark.parametrize("ext,body", [
    (".csv", 'text,label\n"good movie, loved it",pos\nbad film,neg\nloved it,pos\n'),
    (".tsv", "text\tlabel\ngood movie, loved it\tpos\nbad film\tneg\nloved it\tpos\n"),
    (".jsonl", "".join(json.dumps({"text": t, "label": l}) + "\n" for t, l in
                       [("good movie, loved it", "pos"), ("bad film", "neg"), ("loved it", "pos")])),
])
def test_text_file_formats(tmp_path, ext, body):
    vocab_path = str(tmp_path / "vocab.json")
    spec, src = data.make_source(_text_cfg(_write(tmp_path / f"d{ext}", body), vocab_path=vocab_path))
    assert len(src) == 3 and spec.num_classes == 2 and src.labels == ["neg", "pos"]
    assert [int(src[i]["y"]) for i in range(3)] == [1, 0, 1]
    assert src.vocabulary.decode(src[0]["x"]) == "good movie , loved it"
    assert Vocabulary.load(vocab_path) == src.vocabulary
    b = data.batches(src, batch_size=3, seed=0)[0]
    assert b["x"].shape == (3, 5)


def test_text_file_split_by_pattern_and_holdout(tmp_path):
    for split, rows in [("train", "a,x\nb,y\nc,x\n"), ("test", "d,y\n")]:
        _write(tmp_path / f"{split}.csv", "text,label\n" + rows)
    _, test = data.make_source(_text_cfg(str(tmp_path / "{split}.csv")), "test")
    assert len(test) == 1 and int(test[0]["y"]) == 1
    path = _write(tmp_path / "all.csv", "text,label\n" + "".join(f"w{i},{i % 2}\n" for i in range(20)))
    cfg = {"name": "text_file", "path": path, "holdout": 0.25}
    tr, va, te = (data.make_source(cfg, s)[1] for s in ("train", "validation", "test"))
    assert (len(tr), len(va), len(te)) == (10, 5, 5)
    lines = [set(src.lines.tolist()) for src in (tr, va, te)]
    assert not (lines[0] & lines[1]) and not (lines[0] & lines[2]) and not (lines[1] & lines[2])
    assert set.union(*lines) == set(range(2, 22))


@pytest.mark.parametrize("name,body,kw,match", [
    ("missing.csv", "review,label\nhi,pos\n", {}, r"missing.csv:1: missing column 'text' \(columns: review, label\)"),
    ("empty.csv", "", {}, r"empty.csv: empty file"),
    ("header_only.tsv", "text\tlabel\n", {}, r"header_only.tsv: empty file \(no data rows\)"),
    ("labels.csv", "text,label\nhi,pos\nho,meh\n", {"labels": ["pos", "neg"]},
     r"labels.csv:3: unknown label 'meh'; accepted labels: \['pos', 'neg'\]"),
    ("bad.jsonl", '{"text": "a", "label": 1}\n{"text": "b" "label": 0}\n', {}, r"bad.jsonl:2: not valid JSON"),
    ("nokey.jsonl", '{"text": "a", "label": 1}\n{"text": "b"}\n', {}, r"nokey.jsonl:2: missing key 'label'"),
    ("short.csv", "text,label\nonly_text\n", {}, r"short.csv:2: 1 fields, fewer than the header's 2"),
    ("data.xml", "<a/>", {}, r"data.xml: unknown text format None"),
])
def test_bad_text_files(tmp_path, name, body, kw, match):
    path = _write(tmp_path / name, body)
    with pytest.raises(ValueError, match=match) as info:
        data.make_source(_text_cfg(path, **kw))
    assert "\n" not in str(info.value)


def test_unknown_label_in_test_file(tmp_path):
    _write(tmp_path / "train.csv", "text,label\na,pos\nb,neg\n")
    _write(tmp_path / "test.csv", "text,label\nc,pos\nd,neutral\n")
    with pytest.raises(ValueError, match=r"test.csv:3: unknown label 'neutral'"):
        data.make_source(_text_cfg(str(tmp_path / "{split}.csv")), "test")


def test_text_file_missing_path(tmp_path):
    with pytest.raises(ValueError, match="'path' is required"):
        data.make_source({"name": "text_file"})
    with pytest.raises(ValueError, match="nope.csv: no such file"):
        data.make_source(_text_cfg(str(tmp_path / "nope.csv")))


def test_npz_padded_with_lengths(tmp_path):
    x = np.random.default_rng(0).normal(size=(10, 7, 3)).astype(np.float32)
    lengths = np.arange(1, 11) % 7 + 1
    path = str(tmp_path / "d.npz")
    np.savez(path, x=x, y=np.arange(10) % 3, lengths=lengths)
    spec, src = data.make_source({"name": "npz_file", "path": path, "holdout": 0.0})
    assert spec.input_dim == 3 and spec.num_classes == 3 and spec.max_length == 7
    assert len(src) == 10 and src[2]["x"].shape == (lengths[2], 3) and src[2]["y"] == 2
    b = data.batches(src, batch_size=5, seed=0, shuffle=False, num_epochs=1)[0]
    np.testing.assert_array_equal(b["lengths"], lengths[:5])
    np.savez(path, x=x[..., 0], y=np.linspace(0, 1, 10))  # [N, T], float y -> regression
    spec, src = data.make_source({"name": "npz_file", "path": path, "holdout": 0.2}, "validation")
    assert spec.output_kind == "regress" and spec.input_dim == 1 and len(src) == 2


def _npz(tmp_path, **arrays):
    path = str(tmp_path / "bad.npz")
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("arrays,match", [
    (dict(x=np.zeros((4, 5, 2))), r"bad.npz: missing key 'y' \(keys: x\)"),
    (dict(), r"bad.npz: empty file"),
    (dict(x=np.array([np.zeros(3), np.zeros(5)], dtype=object), y=np.zeros(2)),
     r"bad.npz: key 'x' is ragged .* 'lengths'"),
    (dict(x=np.array([["a", "b"], ["c", "d"]]), y=np.zeros(2)), r"bad.npz: key 'x' has non-numeric values"),
    (dict(x=np.zeros((4, 5, 2)), y=np.array(["a", "b", "c", "d"])), r"bad.npz: key 'y' has non-numeric"),
    (dict(x=np.zeros((4, 5, 2)), y=np.zeros(3)), r"key 'y' has shape \(3,\); expected \[4\]"),
    (dict(x=np.zeros((4, 5, 2)), y=np.zeros(4), lengths=np.array([1, 2, 9, 1])), r"key 'lengths' .* in \[1, 5\]"),
    (dict(x=np.full((2, 3), np.nan), y=np.zeros(2)), r"key 'x' has 6 NaN or inf values"),
])
def test_bad_npz_files(tmp_path, arrays, match):
    with pytest.raises(ValueError, match=match) as info:
        data.make_source({"name": "npz_file", "path": _npz(tmp_path, **arrays), "holdout": 0.0})
    assert "\n" not in str(info.value)


def test_npz_not_an_npz(tmp_path):
    path = _write(tmp_path / "x.npz", "hello")
    with pytest.raises(ValueError, match="x.npz: not a readable .npz file"):
        data.make_source({"name": "npz_file", "path": path})
