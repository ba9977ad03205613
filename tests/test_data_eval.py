"""Full-split evaluation batches and data fingerprints."""

import json

import numpy as np
import pytest

from lstmjax import data
from lstmjax.tasks import DataError
from lstmjax.tasks.spec import ArraySource


def _src(n):
    return ArraySource([{"x": np.arange(1, i % 5 + 2, dtype=np.int32), "y": np.int32(i)} for i in range(n)])


@pytest.mark.parametrize("n,batch_size,multiple_of", [(10, 4, 1), (8, 4, 2), (1, 8, 8), (37, 6, 3), (5, 5, 1)])
def test_eval_batches_cover_every_example_once_in_order(n, batch_size, multiple_of):
    src = _src(n)
    ds = data.eval_batches(src, batch_size=batch_size, multiple_of=multiple_of)
    batches = list(ds)
    assert len(batches) == len(ds) == -(-n // batch_size)
    weights = np.concatenate([b["weight"] for b in batches])
    index = np.concatenate([b["index"] for b in batches])
    assert all(b["weight"].dtype == np.float32 and b["weight"].shape == (batch_size,) for b in batches)
    assert all(b["x"].shape[0] == batch_size for b in batches)
    assert weights.sum() == n == len(src)
    np.testing.assert_array_equal(index[weights == 1], np.arange(n))  # each once, in order
    assert np.all(index[weights == 0] == -1) and np.all(weights[n:] == 0) and np.all(weights[:n] == 1)
    # real rows are the examples themselves; y identifies them here
    ys = np.concatenate([b["y"] for b in batches])
    np.testing.assert_array_equal(ys[:n], np.arange(n))
    # filler rows are valid examples (lengths >= 1), so a model runs on them unchanged
    assert np.concatenate([b["lengths"] for b in batches]).min() >= 1


def test_eval_batches_padding_and_errors():
    src = _src(7)
    ds = data.eval_batches(src, batch_size=4, pad_to=16)
    assert all(b["x"].shape == (4, 16) for b in ds)
    assert data.eval_batches(src, batch_size=4, pad_multiple=8)[0]["x"].shape == (4, 8)
    with pytest.raises(ValueError, match="batch_size=6 is not a multiple of 4"):
        data.eval_batches(src, batch_size=6, multiple_of=4)
    with pytest.raises(ValueError, match="batch_size=0"):
        data.eval_batches(src, batch_size=0)


def test_eval_batches_on_a_synthetic_split_with_per_step_targets():
    _, src = data.make_source({"name": "copy_memory", "length": 5, "num_eval_examples": 11}, "test")
    batches = list(data.eval_batches(src, batch_size=4))
    assert sum(b["weight"].sum() for b in batches) == 11
    assert batches[-1]["mask"].shape == (4, 25)
    np.testing.assert_array_equal(batches[1]["x"][0], src[4]["x"])


def test_training_batches_carry_unit_weights():
    b = data.batches(_src(10), batch_size=4, seed=0)[0]
    assert b["weight"].dtype == np.float32 and np.all(b["weight"] == 1.0)


def test_fingerprint_of_files_changes_with_their_bytes(tmp_path):
    (tmp_path / "train.csv").write_text("text,label\na,0\nb,1\n")
    (tmp_path / "test.csv").write_text("text,label\nc,0\n")
    cfg = {"name": "text_file", "path": str(tmp_path / "{split}.csv"), "vocab_path": str(tmp_path / "v.json")}
    fp = data.fingerprint(cfg)
    assert set(fp) == {str(tmp_path / "train.csv"), str(tmp_path / "test.csv")}  # not the vocab file
    assert all(len(h) == 64 for h in fp.values()) and json.loads(json.dumps(fp)) == fp
    data.make_source(cfg, "train")  # writes the vocab file: the fingerprint does not move
    assert data.fingerprint(cfg) == fp
    (tmp_path / "test.csv").write_text("text,label\nd,0\n")  # same size, other bytes
    assert data.fingerprint(cfg) != fp

    x = np.zeros((4, 3, 2), np.float32)
    np.savez(tmp_path / "d.npz", x=x, y=np.array([0, 1, 0, 1]))
    npz = {"name": "npz_file", "path": str(tmp_path / "d.npz")}
    fp = data.fingerprint(npz)
    np.savez(tmp_path / "d.npz", x=x + 1, y=np.array([0, 1, 0, 1]))  # same shape, other data
    assert data.fingerprint(npz) != fp
    with pytest.raises(DataError, match="no such file"):
        data.fingerprint({**npz, "test_path": str(tmp_path / "missing.npz")})


def test_fingerprint_of_synthetic_tasks_is_their_generating_fields():
    fp = data.fingerprint({"name": "adding", "length": 50, "seed": 2})
    assert fp == {"name": "adding", "length": 50, "variant": "original", "seed": 2,
                  "num_examples": 100_000, "num_eval_examples": 2_000}
    assert data.fingerprint({"name": "adding", "length": 50, "seed": 2, "backend": "tfds"}) == fp
    assert data.fingerprint({"name": "adding", "length": 50, "seed": 3}) != fp
    assert json.loads(json.dumps(fp)) == fp
