"""The training data order, as docs/data.md and lstmjax/data.py document it.

"Epoch e is a permutation of the source drawn from (seed, e); step s is batch
s mod steps_per_epoch of epoch s // steps_per_epoch. With bucket=True each window of
bucket_window batches of that permutation is sorted by length before being cut into
batches, and the batches of the epoch are then shuffled again."

Checked here on the batches themselves (which examples, which lengths), against the
unbucketed order of the same seed, without reading BatchPlan's code paths.
"""

import numpy as np
import pytest

from lstmjax import data

N, BS, WINDOW = 203, 8, 4  # 25 full batches per epoch, 3 examples dropped


class _Source:
    def __init__(self, n=N, seed=0):
        rng = np.random.default_rng(seed)
        self.lens = rng.integers(1, 60, n)

    def __len__(self):
        return len(self.lens)

    def __getitem__(self, i):
        length = int(self.lens[i])
        # x carries the example's index at every step: a batch names its examples
        return {"x": np.full((length, 1), i, np.float32), "y": np.int32(i % 3)}


def _ids(batch):
    return tuple(int(v) for v in batch["x"][:, 0, 0])


def _epoch(ds, e, spe=N // BS):
    return [_ids(ds[e * spe + i]) for i in range(spe)]


def _check_epoch_covers(batches):
    flat = [i for b in batches for i in b]
    assert all(len(b) == BS for b in batches)
    assert len(flat) == len(set(flat)) == N - N % BS  # each example at most once


@pytest.mark.parametrize("bucket", [False, True])
def test_each_epoch_is_a_new_permutation(bucket):
    src = _Source()
    ds = data.batches(src, batch_size=BS, seed=11, bucket=bucket, bucket_window=WINDOW)
    epochs = [_epoch(ds, e) for e in range(3)]
    for batches in epochs:
        _check_epoch_covers(batches)
    for a in range(3):
        for b in range(a + 1, 3):
            # other batches, not only another order of the same batches
            assert set(map(frozenset, epochs[a])) != set(map(frozenset, epochs[b]))
            assert epochs[a] != epochs[b]
            # and other dropped examples (the remainder is drawn per epoch too)
            assert {i for x in epochs[a] for i in x} != {i for x in epochs[b] for i in x}


@pytest.mark.parametrize("bucket", [False, True])
def test_order_is_a_pure_function_of_seed_and_step(bucket):
    src = _Source()
    kw = {"batch_size": BS, "bucket": bucket, "bucket_window": WINDOW}
    a = data.batches(src, seed=5, **kw)
    steps = [0, 1, 24, 25, 26, 77, 3 * 25 + 4]
    first = [_ids(a[s]) for s in steps]
    b = data.batches(src, seed=5, **kw)  # a fresh pipeline, visited backwards
    assert [_ids(b[s]) for s in reversed(steps)] == first[::-1]
    it = data.iterator(data.batches(src, seed=5, **kw), start_step=25)  # a resumed run
    assert _ids(next(it)) == _ids(a[25])
    other = data.batches(src, seed=6, **kw)
    assert [_ids(other[s]) for s in steps] != first


def test_bucketed_windows_are_sorted_runs_of_the_unbucketed_permutation():
    """Each bucketed batch lies inside one window of WINDOW consecutive batches of the
    unbucketed permutation of its epoch; inside a window the batches are consecutive runs
    of the examples sorted by length; the epoch's batches are then shuffled (not sorted)."""
    src = _Source()
    plain = data.batches(src, batch_size=BS, seed=3)
    bucketed = data.batches(src, batch_size=BS, seed=3, bucket=True, bucket_window=WINDOW)
    for e in range(3):
        windows = []
        flat = [i for b in _epoch(plain, e) for i in b]
        for start in range(0, len(flat), BS * WINDOW):
            windows.append(flat[start:start + BS * WINDOW])
        by_window = {w: [] for w in range(len(windows))}
        batches = _epoch(bucketed, e)
        for pos, b in enumerate(batches):
            homes = [w for w, members in enumerate(windows) if set(b) <= set(members)]
            assert len(homes) == 1, f"epoch {e}: batch {b} spans windows"
            by_window[homes[0]].append(b)
        for w, members in enumerate(windows):
            got = sorted(by_window[w], key=lambda b: (src.lens[list(b)].max(), min(b)))
            lens = [sorted(src.lens[list(b)]) for b in got]
            for prev, nxt in zip(lens, lens[1:]):
                assert prev[-1] <= nxt[0], f"epoch {e}, window {w}: lengths overlap"
            assert sorted(i for b in got for i in b) == sorted(members)
        # the batches of an epoch are shuffled, not laid out window by window
        order = [next(w for w, bs in by_window.items() if b in bs) for b in batches]
        assert order != sorted(order)
        mean_len = [src.lens[list(b)].mean() for b in batches]
        assert mean_len != sorted(mean_len)
    # bucketing pads less: the summed batch maxima fall well below the unbucketed ones
    pad = sum(src.lens[list(b)].max() for b in _epoch(bucketed, 0))
    pad_plain = sum(src.lens[list(b)].max() for b in _epoch(plain, 0))
    assert pad < 0.8 * pad_plain


def test_collate_pads_right_with_zeros_and_keeps_lengths():
    src = _Source(n=16)
    ds = data.batches(src, batch_size=4, seed=0, pad_multiple=8)
    b = ds[0]
    ids = _ids(b)
    lengths = src.lens[list(ids)]
    np.testing.assert_array_equal(b["lengths"], lengths)
    assert b["x"].shape[1] == -(-lengths.max() // 8) * 8
    for row, (i, n) in enumerate(zip(ids, lengths)):
        assert np.all(b["x"][row, :n, 0] == i) and np.all(b["x"][row, n:] == 0)
    np.testing.assert_array_equal(b["weight"], 1.0)
    fixed = data.batches(src, batch_size=4, seed=0, pad_to=70)[0]
    assert fixed["x"].shape[1] == 70


def test_eval_batches_cover_every_example_once_in_order_with_weightless_fillers():
    src = _Source(n=19)
    ds = data.eval_batches(src, batch_size=8)
    assert len(ds) == 3
    seen = []
    for b in ds:
        real = b["weight"] > 0
        assert b["x"].shape[0] == 8
        np.testing.assert_array_equal(b["index"][~real], -1)
        seen += [int(v) for v in b["index"][real]]
        # filler rows copy the batch's first example (valid shapes), weight 0
        for r in np.flatnonzero(~real):
            np.testing.assert_array_equal(b["x"][r], b["x"][0])
        np.testing.assert_array_equal(_ids(b)[:int(real.sum())], b["index"][real])
    assert seen == list(range(19))
    assert sum(float(b["weight"].sum()) for b in ds) == 19


def test_finite_stream_keeps_the_remainder():
    src = _Source(n=19)
    ds = data.batches(src, batch_size=8, seed=1, num_epochs=2)
    assert len(ds) == 6
    for e in range(2):
        flat = [i for s in range(3 * e, 3 * e + 3) for i in _ids(ds[s])]
        assert sorted(flat) == list(range(19))
    assert [_ids(ds[s]) for s in range(3)] != [_ids(ds[s]) for s in range(3, 6)]
    ordered = data.batches(src, batch_size=8, seed=1, num_epochs=1, shuffle=False)
    assert [i for s in range(3) for i in _ids(ordered[s])] == list(range(19))


def test_boundaries_a_batch_of_the_whole_source_and_pad_to_the_longest():
    src = _Source(n=BS)
    ds = data.batches(src, batch_size=BS, seed=0)  # one batch per epoch, the whole source
    assert sorted(_ids(ds[0])) == list(range(BS)) and sorted(_ids(ds[1])) == list(range(BS))
    longest = int(src.lens.max())
    b = data.batches(src, batch_size=BS, seed=0, pad_to=longest)[0]  # exactly the longest
    assert b["x"].shape[1] == longest


class _Spec:  # the three fields of a TaskSpec that prepare_batch reads
    def __init__(self, input_kind, output_kind, max_length):
        self.input_kind, self.output_kind, self.max_length = input_kind, output_kind, max_length


def _raw_batch(t=5, with_mask=True):
    b = {"x": np.arange(1, 2 * t * 3 + 1, dtype=np.float64).reshape(2, t, 3),
         "y": np.arange(1, 2 * t + 1).reshape(2, t), "lengths": [t, 3],
         "weight": [1, 0]}
    if with_mask:
        b["mask"] = np.ones((2, t), np.int64)
    return b


def _zero_padded(a, t):
    out = np.zeros((a.shape[0], t) + a.shape[2:], a.dtype)
    out[:, :a.shape[1]] = a
    return out


def test_prepare_batch_pads_time_right_with_zeros_to_the_task_length():
    """pad_to="max_length": x, mask (and a per-step y) right-padded with zeros to
    spec.max_length; lengths int32, mask and weight float32, feature x float32."""
    raw = _raw_batch()
    out = data.prepare_batch(raw, _Spec("features", "classify_per_step", 7), "max_length")
    assert out["x"].dtype == np.float32 and out["x"].shape == (2, 7, 3)
    np.testing.assert_array_equal(out["x"], _zero_padded(raw["x"], 7))
    np.testing.assert_array_equal(out["mask"], _zero_padded(raw["mask"], 7))
    assert out["mask"].dtype == np.float32
    np.testing.assert_array_equal(out["y"], _zero_padded(raw["y"], 7))
    assert out["lengths"].dtype == np.int32 and list(out["lengths"]) == [5, 3]
    assert out["weight"].dtype == np.float32 and list(out["weight"]) == [1.0, 0.0]
    # a per-sequence target is not padded; a batch without a mask gets none
    out = data.prepare_batch(_raw_batch(with_mask=False), _Spec("features", "classify", 7),
                             "max_length")
    np.testing.assert_array_equal(out["y"], raw["y"])
    assert "mask" not in out and out["x"].shape == (2, 7, 3)


def test_prepare_batch_leaves_time_alone_otherwise():
    """Another pad_to, or a batch already spec.max_length long, keeps the batch's own T;
    token ids keep their integer dtype."""
    raw = _raw_batch()
    for spec, pad_to in [(_Spec("features", "classify_per_step", 7), "batch"),
                         (_Spec("features", "classify_per_step", 5), "max_length")]:
        out = data.prepare_batch(raw, spec, pad_to)
        np.testing.assert_array_equal(out["x"], raw["x"].astype(np.float32))
        np.testing.assert_array_equal(out["y"], raw["y"])
        np.testing.assert_array_equal(out["mask"], raw["mask"])
    tokens = dict(raw, x=np.arange(10, dtype=np.int32).reshape(2, 5))
    out = data.prepare_batch(tokens, _Spec("tokens", "classify", 7), "max_length")
    assert out["x"].dtype == np.int32
    np.testing.assert_array_equal(out["x"], _zero_padded(tokens["x"], 7))


def test_collate_keeps_a_per_sequence_target_and_pads_a_per_step_one():
    """y of shape [] per example stacks to [B]; y of shape [T] (and a mask) is right-padded
    with zeros to [B, T] like x."""
    src = _Source(n=16)
    b = data.batches(src, batch_size=4, seed=0)[0]
    ids = np.array(_ids(b))
    assert b["y"].shape == (4,)
    np.testing.assert_array_equal(b["y"], ids % 3)
    per_step = [{"x": np.ones((n, 1), np.float32), "y": np.arange(1, n + 1),
                 "mask": np.ones(n, np.float32)} for n in (2, 4, 3)]
    b = data.collate(per_step)
    want = np.array([[1, 2, 0, 0], [1, 2, 3, 4], [1, 2, 3, 0]])
    np.testing.assert_array_equal(b["y"], want)
    np.testing.assert_array_equal(b["mask"], want > 0)


def test_a_batch_of_one_example():
    """batch_size=1 is accepted: every step is one example, each epoch a permutation."""
    src = _Source(n=9)
    ds = data.batches(src, batch_size=1, seed=3)
    first = [_ids(ds[s]) for s in range(9)]
    assert all(len(b) == 1 for b in first)
    assert sorted(i for (i,) in first) == list(range(9))
