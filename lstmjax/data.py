"""Input pipeline: padded batches whose order is a pure function of (seed, step).

    spec, source = make_source({"name": "adding", "length": 200}, "train")
    ds = batches(source, batch_size=64, seed=0)      # grain.MapDataset; ds[s] = batch of step s
    it = iterator(ds)                                # threaded prefetch, exact get/set_state
    batch = next(it)                                 # {"x": [B, T, ...], "lengths": [B], "y": ...}
    state = it.get_state(); ...; it2 = iterator(ds); it2.set_state(state)  # same next batches
    per_device = split_for_devices(batch, jax.local_device_count())  # [D, B/D, ...]

    for batch in eval_batches(val_source, batch_size=64):  # every example once, in order
        ...  # weight-sum the metrics: batch["weight"] is 0.0 on filler rows

    fingerprint(data_config)   # {file: sha256} / generating fields: store with a run

Order: epoch ``e`` is a permutation of the source drawn from ``(seed, e)``; step ``s`` is
batch ``s mod steps_per_epoch`` of epoch ``s // steps_per_epoch``. With ``bucket=True``
each window of ``bucket_window`` batches of that permutation is sorted by length before
being cut into batches, and the batches of the epoch are then shuffled again, so batches
hold similar lengths (less padding) and the order is still a pure function of (seed, s).
A resumed run therefore needs only the step (or the iterator state) to continue exactly.

Measure it against a training step with ``python -m experiments.data_speed`` (docs/data.md).
"""

from __future__ import annotations

import functools
import sys
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

if TYPE_CHECKING:  # annotations only; _grain() imports it when it is used
    import grain

from lstmjax.tasks import TaskSpec, make_task
from lstmjax.tasks import fingerprint as _task_fingerprint


def _grain():
    """``grain``, imported when batches are first built: with the orbax it imports, about
    0.5 s that a command printing its help or an error first need not pay."""
    import grain
    return grain


def make_source(data_config: Mapping[str, Any], split: str = "train", data_dir: str | None = None
                ) -> tuple[TaskSpec, Any]:
    """``(TaskSpec, random-access source)`` for a data config (see ``lstmjax.tasks.make_task``).

    Args:
      data_config: mapping with ``name`` (one of ``lstmjax.tasks.NAMES``) and task fields.
      split: ``"train"``, ``"validation"`` or ``"test"``.
      data_dir: TFDS data dir for TFDS-backed tasks; ``None`` = ``$TFDS_DATA_DIR`` or
        ``~/tensorflow_datasets``.
    """
    return make_task(data_config, split, data_dir)


def fingerprint(data_config: Mapping[str, Any], data_dir: str | None = None) -> dict:
    """What identifies a task's data; store it with a run and refuse a resume where it differs.

    ``text_file`` / ``npz_file``: ``{file path: sha256 hex of its bytes}`` for every file the
    task reads (train, validation, test). Synthetic tasks: their generating fields
    (``{"name", <task fields>, "seed", "num_examples", "num_eval_examples"}``; examples
    are a pure function of them). ``mnist`` / ``imdb``: ``{"name", "tfds_name",
    "version", "splits": {split: size}, <fields>}``. The result is JSON-serialisable and
    equal (``==``) exactly when the data is the same.

    Raises ``lstmjax.tasks.DataError`` for a missing file or an unprepared TFDS dataset,
    ``ValueError`` for a bad config.
    """
    return _task_fingerprint(data_config, data_dir)


# ----------------------------------------------------------------------------- collate

