"""Pretrained word embeddings from a GloVe / word2vec text file (issue 27 item 1):
the file's vectors land in exactly the rows of the words it has, the other rows keep the
seeded init, a frozen embedding never moves, a resume never reads the file, every bad
file or field is one line, and configs written before the fields existed keep their
fingerprint."""

import csv
import glob
import json
import os

import jax
import numpy as np
import pytest

from lstmjax import checkpoint, embeddings, schema, train
from lstmjax.errors import DataError
from lstmjax.tasks.files import sha256_file

E = 4
POS = ["great", "lovely", "superb", "fine"]
NEG = ["awful", "boring", "bad", "poor"]


def _write_csv(path, n, seed):
    rng = np.random.default_rng(seed)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for k in range(n):
            good = k % 2 == 0
            words = list(rng.choice(POS if good else NEG, 2)) + ["the", "film"]
            w.writerow([" ".join(words), "pos" if good else "neg"])


def _config(tmp_path, **model):
    if not (tmp_path / "train.csv").exists():
        _write_csv(tmp_path / "train.csv", 64, 0)
    return {"seed": 0, "steps": 6, "batch_size": 8, "log_every": 3, "eval_every": 0,
            "checkpoint_every": 3, "plot": False, "tensorboard": False, "pad_to": "batch",
            "pad_multiple": 4,
            "data": {"name": "text_file", "path": str(tmp_path / "train.csv"),
                     "max_length": 4},
            "model": {"hidden_size": 4, "embed_dim": E, **model},
            "optimizer": {"learning_rate": 0.05}}


# "Great" (cased) fills "great" unless an exact "great" line exists; "film" comes twice:
# the first line wins; "zebra" is in the file but not in the vocabulary
LINES = [("Great", [0.5, -1.0, 2.0, 0.25]), ("awful", [1.0, 2.0, 3.0, 4.0]),
         ("zebra", [9.0, 9.0, 9.0, 9.0]), ("film", [-0.5, 0.0, 0.5, 1.5]),
         ("film", [7.0, 7.0, 7.0, 7.0]), ("the", [1e-3, -2e-3, 3.5e2, -4.0])]


def _write_vectors(path, lines=LINES, header=False, dim=E):
    with open(path, "w", encoding="utf-8") as f:
        if header:
            f.write(f"{len(lines)} {dim}\n")
        for word, values in lines:
            f.write(word + " " + " ".join(repr(float(v)) for v in values) + "\n")
    return str(path)


def _expected(path, words):
    """What the file says, read independently with numpy: {id: vector} (first line wins,
    an exact match over a lower-cased one)."""
    rows = [r.split(" ") for r in open(path, encoding="utf-8").read().splitlines()]
    if len(rows[0]) == 2:
        rows = rows[1:]
    exact, lower = {}, {}
    for r in rows:
        exact.setdefault(r[0], np.array(r[1:], np.float64).astype(np.float32))
        lower.setdefault(r[0].lower(), np.array(r[1:], np.float64).astype(np.float32))
    out = {}
    for i, w in enumerate(words):
        if i >= 2 and (w in exact or w in lower):
            out[i] = exact.get(w, lower.get(w))
    return out


VOCAB = ["<pad>", "<unk>", "the", "film", "great", "awful", "bad", "missing"]


@pytest.mark.parametrize("header", [False, True], ids=["glove", "word2vec"])
def test_reads_glove_and_word2vec_text(tmp_path, header):
    path = _write_vectors(tmp_path / "v.txt", header=header)
    found = embeddings.read_vectors(path, VOCAB, E)
    want = _expected(path, VOCAB)
    assert found.rows.tolist() == sorted(want) == [2, 3, 4, 5]
    np.testing.assert_array_equal(found.vectors, np.stack([want[i] for i in sorted(want)]))
    np.testing.assert_array_equal(found.vectors[1], [-0.5, 0.0, 0.5, 1.5])  # first "film"
    assert found.format == ("word2vec" if header else "glove") and found.dim == E
    assert (found.found, found.words) == (4, 6)
    assert found.line() == f"embeddings: 4 of 6 vocabulary words found in {path}"
    assert len(found.sha256) == 64
    # an exact line wins over a cased one, wherever it stands
    path2 = _write_vectors(tmp_path / "v2.txt", LINES + [("great", [3.0, 3.0, 3.0, 3.0])])
    np.testing.assert_array_equal(embeddings.read_vectors(path2, VOCAB, E).vectors[2], [3.0] * 4)


