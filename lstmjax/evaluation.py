"""Evaluation batches and metrics over a split: a periodic sample, or the whole split.

* :func:`sample_batches`: the first ``eval_batches`` batches of a seeded shuffle of the
  split; cheap, fixed for the whole run, used only for the periodic validation that
  draws the learning curve, decides steps-to-solve and picks the best checkpoint.
* :func:`split_batches`: every example of the split exactly once, in order; the last
  short batch is filled with rows of ``weight`` 0 that count nowhere. This is what a
  reported number (``final_eval``, ``test``, ``test_at_best``) is computed on.

Both return host batches already in this process's share (multi-host: each process feeds
its own rows of every global batch), ready for ``LayoutStep.put_batch``.
"""

from __future__ import annotations

from typing import Iterable, Mapping

import jax
import numpy as np

from lstmjax import data, device_step, parallel


def _pad_to(spec, cfg: Mapping) -> int | None:
    return int(spec.max_length) if cfg["pad_to"] == "max_length" else None


def _local(batch: dict) -> dict:
    return {k: v[parallel.process_rows(v.shape[0])] for k, v in batch.items()}


def sample_batches(source, spec, cfg: Mapping, batch_size: int, seed: int) -> list[dict]:
    """``cfg["eval_batches"]`` batches of a shuffle of ``source`` fixed by ``seed``."""
    ds = data.batches(source, batch_size=batch_size, shuffle=True, pad_to=_pad_to(spec, cfg),
                      pad_multiple=cfg["pad_multiple"], seed=seed)
    return [_local(data.prepare_batch(ds[i], spec, cfg["pad_to"]))
            for i in range(cfg["eval_batches"])]


def split_batches(source, spec, cfg: Mapping, batch_size: int, multiple_of: int) -> list[dict]:
    """Every example of ``source`` once; filler rows (``weight`` 0) complete the last batch."""
    return [_local(data.prepare_batch(b, spec, cfg["pad_to"])) for b in data.eval_batches(
        source, batch_size=batch_size, pad_to=_pad_to(spec, cfg),
        pad_multiple=cfg["pad_multiple"], multiple_of=multiple_of)]


def evaluate(mapped_eval, params, batches: Iterable[dict], baseline_loss=None, *,
             labels=None, majority_class: int | None = None) -> dict:
    """Metrics (:data:`lstmjax.device_step.METRICS` that apply, and ``examples``) of ``params``
    (already placed by ``mapped_eval``) over ``batches``.

    With ``labels`` (class names) a classification split also gets
    :func:`lstmjax.device_step.class_report`: ``per_class``, ``confusion``, ``majority_baseline``.
    """
    totals: dict[str, np.ndarray] = {}
    for b in batches:
        sums = jax.device_get(mapped_eval.unreplicate(mapped_eval(params, mapped_eval.put_batch(b))))
        for k, v in sums.items():  # float64 on the host: exact counts over any split size
            totals[k] = totals.get(k, 0.0) + np.asarray(v, np.float64)
    out = device_step.metrics_from_sums(totals, baseline_loss)
    if labels is not None and "class_true" in totals:
        out.update(device_step.class_report(totals, labels, majority_class))
    return out
