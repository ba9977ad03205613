"""Own data: CSV/TSV/JSONL labelled text and .npz sequences, including each bad file."""

import json
import time

import numpy as np
import pytest

from lstmjax import data
from lstmjax.tasks import DataError, Vocabulary


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return str(path)


def _write_bytes(path, raw):
    path.write_bytes(raw)
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
    assert (len(tr), len(va), len(te)) == (15, 3, 2)  # holdout 0.25 of 20 rows: 5, half each
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
    assert spec.output_kind == "regress" and spec.input_dim == 1 and len(src) == 1  # 2 held out: 1 each


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


# ----------------------------------------------------------------------------- splits

def _rows(n, label=lambda i: i % 2):
    return "text,label\n" + "".join(f"word{i} common,{label(i)}\n" for i in range(n))


def _lines(cfg, split):
    return set(data.make_source(cfg, split)[1].lines.tolist())


def test_holdout_validation_and_test_are_disjoint_seeded_and_deterministic(tmp_path):
    path = _write(tmp_path / "all.csv", _rows(100))
    cfg = {"name": "text_file", "path": path, "holdout": 0.2, "seed": 3}
    tr, va, te = (_lines(cfg, s) for s in ("train", "validation", "test"))
    assert (len(tr), len(va), len(te)) == (80, 10, 10)
    assert not (tr & va or tr & te or va & te) and tr | va | te == set(range(2, 102))
    assert _lines(cfg, "validation") == va  # same seed: same rows
    assert _lines({**cfg, "seed": 4}, "validation") != va  # another seed: other rows
    # the vocabulary comes from the rows train serves only
    spec, train = data.make_source(cfg, "train")
    held_words = {f"word{line - 2}" for line in va | te}
    assert not held_words & set(train.vocabulary.words)
    assert "common" in train.vocabulary.words
    _, val = data.make_source(cfg, "validation")
    assert val.vocabulary == train.vocabulary and all(int(val[i]["x"][0]) == 1 for i in range(len(val)))


def test_pattern_with_train_and_test_files_holds_validation_out_of_train(tmp_path):
    _write(tmp_path / "train.csv", _rows(40))
    _write(tmp_path / "test.csv", "text,label\nnew text,1\nother,0\nthird,1\n")
    cfg = {"name": "text_file", "path": str(tmp_path / "{split}.csv"), "holdout": 0.25}
    tr, va = _lines(cfg, "train"), _lines(cfg, "validation")
    assert len(tr) == 30 and len(va) == 10 and not tr & va and tr | va == set(range(2, 42))
    _, test = data.make_source(cfg, "test")
    assert len(test) == 3 and test.lines.tolist() == [2, 3, 4]  # the whole test file


def test_validation_path_and_test_path(tmp_path):
    path = _write(tmp_path / "train.csv", _rows(20))
    _write(tmp_path / "dev.csv", "text,label\na,0\n")
    _write(tmp_path / "eval.csv", "text,label\nb,1\nc,0\n")
    cfg = {"name": "text_file", "path": path, "validation_path": str(tmp_path / "dev.csv"),
           "test_path": str(tmp_path / "eval.csv")}
    sizes = [len(data.make_source(cfg, s)[1]) for s in ("train", "validation", "test")]
    assert sizes == [20, 1, 2]  # nothing held out: both have files
    # only a test file: validation is held out of train, test is the file
    cfg = {"name": "text_file", "path": path, "test_path": str(tmp_path / "eval.csv"), "holdout": 0.2}
    sizes = [len(data.make_source(cfg, s)[1]) for s in ("train", "validation", "test")]
    assert sizes == [16, 4, 2]
    with pytest.raises(DataError, match=r"nope.csv: no such file \(text_file field test_path="):
        data.make_source({**cfg, "test_path": str(tmp_path / "nope.csv")}, "train")