def test_bad_files_are_one_line_errors(tmp_path):
    def error(path, dim=E):
        with pytest.raises(DataError) as e:
            embeddings.read_vectors(str(path), VOCAB, dim)
        msg = str(e.value)
        assert "\n" not in msg
        return msg

    bad = tmp_path / "bad.txt"
    bad.write_text("the 1 2 3 4\nfilm 1 2 3\n", encoding="utf-8")
    assert error(bad) == f"{bad}:2: 3 values; expected 4 (the vector size set by line 1)"
    bad.write_text("2 4\nthe 1 2 3 4\nfilm 1 2 3 4 5\n", encoding="utf-8")
    assert error(bad) == (f"{bad}:3: 5 values; expected 4 (the vector size set by the "
                          "header's dim)")
    bad.write_text("the 1 2 3 4\nfilm 1 x 3 4\n", encoding="utf-8")
    assert error(bad) == f"{bad}:2: value 'x' is not a number"
    bad.write_bytes(b"the 1 2 3 4\nfi\xffm 1 2 3 4\n")
    assert error(bad).startswith(f"{bad}:2: not UTF-8")
    assert error(_write_vectors(tmp_path / "v.txt"), dim=8) == (
        f"{tmp_path / 'v.txt'}: its vectors have 4 values but model.embed_dim=8; set "
        "--config.model.embed_dim=4 (or use a file of 8-value vectors)")
    assert error(tmp_path / "nope.txt").startswith(
        f"{tmp_path / 'nope.txt'}: no such file (model field embeddings_path=")
    (tmp_path / "empty.txt").write_text("")
    assert error(tmp_path / "empty.txt") == f"{tmp_path / 'empty.txt'}: is empty; expected " \
        + embeddings.EXPECTED


def test_config_refusals_are_one_line(tmp_path):
    features = {"data": {"name": "adding", "length": 20, "num_examples": 64},
                "model": {"hidden_size": 4, "embeddings_path": "v.txt"}, "steps": 1}
    with pytest.raises(ValueError, match=r"^embeddings_path='v.txt' applies to token inputs "
                                         r"\(text tasks\); task 'adding' has feature inputs"):
        train.build(features)
    features["model"] = {"hidden_size": 4, "freeze_embeddings": True}
    with pytest.raises(ValueError, match="^freeze_embeddings=True applies to token inputs"):
        train.build(features)
    listops = {"data": {"name": "listops"}, "steps": 1,
               "model": {"hidden_size": 4, "embeddings_path": "v.txt"}}
    with pytest.raises(ValueError, match=r"^config.model.embeddings_path='v.txt' needs a task "
                                         r"with a word vocabulary"):
        train.build(listops)
    with pytest.raises(TypeError, match="embeddings_path=3 must be a string"):
        schema.resolve_config({"data": {"name": "adding"}, "model": {"embeddings_path": 3}})
    # a new run with a missing file leaves no run directory behind; the same command with
    # the file in place then starts the run
    workdir = tmp_path / "run"
    cfg = _config(tmp_path, embeddings_path=str(tmp_path / "v.txt"))
    with pytest.raises(DataError, match="no such file"):
        train.run(cfg, str(workdir), progress=False)
    assert not workdir.exists()
    _write_vectors(tmp_path / "v.txt")
    cfg["steps"] = 1
    assert train.run(cfg, str(workdir), progress=False)["embeddings"]["found"] == 4


def _init_params(cfg, pretrained=None):
    job = train.build(cfg)
    args = () if pretrained is None else (pretrained.rows, pretrained.vectors)
    return jax.device_get(job.compiled.init(np.int32(cfg["seed"]), *args).params), job


def test_frozen_run_keeps_the_file_rows_and_the_seeded_rest(tmp_path, capsys):
    path = _write_vectors(tmp_path / "v.txt")
    cfg = _config(tmp_path, embeddings_path=path, freeze_embeddings=True)
    summary = train.run(cfg, str(tmp_path / "run"), progress=False)
    words = json.load(open(tmp_path / "run" / "vocab.json"))["words"]
    want = _expected(path, words)
    assert set(want) == {words.index(w) for w in ("great", "awful", "film", "the")}
    line = f"embeddings: 4 of {len(words) - 2} vocabulary words found in {path}"
    assert line in capsys.readouterr().out
    record = json.load(open(tmp_path / "run" / "embeddings.json"))
    assert record == summary["embeddings"] == json.load(open(tmp_path / "run" / "summary.json"))[
        "embeddings"]
    assert record["found"] == 4 and record["format"] == "glove" and record["path"] == path
    assert record["sha256"] == sha256_file(path)

    # the run without the file, same seed: its init is the seeded rest
    seeded, _ = _init_params(_config(tmp_path, freeze_embeddings=True))
    init, _ = _init_params(cfg, embeddings.read_vectors(path, words, E))
    final = summary["params"]
    for i in range(len(words)):
        expect = want[i] if i in want else seeded["embed"][i]
        np.testing.assert_array_equal(init["embed"][i], expect)
        np.testing.assert_array_equal(final["embed"][i], expect)  # frozen: bitwise
    for a, b in zip(jax.tree.leaves(init["rnn"]) + jax.tree.leaves(init["head"]),
                    jax.tree.leaves(final["rnn"]) + jax.tree.leaves(final["head"])):
        assert not np.array_equal(a, b)  # the rest trained
    # the rest of the init is the seeded one too
    for a, b in zip(jax.tree.leaves(seeded["rnn"]), jax.tree.leaves(init["rnn"])):
        np.testing.assert_array_equal(a, b)