def _pad_to(length: int, pad_multiple: int, pad_to: int | None) -> int:
    if pad_to is not None:
        if length > pad_to:
            raise ValueError(f"pad_to={pad_to} is shorter than the longest sequence in the batch ({length})")
        return pad_to
    return -(-length // pad_multiple) * pad_multiple


def prepare_batch(batch: Mapping[str, np.ndarray], spec, pad_to: str) -> dict[str, np.ndarray]:
    """x, y, lengths (, mask, weight) as arrays; with ``pad_to="max_length"`` time is padded
    to ``spec.max_length`` so every batch has one shape (one compile)."""
    out = {"x": np.asarray(batch["x"]), "y": np.asarray(batch["y"]),
           "lengths": np.asarray(batch["lengths"], np.int32)}
    for key in ("mask", "weight"):
        if batch.get(key) is not None:
            out[key] = np.asarray(batch[key], np.float32)
    if spec.input_kind == "features" and out["x"].dtype != np.float32:
        out["x"] = out["x"].astype(np.float32)
    t, target = out["x"].shape[1], int(spec.max_length)
    if pad_to == "max_length" and t < target:
        def pad(a):
            return np.pad(a, [(0, 0), (0, target - t)] + [(0, 0)] * (a.ndim - 2))
        out["x"] = pad(out["x"])
        if "mask" in out:
            out["mask"] = pad(out["mask"])
        if spec.output_kind == "classify_per_step":
            out["y"] = pad(out["y"])
    return out


def collate(examples: Sequence[Mapping[str, np.ndarray]], *, pad_multiple: int = 1,
            pad_to: int | None = None) -> dict[str, np.ndarray]:
    """Stack examples into a right-padded batch.

    Returns ``{"x": [B, T, ...], "lengths": int32 [B], "y": [B] or [B, T], "mask": float32
    [B, T] (only when the examples have one), "weight": float32 [B] (all 1.0; see
    ``eval_batches`` for rows of weight 0)}``; T is the longest length rounded up to
    ``pad_multiple``, or exactly ``pad_to``. Padding is zeros (also in ``y``/``mask``, so
    padded steps never count in a per-step loss).
    """
    if not examples:
        raise ValueError("collate: no examples")
    lengths = np.array([len(e["x"]) for e in examples], np.int32)
    t = _pad_to(int(lengths.max()), pad_multiple, pad_to)
    out = {"lengths": lengths}
    for key in examples[0]:
        first = np.asarray(examples[0][key])
        if key == "x" or (key in ("y", "mask") and first.ndim >= 1):
            # per-step arrays: right-pad along time
            arr = np.zeros((len(examples), t) + first.shape[1:], first.dtype)
            for i, e in enumerate(examples):
                arr[i, : lengths[i]] = e[key]
            out[key] = arr
        else:
            out[key] = np.stack([np.asarray(e[key]) for e in examples])
    out["weight"] = np.ones(len(examples), np.float32)
    return out


# ----------------------------------------------------------------------------- order

class BatchPlan:
    """Which source indices form the batch of each step: a pure function of (seed, step).

    Args:
      num_examples: size of the source (N).
      batch_size: B.
      seed: data-order seed (derive it from the run seed).
      shuffle: reshuffle each epoch (``False``: source order, e.g. for evaluation).
      lengths: int ``[N]`` example lengths; enables bucketing.
      bucket_window: batches per sorting window when bucketing.
      drop_remainder: drop the last ``N mod B`` examples of each epoch (always for the
        infinite training stream, so every batch has exactly B examples).
    """

    def __init__(self, num_examples: int, batch_size: int, seed: int, *, shuffle: bool = True,
                 lengths: np.ndarray | None = None, bucket_window: int = 50, drop_remainder: bool = True):
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size!r}; must be >= 1")
        if drop_remainder and num_examples < batch_size:
            raise ValueError(f"batch_size={batch_size} is larger than the source ({num_examples} examples); "
                             "use a smaller batch_size or drop_remainder=False")
        if bucket_window < 1:
            raise ValueError(f"bucket_window={bucket_window!r}; must be >= 1")
        self.num_examples, self.batch_size, self.seed = int(num_examples), int(batch_size), int(seed)
        self.shuffle, self.lengths, self.bucket_window = shuffle, lengths, int(bucket_window)
        self.drop_remainder = drop_remainder
        full, rest = divmod(self.num_examples, self.batch_size)
        self.steps_per_epoch = full + (1 if rest and not drop_remainder else 0)

    @functools.lru_cache(maxsize=4)
    def epoch(self, e: int) -> list[np.ndarray]:
        """The batches (index arrays) of epoch ``e``, in step order."""
        n, b = self.num_examples, self.batch_size
        rng = np.random.default_rng([self.seed, int(e)])
        order = rng.permutation(n) if self.shuffle else np.arange(n)
        if self.drop_remainder:
            order = order[: n - n % b]
        if self.lengths is None:
            return [order[i: i + b] for i in range(0, len(order), b)]
        window = b * self.bucket_window
        batches = []
        for start in range(0, len(order), window):
            chunk = order[start: start + window]
            chunk = chunk[np.argsort(self.lengths[chunk], kind="stable")]
            batches += [chunk[i: i + b] for i in range(0, len(chunk), b)]
        if self.shuffle:  # otherwise all short batches would come first in each window
            batches = [batches[i] for i in rng.permutation(len(batches))]
        return batches

    def indices(self, step: int) -> np.ndarray:
        e, i = divmod(int(step), self.steps_per_epoch)
        return self.epoch(e)[i]


