"""TFDS: synthetic builders read back equal to the generators; mnist/imdb via mock data;
a fast, clear error when a dataset is not prepared and there is no network."""

import time

import numpy as np
import pytest

tfds = pytest.importorskip("tensorflow_datasets")

from lstmjax import data# noqa: E402
from lstmjax.tasks import DataError, synthetic, tfds_builders, tfds_load  # noqa: E402


def _same(a, b):
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) and a[k].dtype == b[k].dtype for k in a)


@pytest.mark.parametrize("name,fields", [
    ("adding", {"length": 40}),
    ("copy_memory", {"length": 10}),
    ("temporal_order", {"variant": "6b"}),
    ("distant_recall", {"gap": 7}),
    ("listops", {"min_length": 10, "max_length": 40}),
])
def test_tfds_build_reads_back_equal_to_generator(tmp_path, name, fields):
    cfg = {"name": name, "num_examples": 30, "num_eval_examples": 10, "seed": 5, **fields}
    for split in ("train", "test"):
        spec_g, gen = data.make_source(cfg, split)
        spec_t, rec = data.make_source({**cfg, "backend": "tfds"}, split, data_dir=str(tmp_path))
        assert spec_g == spec_t and len(gen) == len(rec)
        for i in range(len(gen)):
            assert _same(gen[i], rec[i]), (split, i)


def test_tfds_builder_on_the_fly_config(tmp_path):
    cfg = synthetic.task_config("distant_recall", {"gap": 10})
    b = tfds_builders.builder("distant_recall", cfg, data_dir=str(tmp_path))
    assert b.builder_config.name == "gap10"  # a predefined config
    b2 = tfds_builders.builder("distant_recall", cfg, data_dir=str(tmp_path), num_examples=12, num_eval_examples=4)
    assert b2.builder_config.name == "gap10_n12_e4"  # not predefined: built on the fly
    b2.download_and_prepare(file_format="array_record")
    assert len(b2.as_data_source("train")) == 12 and len(b2.as_data_source("test")) == 4


def test_plain_tfds_data_source_by_name_after_register(tmp_path, monkeypatch):
    """``tfds.data_source("adding/t1000")`` with nothing but TFDS, once the builders are registered."""
    tfds_builders.register()
    # the predefined name resolves to our builder and config without lstmjax in the call
    b = tfds.builder("adding/t1000", data_dir=str(tmp_path))
    assert type(b) is tfds_builders.Adding and b.builder_config.task == synthetic.task_config("adding", {"length": 1000})
    # prepare it small (the predefined sizes are 100k/2k examples) and read it back by name
    config = next(c for c in tfds_builders.Adding.BUILDER_CONFIGS if c.name == "t1000")
    monkeypatch.setattr(config, "num_examples", 6)
    monkeypatch.setattr(config, "num_eval_examples", 3)
    tfds.builder("adding/t1000", data_dir=str(tmp_path)).download_and_prepare(file_format="array_record")
    src = tfds.data_source("adding/t1000", split="validation", data_dir=str(tmp_path))
    assert len(src) == 3
    _, gen = data.make_source({"name": "adding", "length": 1000, "num_eval_examples": 3}, "validation")
    for i in range(3):
        assert _same(tfds_builders._as_example(src[i]), gen[i])


@pytest.mark.parametrize("variant,shape", [("sequential", (784, 1)), ("permuted", (784, 1)), ("rowwise", (28, 28))])
def test_mnist_mock_data(tmp_path, variant, shape):
    with tfds.testing.mock_data(num_examples=6):
        spec, src = data.make_source({"name": "mnist", "variant": variant}, "train", data_dir=str(tmp_path))
        _, seq = data.make_source({"name": "mnist"}, "train", data_dir=str(tmp_path))
        assert len(src) == 6 and spec.num_classes == 10 and spec.max_length == shape[0]
        e = src[0]
        assert e["x"].shape == shape and e["x"].dtype == np.float32 and e["y"].dtype == np.int32
        assert 0.0 <= e["x"].min() and e["x"].max() <= 1.0
        if variant == "permuted":
            from lstmjax.tasks.mnist import permutation
            np.testing.assert_array_equal(e["x"], seq[0]["x"][permutation(0)])
            assert not np.array_equal(permutation(0), permutation(1))
        b = data.batches(src, batch_size=3, seed=0)[0]
        assert b["x"].shape == (3,) + shape


def test_imdb_mock_data_vocabulary_saved_and_reloaded(tmp_path):
    vocab_path = str(tmp_path / "run" / "vocab.json")
    with tfds.testing.mock_data(num_examples=8):
        cfg = {"name": "imdb", "vocab_size": 50, "max_length": 20, "vocab_path": vocab_path}
        spec, src = data.make_source(cfg, "train", data_dir=str(tmp_path))
        assert spec.input_kind == "tokens" and spec.num_classes == 2 and spec.vocab_size <= 50
        e = src[0]
        assert e["x"].dtype == np.int32 and 1 <= len(e["x"]) <= 20 and e["y"] in (0, 1)
        assert e["x"].max() < spec.vocab_size
        from lstmjax.tasks import Vocabulary
        assert Vocabulary.load(vocab_path) == src.vocabulary
        _, test = data.make_source(cfg, "test", data_dir=str(tmp_path))  # loads the saved vocab
        assert test.vocabulary == src.vocabulary
        b = data.batches(test, batch_size=4, seed=0)[1]
        assert b["x"].shape[0] == 4 and b["lengths"].max() == b["x"].shape[1]


def test_not_prepared_offline_fails_fast_and_says_where(tmp_path, monkeypatch):
    monkeypatch.setattr(tfds_load, "_reachable", lambda url, timeout=2.0: False)  # offline, deterministic
    t = time.perf_counter()
    with pytest.raises(DataError) as info:
        data.make_source({"name": "mnist"}, "train", data_dir=str(tmp_path))
    assert time.perf_counter() - t < 5
    msg = str(info.value)
    assert "\n" not in msg  # one line: the CLI prints str(e) and no traceback
    assert str(tmp_path) in msg and f"{tmp_path}/downloads/manual/" in msg
    assert "train-images-idx3-ubyte.gz" in msg


def test_probe_gives_up_quickly_without_an_answer():
    import socket
    import threading
    # a server that accepts the connection and never answers, like a blackholing proxy
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    threading.Thread(target=lambda: server.accept(), daemon=True).start()
    t = time.perf_counter()
    assert not tfds_load._reachable(f"http://127.0.0.1:{port}/x", timeout=1.0)
    assert time.perf_counter() - t < 2.5
    server.close()


def test_fingerprint_of_a_tfds_dataset(tmp_path, monkeypatch):
    with tfds.testing.mock_data(num_examples=6):
        fp = data.fingerprint({"name": "mnist", "variant": "rowwise"}, data_dir=str(tmp_path))
    assert fp["name"] == "mnist" and fp["tfds_name"] == "mnist" and fp["variant"] == "rowwise"
    assert fp["splits"] == {"train": 6, "test": 6} and fp["version"]
    monkeypatch.setattr(tfds_load, "_reachable", lambda url, timeout=2.0: False)
    with pytest.raises(DataError, match="downloads/manual/"):
        data.fingerprint({"name": "mnist"}, data_dir=str(tmp_path))
