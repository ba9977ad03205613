"""scripts/mnist_to_npz.py on a tiny fake mnist.pkl.gz; the result trains through npz_file."""

import gzip
import os
import pickle
import runpy
import sys

import numpy as np
import pytest

from lstmjax import data
from lstmjax.tasks.mnist import permutation

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import mnist_to_npz  # noqa: E402


def _fake(path, sizes=(6, 3, 4)):
    rng = np.random.default_rng(0)
    parts = tuple((rng.uniform(0, 1, (n, 784)).astype(np.float32), np.arange(n) % 10) for n in sizes)
    with gzip.open(path, "wb") as f:
        pickle.dump(parts, f, protocol=2)
    return parts


def test_rowwise_pixels_and_permuted(tmp_path):
    parts = _fake(tmp_path / "mnist.pkl.gz")
    for flags, shape in [([], (28, 28)), (["--pixels"], (784, 1)), (["--permute", "3"], (784, 1))]:
        out = tmp_path / ("out" + "".join(flags))
        assert mnist_to_npz.main(["--input", str(tmp_path / "mnist.pkl.gz"), "--out", str(out)] + flags) == 0
        for split, (images, labels) in zip(("train", "validation", "test"), parts):
            with np.load(out / f"{split}.npz") as z:
                x, y = z["x"], z["y"]
            assert x.dtype == np.float32 and x.shape == (len(labels),) + shape
            assert y.dtype == np.int32 and np.array_equal(y, labels)
            expected = images[:, permutation(3)] if "--permute" in flags else images
            np.testing.assert_array_equal(x.reshape(len(labels), 784), expected)
    # rows are image rows: step t of example i is pixels 28t .. 28t+27
    with np.load(tmp_path / "out" / "train.npz") as z:
        np.testing.assert_array_equal(z["x"][0, 1], parts[0][0][0, 28:56])
    spec, src = data.make_source({"name": "npz_file", "path": str(tmp_path / "out" / "{split}.npz")}, "test")
    assert spec.input_dim == 28 and spec.max_length == 28 and spec.output_kind == "classify"
    assert len(src) == 4 and spec.num_classes == 6  # the fake train split has digits 0-5


def test_validation_holdout_from_the_pooled_60k(tmp_path):
    """--validation N: train + validation pooled, N held out (seeded), disjoint, test kept."""
    parts = _fake(tmp_path / "mnist.pkl.gz", sizes=(8, 4, 3))
    pooled = np.concatenate([parts[0][0], parts[1][0]])
    outs = {}
    for seed in (0, 0, 1):
        out = tmp_path / f"v{seed}"
        assert mnist_to_npz.main(["--input", str(tmp_path / "mnist.pkl.gz"), "--out", str(out),
                                  "--pixels", "--validation", "5", "--seed", str(seed)]) == 0
        z = {s: dict(np.load(out / f"{s}.npz")) for s in ("train", "validation", "test")}
        assert [len(z[s]["y"]) for s in z] == [7, 5, 3]
        rows = lambda s: [pooled.tolist().index(r) for r in z[s]["x"].reshape(-1, 784).tolist()]
        train, val = rows("train"), rows("validation")
        assert sorted(train + val) == list(range(12)) and train == sorted(train)
        np.testing.assert_array_equal(z["test"]["x"].reshape(3, 784), parts[2][0])
        outs.setdefault(seed, []).append(val)
    assert outs[0][0] == outs[0][1] and outs[0][0] != outs[1][0]  # seeded
    with pytest.raises(SystemExit, match="--validation 12: must be in"):
        mnist_to_npz.main(["--input", str(tmp_path / "mnist.pkl.gz"), "--out",
                           str(tmp_path / "bad"), "--validation", "12"])


def test_refuses_a_pickle_that_would_run_code(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    with gzip.open(tmp_path / "evil.pkl.gz", "wb") as f:
        pickle.dump((Evil(), None, None), f, protocol=2)
    with pytest.raises(SystemExit, match=r"refusing to load (posix|os)\.system"):
        mnist_to_npz.main(["--input", str(tmp_path / "evil.pkl.gz"), "--out", str(tmp_path / "o")])
    assert not marker.exists()


def test_bad_input_file(tmp_path):
    (tmp_path / "x.pkl.gz").write_bytes(b"not gzip")
    with pytest.raises(SystemExit, match="not a readable mnist.pkl.gz"):
        mnist_to_npz.main(["--input", str(tmp_path / "x.pkl.gz"), "--out", str(tmp_path / "o")])


def test_runs_as_a_script(tmp_path, monkeypatch, capsys):
    _fake(tmp_path / "m.pkl.gz", sizes=(2, 2, 2))
    monkeypatch.setattr(sys, "argv", ["mnist_to_npz.py", "--input", str(tmp_path / "m.pkl.gz"),
                                      "--out", str(tmp_path / "o"), "--pixels"])
    with pytest.raises(SystemExit) as info:
        runpy.run_path(os.path.join(ROOT, "scripts", "mnist_to_npz.py"), run_name="__main__")
    assert info.value.code == 0 and "train.npz: x (2, 784, 1)" in capsys.readouterr().out