class _Batches:
    """Random-access "source" of batches: ``[step] -> collated batch`` (wrapped by grain)."""

    def __init__(self, source, plan: BatchPlan, num_steps: int, collate_kwargs: dict):
        self.source, self.plan, self.num_steps, self.collate_kwargs = source, plan, num_steps, collate_kwargs

    def __len__(self) -> int:
        return self.num_steps

    def __getitem__(self, step: int) -> dict:
        idx = self.plan.indices(step)
        getitems = getattr(self.source, "__getitems__", None)
        examples = getitems(idx.tolist()) if getitems else [self.source[int(i)] for i in idx]
        return collate(examples, **self.collate_kwargs)


def source_lengths(source) -> np.ndarray:
    """int32 ``[N]`` lengths: ``source.lengths()`` when offered, else read every example."""
    if hasattr(source, "lengths"):
        return np.asarray(source.lengths(), np.int32)
    return np.array([len(source[i]["x"]) for i in range(len(source))], np.int32)


def batches(source, *, batch_size: int, seed: int, shuffle: bool = True, bucket: bool = False,
            bucket_window: int = 50, pad_multiple: int = 1, pad_to: int | None = None,
            num_epochs: int | None = None, drop_remainder: bool | None = None) -> grain.MapDataset:
    """Padded batches as a ``grain.MapDataset``; ``ds[s]`` is the batch of training step s.

    Args:
      source: random-access source of examples (``len`` + ``__getitem__``).
      batch_size: global batch size B (split it with ``split_for_devices``).
      seed: data-order seed; the batch of step s depends only on (seed, s).
      shuffle: reshuffle every epoch from (seed, epoch).
      bucket: group similar lengths into batches (see module doc); lengths come from
        ``source.lengths()`` or one pass over the source.
      bucket_window: batches per sorting window when bucketing.
      pad_multiple: round the padded T up to a multiple (fewer distinct shapes under jit).
      pad_to: pad every batch to exactly this T (one shape; e.g. ``spec.max_length``).
      num_epochs: ``None`` = infinite (``len(ds) == sys.maxsize``); else finite.
      drop_remainder: default True for infinite, False for finite streams (the last
        batch of a finite stream may then be smaller).

    Returns:
      ``grain.MapDataset`` of dicts ``{"x", "lengths", "y", ["mask"]}`` (see ``collate``).
      Iterate with ``iterator(ds)`` for prefetching and exact ``get_state/set_state``.
    """
    if pad_multiple < 1:
        raise ValueError(f"pad_multiple={pad_multiple!r}; must be >= 1")
    if num_epochs is not None and num_epochs < 1:
        raise ValueError(f"num_epochs={num_epochs!r}; must be None (infinite) or >= 1")
    if drop_remainder is None:
        drop_remainder = num_epochs is None
    if num_epochs is None and not drop_remainder:
        raise ValueError("drop_remainder=False needs a finite num_epochs (an infinite stream of "
                         "fixed-size batches drops each epoch's remainder)")
    lengths = source_lengths(source) if bucket else None
    plan = BatchPlan(len(source), batch_size, seed, shuffle=shuffle, lengths=lengths,
                     bucket_window=bucket_window, drop_remainder=drop_remainder)
    num_steps = sys.maxsize if num_epochs is None else plan.steps_per_epoch * num_epochs
    return _grain().MapDataset.source(_Batches(source, plan, num_steps,
                                            {"pad_multiple": pad_multiple, "pad_to": pad_to}))


def iterator(ds: grain.MapDataset, *, start_step: int = 0, num_threads: int = 2,
             prefetch: int = 8) -> grain.DatasetIterator:
    """A prefetching iterator over ``batches(...)``, starting at ``start_step``.

    ``it.get_state()`` is a small dict (``{"next_index": step}``) to save with a
    checkpoint; ``iterator(ds).set_state(state)`` continues with exactly the batches the
    uninterrupted iterator would have produced. Threads overlap example generation
    with the training step (numpy releases the GIL in its kernels).
    """
    it = iter(ds.to_iter_dataset(_grain().ReadOptions(num_threads=num_threads, prefetch_buffer_size=prefetch)))
    if start_step:
        it.set_state({"next_index": int(start_step)})
    return it


