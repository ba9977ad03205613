"""Synthetic tasks: determinism and statistics that match each task's specification."""

import math

import numpy as np
import pytest

from lstmjax.tasks import make_task
from lstmjax.tasks import adding, copy_memory, distant_recall, listops, temporal_order
from lstmjax.tasks.spec import split_seed

NAMES = ["adding", "copy_memory", "temporal_order", "distant_recall", "listops"]
SMALL = {"listops": {"min_length": 20, "max_length": 100}}


def _examples(name, n, split="train", **fields):
    spec, src = make_task({"name": name, **SMALL.get(name, {}), **fields}, split)
    return spec, [src[i] for i in range(n)]


def _bytes(examples):
    return b"".join(v.tobytes() for e in examples for v in e.values())


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_bytes_different_seed_different(name):
    _, a = _examples(name, 20, seed=1)
    _, b = _examples(name, 20, seed=1)
    _, c = _examples(name, 20, seed=2)
    _, d = _examples(name, 20, "test", seed=1)
    assert _bytes(a) == _bytes(b)
    assert _bytes(a) != _bytes(c)
    assert _bytes(a) != _bytes(d), "train and test must be different streams"


@pytest.mark.parametrize("name", NAMES)
def test_train_validation_and_test_are_different_examples(name):
    splits = {s: _examples(name, 20, s, seed=1)[1] for s in ("train", "validation", "test")}
    keys = {s: {v["x"].tobytes() for v in exs} for s, exs in splits.items()}
    assert not keys["validation"] & keys["test"], "validation and test share examples"
    assert not keys["train"] & keys["validation"] and not keys["train"] & keys["test"]
    assert len({split_seed(1, s) for s in ("train", "validation", "test")}) == 3


@pytest.mark.parametrize("name", NAMES)
def test_examples_match_spec(name):
    spec, exs = _examples(name, 50)
    for e in exs:
        t = len(e["x"])
        assert 1 <= t <= spec.max_length
        if spec.input_kind == "tokens":
            assert e["x"].dtype == np.int32 and e["x"].shape == (t,)
            assert 0 <= e["x"].min() and e["x"].max() < spec.vocab_size
        else:
            assert e["x"].dtype == np.float32 and e["x"].shape == (t, spec.input_dim)
        if spec.output_kind == "classify":
            assert e["y"].dtype == np.int32 and e["y"].shape == () and 0 <= e["y"] < spec.num_classes
        elif spec.output_kind == "regress":
            assert e["y"].dtype == np.float32 and e["y"].shape == ()
        else:
            assert e["y"].shape == (t,) and e["mask"].shape == (t,) and e["y"].max() < spec.num_classes


def test_adding_original_statistics():
    spec, exs = _examples("adding", 400, length=100)
    assert spec.tolerance == 0.04 and spec.max_length == 110
    for e in exs:
        values, markers = e["x"][:, 0], e["x"][:, 1]
        t = len(values)
        assert 100 <= t <= 110
        marked = np.flatnonzero(markers == 1.0)
        assert len(marked) == 2
        assert marked[0] < 10 and marked[1] < 100 // 2 - 1
        assert np.all((markers == 0) | (markers == 1) | (markers == -1))
        assert markers[-1] == -1 and (markers[0] == -1 or marked[0] == 0)
        assert np.all((-1 <= values) & (values <= 1))
        np.testing.assert_allclose(e["y"], 0.5 + values[marked].sum() / 4, rtol=1e-6)
        assert 0 <= e["y"] <= 1
    lengths = [len(e["x"]) for e in exs]
    assert min(lengths) == 100 and max(lengths) == 110
    ys = np.array([e["y"] for e in exs])
    assert abs(ys.mean() - 0.5) < 0.02 and abs(ys.var() - spec.baseline_loss) < 0.01


def test_adding_simplified_statistics():
    spec, exs = _examples("adding", 300, length=50, variant="simplified")
    for e in exs:
        values, markers = e["x"][:, 0], e["x"][:, 1]
        assert len(values) == 50 and np.all((0 <= values) & (values <= 1))
        marked = np.flatnonzero(markers)
        assert len(marked) == 2 and marked[0] < 25 <= marked[1]
        np.testing.assert_allclose(e["y"], values[marked].sum(), rtol=1e-6)
    ys = np.array([e["y"] for e in exs])
    assert abs(ys.mean() - 1.0) < 0.06 and abs(ys.var() - 1 / 6) < 0.04


def test_adding_length_fn_matches_examples():
    cfg = adding.AddingConfig(length=200)
    assert [adding.length(cfg, 3, i) for i in range(30)] == [len(adding.example(cfg, 3, i)["x"]) for i in range(30)]