def test_unfrozen_embeddings_train_and_weight_decay_skips_frozen(tmp_path):
    path = _write_vectors(tmp_path / "v.txt")
    cfg = _config(tmp_path, embeddings_path=path)
    summary = train.run(cfg, None, progress=False)
    init, _ = _init_params(cfg, embeddings.read_vectors(
        path, train.build(cfg).sources["train"].vocabulary.words, E))
    assert not np.array_equal(init["embed"], summary["params"]["embed"])
    # adamw with weight decay: a frozen embedding still does not move
    cfg = _config(tmp_path, embeddings_path=path, freeze_embeddings=True)
    cfg["optimizer"] = {"name": "adamw", "weight_decay": 0.5, "learning_rate": 0.05}
    summary = train.run(cfg, None, progress=False)
    init, _ = _init_params(cfg, embeddings.read_vectors(
        path, train.build(cfg).sources["train"].vocabulary.words, E))
    np.testing.assert_array_equal(init["embed"], summary["params"]["embed"])


def test_resume_does_not_read_the_file(tmp_path, capsys):
    path = _write_vectors(tmp_path / "v.txt")
    # frozen: the checkpoint also round-trips the multi_transform optimizer state
    cfg = _config(tmp_path, embeddings_path=path, freeze_embeddings=True)
    cfg["steps"] = 3
    workdir = str(tmp_path / "run")
    first = train.run(cfg, workdir, progress=False)
    assert first["step"] == 3 and "embeddings: 4 of" in capsys.readouterr().out
    os.remove(path)
    cfg["steps"] = 6
    second = train.run(cfg, workdir, progress=False)
    assert second["step"] == 6 and "embeddings:" not in capsys.readouterr().out
    assert second["embeddings"] == first["embeddings"]  # what step 0 read, kept
    # the uninterrupted run gives the same parameters
    _write_vectors(tmp_path / "v.txt")
    whole = train.run(cfg, str(tmp_path / "whole"), progress=False)
    assert whole["params_sha256"] == second["params_sha256"]
    # evaluate and predict need no file either
    os.remove(path)
    params, which = train.load_params(workdir, json.load(open(os.path.join(workdir,
                                                                           "config.json"))))
    assert which == "last@6" and params["embed"].shape[1] == E


def test_configs_without_the_fields_keep_their_fingerprint(tmp_path):
    old = _config(tmp_path)
    fp = schema.fingerprint(schema.resolve_config(old))
    assert "embeddings_path" not in fp["model"] and "freeze_embeddings" not in fp["model"]
    explicit = _config(tmp_path, embeddings_path="", freeze_embeddings=False)
    assert schema.fingerprint(schema.resolve_config(explicit)) == fp
    assert schema.fingerprint(schema.resolve_config(
        _config(tmp_path, embeddings_path="v.txt")))["model"]["embeddings_path"] == "v.txt"
    assert schema.fingerprint(schema.resolve_config(
        _config(tmp_path, freeze_embeddings=True)))["model"]["freeze_embeddings"] is True
    # the committed checkpoints whose config.json this schema reads (older ones predate
    # e.g. the distributed section) still match their run's fingerprint: they resume
    root = os.path.join(os.path.dirname(__file__), "..", "experiments", "results")
    matched = 0
    for meta in sorted(glob.glob(os.path.join(root, "**", "checkpoints", "*", "meta",
                                              "metadata"), recursive=True)):
        run = meta.split(os.sep + "checkpoints" + os.sep)[0]
        try:
            cfg = schema.resolve_config(json.load(open(os.path.join(run, "config.json"))))
        except (OSError, ValueError, TypeError):
            continue
        diffs = checkpoint.diff_fingerprints(json.load(open(meta))["fingerprint"],
                                             schema.fingerprint(cfg))
        assert not diffs, (run, diffs)
        matched += 1
    assert matched