def test_holdout_zero_without_validation_file_is_an_error_for_that_split(tmp_path):
    path = _write(tmp_path / "t.csv", _rows(10))
    cfg = {"name": "text_file", "path": path, "holdout": 0.0}
    assert len(data.make_source(cfg, "train")[1]) == 10
    with pytest.raises(DataError, match=r"t.csv: split 'validation' is empty: there is no validation file"):
        data.make_source(cfg, "validation")


def test_rare_label_only_in_held_out_rows_is_still_a_class(tmp_path):
    path = _write(tmp_path / "t.csv", _rows(50, label=lambda i: "rare" if i == 0 else i % 2))
    cfg = {"name": "text_file", "path": path, "holdout": 0.2}
    specs = {s: data.make_source(cfg, s)[0] for s in ("train", "validation", "test")}
    assert all(sp == specs["train"] for sp in specs.values()) and specs["train"].num_classes == 3


# ----------------------------------------------------------------------------- text as users have it

def test_latin1_file_one_line_error_then_works_with_encoding(tmp_path):
    path = tmp_path / "tweets.csv"
    path.write_bytes("text,label\nhola,pos\nEspaña y más,neg\n".encode("latin-1"))
    with pytest.raises(DataError) as info:
        data.make_source(_text_cfg(str(path)))
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(f"{path}:3: cannot decode byte 0xf1")
    assert "--config.data.encoding=latin-1" in msg
    spec, src = data.make_source(_text_cfg(str(path), encoding="latin-1"))
    assert len(src) == 2 and "españa" in src.vocabulary.words
    with pytest.raises(ValueError, match="encoding='klingon' is not a known text encoding"):
        data.make_source(_text_cfg(str(path), encoding="klingon"))


def test_semicolon_separated_file_reads_with_delimiter(tmp_path):
    """A spreadsheet export with ';' (decimal-comma locales): the comma inside a text is
    text, and the same rows read as the comma-separated file's."""
    semi = _write(tmp_path / "semi.csv", "text;label\ngood, very good;pos\nbad film;neg\n")
    comma = _write(tmp_path / "comma.csv", 'text,label\n"good, very good",pos\nbad film,neg\n')
    _, a = data.make_source(_text_cfg(semi, delimiter=";"))
    _, b = data.make_source(_text_cfg(comma))
    assert len(a) == len(b) == 2 and a.labels == b.labels == ["neg", "pos"]
    for i in range(2):
        np.testing.assert_array_equal(a[i]["x"], b[i]["x"])
        assert a[i]["y"] == b[i]["y"]