def test_copy_memory_layout_and_baseline():
    spec, exs = _examples("copy_memory", 50, length=30)
    assert math.isclose(spec.baseline_loss, 10 * math.log(8) / 50)
    counts = np.zeros(9)
    for e in exs:
        x, y = e["x"], e["y"]
        assert len(x) == 50
        assert np.all((1 <= x[:10]) & (x[:10] <= 8))
        assert np.all(x[10:39] == 0) and x[39] == 9 and np.all(x[40:] == 0)
        assert np.all(y[:40] == 0) and np.array_equal(y[40:], x[:10])
        counts += np.bincount(x[:10], minlength=9)
    freq = counts[1:] / counts[1:].sum()
    assert np.all(np.abs(freq - 1 / 8) < 0.04)


@pytest.mark.parametrize("variant,k", [("6a", 2), ("6b", 3)])
def test_temporal_order(variant, k):
    spec, exs = _examples("temporal_order", 800, variant=variant)
    cfg = temporal_order.TemporalOrderConfig(variant=variant)
    assert spec.num_classes == 2 ** k
    for e in exs:
        x = e["x"]
        assert 100 <= len(x) <= 110 and x[0] == temporal_order.B and x[-1] == temporal_order.E
        pos = np.flatnonzero((x == temporal_order.X) | (x == temporal_order.Y))
        assert len(pos) == k
        for p, (lo, hi) in zip(pos, temporal_order.windows(cfg)):
            assert lo <= p <= hi
        bits = (x[pos] == temporal_order.Y).astype(int)
        assert e["y"] == int("".join(map(str, bits)), 2)
    counts = np.bincount([int(e["y"]) for e in exs], minlength=2 ** k) / len(exs)
    assert np.all(np.abs(counts - 1 / 2 ** k) < 0.05)
    assert temporal_order.windows(cfg)[0] == (9, 19)  # paper's 1-based [10, 20]


def test_distant_recall():
    spec, exs = _examples("distant_recall", 800, gap=30, num_clues=4)
    assert spec.max_length == 32 and spec.chance == 0.25
    for e in exs:
        x = e["x"]
        assert len(x) == 32
        assert x[0] == distant_recall.FIRST_CLUE + e["y"]
        assert x[-1] == distant_recall.QUERY
        assert np.all(x[1:-1] >= distant_recall.FIRST_CLUE + 4)  # distractors never look like a clue
    counts = np.bincount([int(e["y"]) for e in exs], minlength=4) / len(exs)
    assert np.all(np.abs(counts - 0.25) < 0.05)


def _eval_listops(tokens):
    """Independent evaluator of the prefix expression, from the decoded text."""
    stack = []
    for tok in tokens:
        if tok.startswith("["):
            stack.append((tok, []))
        elif tok == "]":
            op, args = stack.pop()
            v = {"[MIN": min, "[MAX": max, "[MED": lambda a: int(np.median(a)),
                 "[SM": lambda a: sum(a) % 10}[op](args)
            stack[-1][1].append(v) if stack else stack.append(("=", [v]))
        else:
            stack[-1][1].append(int(tok))
    return stack[0][1][0]


def test_listops():
    spec, exs = _examples("listops", 100)
    assert spec.num_classes == 10
    for e in exs:
        assert 20 <= len(e["x"]) <= 100
        assert _eval_listops(listops.decode(e["x"]).split()) == e["y"]
    assert len({int(e["y"]) for e in exs}) >= 8


def test_config_errors_name_field_and_accepted_values():
    with pytest.raises(ValueError, match="variant='6c'.*6a"):
        make_task({"name": "temporal_order", "variant": "6c"})
    with pytest.raises(ValueError, match="unknown field 'lenght'.*length"):
        make_task({"name": "adding", "lenght": 10})
    with pytest.raises(ValueError, match="backend='tf'.*generator"):
        make_task({"name": "adding", "backend": "tf"})
    with pytest.raises(ValueError, match="split='dev'"):
        make_task({"name": "adding"}, "dev")
    with pytest.raises(ValueError, match="name='foo'.*adding"):
        make_task({"name": "foo"})
    with pytest.raises(ValueError, match="min_length"):
        make_task({"name": "listops", "min_length": 50, "max_length": 10})


def test_config_dict_accepted():
    ml_collections = pytest.importorskip("ml_collections")
    cfg = ml_collections.ConfigDict({"name": "distant_recall", "gap": 5})
    spec, src = make_task(cfg, "validation")
    assert spec.max_length == 7 and len(src) == 2000


def test_split_seeds_differ():
    assert len({split_seed(0, s) for s in ("train", "validation", "test")}) == 3
