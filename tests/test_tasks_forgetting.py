"""The forgetting task ``last_clue``: layout, label, determinism, validation, learnability."""

import numpy as np
import pytest

from lstmjax import train
from lstmjax.tasks import last_clue, make_task, synthetic
from lstmjax.tasks.spec import split_seed


def _examples(n, split="train", **fields):
    spec, src = make_task({"name": "last_clue", **fields}, split)
    return spec, [src[i] for i in range(n)]


def _bytes(examples):
    return b"".join(v.tobytes() for e in examples for v in e.values())


def test_registered_with_defaults():
    cfg = synthetic.task_config("last_clue", {})
    assert cfg == last_clue.LastClueConfig(length=50, num_clues=8, num_writes=4, num_distractors=32)
    assert synthetic.config_name("last_clue", cfg) == "t50"
    assert synthetic.config_name("last_clue", last_clue.LastClueConfig(length=200, num_writes=6)) == "t200_writes6"


def test_deterministic_per_seed_split_index():
    _, a = _examples(20, seed=1, length=30)
    _, b = _examples(20, seed=1, length=30)
    _, c = _examples(20, seed=2, length=30)
    assert _bytes(a) == _bytes(b)
    assert _bytes(a) != _bytes(c)
    cfg = last_clue.LastClueConfig(length=30)
    one = last_clue.example(cfg, split_seed(1, "train"), 7)  # random access: index alone decides
    assert _bytes([one]) == _bytes([a[7]])


def test_train_validation_and_test_differ():
    keys = {s: {e["x"].tobytes() for e in _examples(50, s, seed=1)[1]} for s in ("train", "validation", "test")}
    assert not keys["train"] & keys["validation"]
    assert not keys["train"] & keys["test"]
    assert not keys["validation"] & keys["test"]


@pytest.mark.parametrize("fields", [{}, {"length": 12, "num_clues": 5, "num_writes": 5, "num_distractors": 3},
                                    {"length": 3, "num_clues": 2, "num_writes": 2}])
def test_layout_and_label_is_the_last_clue(fields):
    spec, exs = _examples(400, **fields)
    cfg = last_clue.LastClueConfig(**fields)
    c, k = cfg.num_clues, cfg.num_writes
    assert spec.name == "last_clue" and spec.input_kind == "tokens" and spec.output_kind == "classify"
    assert spec.max_length == cfg.length and spec.num_classes == c and spec.vocab_size == 2 + c + cfg.num_distractors
    for e in exs:
        x, y = e["x"], e["y"]
        assert x.dtype == np.int32 and x.shape == (cfg.length,) and y.dtype == np.int32 and y.shape == ()
        assert x[-1] == last_clue.QUERY and np.all(x[:-1] != last_clue.QUERY) and np.all(x > 0)
        assert x.max() < spec.vocab_size
        is_clue = (x >= last_clue.FIRST_CLUE) & (x < last_clue.FIRST_CLUE + c)
        pos = np.flatnonzero(is_clue)
        assert len(pos) == k, "exactly num_writes clues"
        values = x[pos] - last_clue.FIRST_CLUE
        assert len(set(values.tolist())) == k, "the clues of a sequence are distinct"
        assert y == values[-1], "the label is the value of the last clue"
    counts = np.bincount([int(e["y"]) for e in exs], minlength=c) / len(exs)
    assert np.all(np.abs(counts - 1 / c) < 0.07)


def test_clue_order_is_uniform_so_the_set_of_clues_does_not_give_the_answer():
    _, exs = _examples(2000, length=20, num_writes=3)
    rank = []  # where the answer sits among the sequence's clues sorted by value
    for e in exs:
        x = e["x"]
        values = sorted((x[(x >= 2) & (x < 10)] - 2).tolist())
        rank.append(values.index(int(e["y"])))
    freq = np.bincount(rank, minlength=3) / len(rank)
    assert np.all(np.abs(freq - 1 / 3) < 0.04)


def test_chance():
    assert make_task({"name": "last_clue"})[0].chance == 1 / 8
    assert make_task({"name": "last_clue", "num_clues": 5})[0].chance == 1 / 5


@pytest.mark.parametrize("fields,match", [
    ({"num_writes": 1}, "last_clue: num_writes=1; must be >= 2"),
    ({"length": 4}, "last_clue: length=4; must be >= num_writes \\+ 1 = 5"),
    ({"num_clues": 1, "num_writes": 2}, "last_clue: num_clues=1; must be >= 2"),
    ({"num_clues": 3}, "last_clue: num_writes=4; must be <= num_clues=3"),
    ({"num_distractors": 0}, "last_clue: num_distractors=0; must be >= 1"),
    ({"gap": 10}, "last_clue: unknown field 'gap'.*length"),
])
def test_field_errors_name_the_field(fields, match):
    with pytest.raises(ValueError, match=match) as info:
        make_task({"name": "last_clue", **fields})
    assert "\n" not in str(info.value)


def test_tfds_build_reads_back_equal_to_generator(tmp_path):
    pytest.importorskip("tensorflow_datasets")
    cfg = {"name": "last_clue", "length": 9, "num_examples": 12, "num_eval_examples": 4, "seed": 3}
    for split in ("train", "test"):
        spec_g, gen = make_task(cfg, split)
        spec_t, rec = make_task({**cfg, "backend": "tfds"}, split, data_dir=str(tmp_path))
        assert spec_g == spec_t and len(gen) == len(rec)
        for i in range(len(gen)):
            assert _bytes([gen[i]]) == _bytes([rec[i]]) and rec[i]["y"].dtype == np.int32


@pytest.mark.slow
def test_a_small_lstm_learns_it():
    config = {"seed": 0, "data": {"name": "last_clue", "length": 20, "num_eval_examples": 500},
              "steps": 300, "batch_size": 32, "model": {"hidden_size": 32, "embed_dim": 8},
              "optimizer": {"learning_rate": 3e-3}, "eval_every": 100}
    summary = train.run(config, None, progress=False)
    assert summary["final_eval"]["accuracy"] > 0.5  # chance 0.125; order-blind 0.25