def test_utf8_bom_is_skipped(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbftext,label\ncaf\xc3\xa9 au lait,pos\nno,neg\n")
    _, src = data.make_source(_text_cfg(str(path)))
    assert len(src) == 2 and src.vocabulary.decode(src[0]["x"]) == "café au lait"


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-be", "utf-32"])
def test_utf16_and_utf32_files_with_a_bom_read_as_their_utf8_twin(tmp_path, codec):
    """Excel's "Unicode text" export is UTF-16 with a BOM (tab-separated): the BOM says the
    encoding, so the default encoding reads it; without a BOM it is the one-line error."""
    body = "text\tlabel\ncafé au lait\tpos\nno\tneg\n"
    bom = {"utf-16-be": b"\xfe\xff"}.get(codec, b"")
    wide = _write_bytes(tmp_path / "wide.tsv", bom + body.encode(codec))
    narrow = _write_bytes(tmp_path / "narrow.tsv", body.encode("utf-8"))
    _, a = data.make_source(_text_cfg(wide))
    _, b = data.make_source(_text_cfg(narrow))
    assert len(a) == 2 and a.labels == b.labels
    assert a.vocabulary.decode(a[0]["x"]) == b.vocabulary.decode(b[0]["x"]) == "café au lait"
    no_bom = _write_bytes(tmp_path / "nobom.tsv", body.encode("utf-16-le"))
    with pytest.raises(DataError, match=r"nobom.tsv:2: cannot decode byte 0xe9 as 'utf-8' .*"
                                        r"encoding=utf-16-le$"):
        data.make_source(_text_cfg(no_bom))
    ascii_no_bom = _write_bytes(tmp_path / "ascii.tsv",  # decodes as UTF-8, NULs between
                                "text\tlabel\nno\tneg\n".encode("utf-16-le"))
    with pytest.raises(DataError, match=r"ascii.tsv:1: a NUL character .* UTF-16 or UTF-32 "
                                        r"without a BOM: set it, e.g. "
                                        r"--config.data.encoding=utf-16-le$"):
        data.make_source(_text_cfg(ascii_no_bom))
    _, c = data.make_source(_text_cfg(no_bom, encoding="utf-16-le"))
    assert c.labels == b.labels


def test_a_column_that_differs_in_case_names_the_field_to_set(tmp_path):
    path = _write(tmp_path / "c.csv", "Text,Label\nhi,pos\nho,neg\n")
    with pytest.raises(DataError, match=r"c.csv:1: missing column 'text' \(columns: Text, Label\); "
                                        r"set --config.data.text_column='Text'$"):
        data.make_source(_text_cfg(path))
    body = json.dumps({"Sentence": "hi", "label": "pos"}) + "\n"
    with pytest.raises(DataError, match=r"missing key 'sentence' .*text_column='Sentence'"):
        data.make_source(_text_cfg(_write(tmp_path / "c.jsonl", body), text_column="sentence"))
    _, src = data.make_source(_text_cfg(path, text_column="Text", label_column="Label"))
    assert src.labels == ["neg", "pos"]


def test_read_texts_reads_inputs_as_training_reads_files(tmp_path):
    """predict's reader: the same decode, delimiter and one-line errors as training."""
    from lstmjax.tasks import read_texts
    assert read_texts(_write(tmp_path / "a.txt", "one\n\n  \ntwo, three\n")) == \
        ["one", "two, three"]
    assert read_texts(_write(tmp_path / "a.csv", 'id,text\n1,"a, b"\n2,c\n')) == ["a, b", "c"]
    assert read_texts(_write(tmp_path / "a.tsv", "text\tid\na, b\t1\n")) == ["a, b"]
    assert read_texts(_write(tmp_path / "s.csv", "text;id\na, b;1\n"), delimiter=";") == ["a, b"]
    assert read_texts(_write(tmp_path / "a.jsonl", '{"body": "x y"}\n'), "body") == ["x y"]
    assert read_texts(_write_bytes(tmp_path / "w.txt", "é\n".encode("utf-16"))) == ["é"]
    with pytest.raises(DataError, match=r"b.csv:3: 3 fields, more than the header's 2"):
        read_texts(_write(tmp_path / "b.csv", "id,text\n1,fine\n2,loved it, a lot\n"))
    with pytest.raises(DataError, match=r"n.jsonl:1: 'text' is null"):
        read_texts(_write(tmp_path / "n.jsonl", '{"text": null}\n'))
    with pytest.raises(DataError, match=r"l.txt:1: cannot decode byte 0xe9 as 'utf-8'"):
        read_texts(_write_bytes(tmp_path / "l.txt", "caf\u00e9\n".encode("latin-1")))


def test_labels_are_normalised(tmp_path):
    body = "".join(json.dumps({"text": f"t{i}", "label": v}) + "\n"
                   for i, v in enumerate([1, 1.0, " 1", "1.0", 0, "0 ", "pos", "pos ", " pos"]))
    spec, src = data.make_source(_text_cfg(_write(tmp_path / "l.jsonl", body)))
    assert src.labels == ["0", "1", "pos"] and spec.num_classes == 3
    assert [int(src[i]["y"]) for i in range(9)] == [1, 1, 1, 1, 0, 0, 2, 2, 2]
    spec, src = data.make_source(_text_cfg(_write(tmp_path / "l.csv", "text,label\na, 1\nb,1.0\nc,0\n")))
    assert src.labels == ["0", "1"]
    spec, src = data.make_source(_text_cfg(str(tmp_path / "l.csv"), labels=[1, 0]))
    assert src.labels == ["1", "0"] and [int(src[i]["y"]) for i in range(3)] == [0, 0, 1]


def test_null_text_and_extra_field_name_the_line(tmp_path):
    body = '{"text": "ok", "label": 1}\n{"text": null, "label": 0}\n'
    with pytest.raises(DataError, match=r"n.jsonl:2: 'text' is null"):
        data.make_source(_text_cfg(_write(tmp_path / "n.jsonl", body)))
    with pytest.raises(DataError, match=r"x.csv:3: 3 fields, more than the header's 2 \(text, label\) "
                                        r"\(an unquoted delimiter"):
        data.make_source(_text_cfg(_write(tmp_path / "x.csv", "text,label\nfine,pos\nloved it, a lot,pos\n")))


@pytest.mark.parametrize("value", [0, -1, 2.5, "abc"])
def test_max_length_must_be_at_least_one(tmp_path, value):
    path = _write(tmp_path / "t.csv", "text,label\na,0\nb,1\n")
    with pytest.raises(ValueError, match=rf"text_file: max_length={value!r}; must be an integer >= 1"):
        data.make_source(_text_cfg(path, max_length=value))


def test_token_source_equals_vocabulary_encode(tmp_path):
    path = _write(tmp_path / "t.csv", 'text,label\n"The cat, the hat",a\n"!!!",b\n"",a\nlong long long long,b\n')
    _, src = data.make_source(_text_cfg(path, max_length=3))
    for i, text in enumerate(["The cat, the hat", "!!!", "", "long long long long"]):
        np.testing.assert_array_equal(src[i]["x"], src.vocabulary.encode(text, 3))
        assert src[i]["x"].dtype == np.int32
    np.testing.assert_array_equal(src.lengths(), [3, 3, 1, 3])


def test_40k_row_csv_loads_fast(tmp_path):
    rng = np.random.default_rng(0)
    words = np.array([f"w{i}" for i in range(20_000)])
    with open(tmp_path / "big.csv", "w", encoding="utf-8") as f:
        f.write("text,label\n")
        for i in range(40_000):
            f.write(f'"{" ".join(words[rng.integers(0, 20_000, 20)])}, ok!",{i % 3}\n')
    t = time.perf_counter()
    cfg = {"name": "text_file", "path": str(tmp_path / "big.csv")}
    sizes = [len(data.make_source(cfg, s)[1]) for s in ("train", "validation", "test")]
    elapsed = time.perf_counter() - t
    assert sizes == [32_000, 4_000, 4_000]
    assert elapsed < 30, f"40k rows took {elapsed:.1f}s (about 2 s on a busy 2-core machine)"


# ----------------------------------------------------------------------------- npz splits

def test_npz_split_files_share_one_spec(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "train.npz", x=rng.normal(size=(20, 5, 2)), y=np.arange(20) % 4)
    np.savez(tmp_path / "test.npz", x=rng.normal(size=(6, 8, 2)), y=np.array([0, 1, 0, 1, 0, 1]))
    cfg = {"name": "npz_file", "path": str(tmp_path / "{split}.npz"), "holdout": 0.25}
    got = {s: data.make_source(cfg, s) for s in ("train", "validation", "test")}
    assert [len(src) for _, src in got.values()] == [15, 5, 6]
    specs = [sp for sp, _ in got.values()]
    assert all(sp == specs[0] for sp in specs) and specs[0].num_classes == 4 and specs[0].max_length == 8
    tr, va = (set(src._idx.tolist()) for _, src in (got["train"], got["validation"]))
    assert not tr & va and tr | va == set(range(20))
    np.savez(tmp_path / "test.npz", x=rng.normal(size=(2, 5, 2)), y=np.array([0, 7]))
    with pytest.raises(DataError, match=r"test.npz: key 'y' has class id 7; expected 0..3"):
        data.make_source(cfg, "test")
    np.savez(tmp_path / "test.npz", x=rng.normal(size=(2, 5, 3)), y=np.array([0, 1]))
    with pytest.raises(DataError, match=r"test.npz: key 'x' has 3 features per step; the train file"):
        data.make_source(cfg, "train")