# ----------------------------------------------------------------------------- evaluation

class _EvalBatches:
    """``[k] -> batch k`` of a full, ordered pass with a weight-0 padded last batch."""

    def __init__(self, source, batch_size: int, collate_kwargs: dict):
        self.source, self.batch_size, self.collate_kwargs = source, batch_size, collate_kwargs
        self.n = len(source)

    def __len__(self) -> int:
        return -(-self.n // self.batch_size)

    def __getitem__(self, k: int) -> dict:
        k = int(k)
        if not 0 <= k < len(self):
            raise IndexError(f"eval batch {k} out of range for {len(self)} batches")
        idx = list(range(k * self.batch_size, min((k + 1) * self.batch_size, self.n)))
        getitems = getattr(self.source, "__getitems__", None)
        examples = getitems(idx) if getitems else [self.source[i] for i in idx]
        real = len(examples)
        examples = list(examples) + [examples[0]] * (self.batch_size - real)  # filler rows
        batch = collate(examples, **self.collate_kwargs)
        batch["weight"][real:] = 0.0
        batch["index"] = np.full(self.batch_size, -1, np.int32)
        batch["index"][:real] = idx
        return batch


def eval_batches(source, *, batch_size: int, pad_to: int | None = None, pad_multiple: int = 1,
                 multiple_of: int = 1) -> grain.MapDataset:
    """Batches covering every example of ``source`` exactly once, in source order.

    For full-split evaluation: no shuffle, nothing dropped, nothing counted twice. Every
    batch has exactly ``batch_size`` rows (one shape under ``jit``): the last one is filled
    up with copies of its first example whose ``weight`` is 0.0. Weight-sum every metric
    (``sum(weight * loss) / sum(weight)``); over the whole pass ``sum(weight) == len(source)``.

    Args:
      source: random-access source of examples.
      batch_size: rows per batch; must be a multiple of ``multiple_of``.
      pad_to / pad_multiple: time padding as in ``batches``.
      multiple_of: e.g. the number of devices the batch is split over.

    Returns:
      ``grain.MapDataset`` of ``ceil(N / batch_size)`` batches (``len``, indexing, iteration,
      ``iterator(ds)``), each ``{"x", "lengths", "y", ["mask"], "weight": float32 [B] (1.0
      real, 0.0 filler), "index": int32 [B] (source index, -1 for filler)}``.

    Example::

        ds = eval_batches(src, batch_size=4)        # len(src) == 10 -> 3 batches
        [b["index"].tolist() for b in ds]           # [[0,1,2,3], [4,5,6,7], [8,9,-1,-1]]
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r}; must be an integer >= 1")
    if isinstance(multiple_of, bool) or not isinstance(multiple_of, (int, np.integer)) or multiple_of < 1:
        raise ValueError(f"multiple_of={multiple_of!r}; must be an integer >= 1")
    if batch_size % multiple_of:
        raise ValueError(f"batch_size={batch_size} is not a multiple of {multiple_of} (e.g. the device count); "
                         f"use a multiple such as {-(-batch_size // multiple_of) * multiple_of}")
    if pad_multiple < 1:
        raise ValueError(f"pad_multiple={pad_multiple!r}; must be >= 1")
    if len(source) < 1:
        raise ValueError("eval_batches: the source is empty")
    return _grain().MapDataset.source(_EvalBatches(source, int(batch_size),
                                                {"pad_multiple": pad_multiple, "pad_to": pad_to}))


# ----------------------------------------------------------------------------- devices

def split_for_devices(batch: Mapping[str, np.ndarray], num_devices: int) -> dict[str, np.ndarray]:
    """Reshape every array ``[B, ...] -> [num_devices, B / num_devices, ...]`` (for pmap).

    Raises ValueError naming B and num_devices when B is not divisible.
    """
    if num_devices < 1:
        raise ValueError(f"num_devices={num_devices!r}; must be >= 1")
    out = {}
    for key, value in batch.items():
        value = np.asarray(value)
        b = value.shape[0] if value.ndim else None
        if b is None or b % num_devices:
            raise ValueError(f"batch[{key!r}] has batch size {b}, not divisible by num_devices={num_devices}; "
                             f"use a batch_size that is a multiple of {num_devices}")
        out[key] = value.reshape((num_devices, b // num_devices) + value.shape[1:])
    return out
