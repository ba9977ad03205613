"""The per-device train and eval steps, written once for every device layout.

``train_step(state, batch, axis_name)`` and ``eval_step(params, batch, axis_name)`` run on
one device's shard of a batch; ``axis_name`` is ``None`` on a single device, or the named
axis of ``jax.pmap`` / ``jax.shard_map`` (see :mod:`lstmjax.parallel`), over which the
collectives (``pmean`` of gradients, ``psum`` of metric sums) run.

A batch is a dict of arrays: ``x`` ``[B, T]`` ids or ``[B, T, D]`` features, ``y`` ``[B]``
(or ``[B, T]`` per step), ``lengths`` ``[B]``, optional ``mask`` ``[B, T]`` per-step loss
weights and optional ``weight`` ``[B]`` (1 = a real example, 0 = a filler row that pads
the last batch of a full-split evaluation; it counts nowhere).

Metrics (:data:`METRICS`, all computed from per-batch sums, so a split's value is exact
whatever its batching):

* ``loss``: mean cross-entropy (classify, per step: over scored steps) or mean squared
  error (regress);
* ``accuracy``: argmax == y (classify), per scored step (classify_per_step), or
  ``|prediction - y| < tolerance`` (regress, when the task has a tolerance);
* ``recall_accuracy`` (per step): accuracy over the scored steps whose target is not 0
  (copy memory: the recall steps);
* ``mean_abs_error`` and ``r2 = 1 - MSE / baseline_loss`` (regress);
* ``macro_f1`` (classify, evaluation only): the unweighted mean over classes of
  ``F1 = 2·TP / (2·TP + FP + FN)``, over the classes that occur in the split's targets or
  predictions (scikit-learn's ``f1_score(average="macro")``; an undefined ratio is 0).

Evaluation also sums per-class counts (:func:`class_counts`), from which
:func:`class_report` gives per-class precision, recall, F1, support, the confusion matrix
and the majority-class baseline of a whole split.
"""

from __future__ import annotations

import functools
from typing import Any, Mapping, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from lstmjax import models, optim, parallel, recurrence

# metric -> True when higher is better
METRICS = {"loss": False, "accuracy": True, "recall_accuracy": True, "mean_abs_error": False,
           "r2": True, "macro_f1": True}
# the confusion matrix is summed (and reported) up to this many classes; above it, only the
# per-class true / predicted / correct counts (O(C), enough for precision, recall and F1)
CONFUSION_MAX_CLASSES = 50
# fold_in streams of the run's root key
INIT_STREAM, DROPOUT_STREAM, DATA_STREAM, EVAL_STREAM = 0, 1, 2, 3


class TrainState(NamedTuple):
    """Everything a step changes: ``step`` (int32), ``params``, ``opt_state`` and ``rng``
    (uint32 ``jax.random.key_data`` of the dropout root key)."""

    step: Any
    params: Any
    opt_state: Any
    rng: Any


def score(outputs, batch: Mapping, output_kind: str, tolerance: float | None) -> dict:
    """Per-device sums over one batch: ``loss_sum``, ``count`` (what the loss is a mean
    over: examples, or scored steps), ``examples`` and, where defined, ``correct``,
    ``recall_correct`` / ``recall_count``, ``abs_err_sum``. Rows with ``weight`` 0 add 0."""
    y = batch["y"]
    w = batch.get("weight")
    rows = jnp.float32(y.shape[0]) if w is None else w.sum()
    if output_kind == "classify_per_step":
        mask = batch.get("mask")
        if mask is None:
            mask = recurrence.length_mask(batch["lengths"], y.shape[1])
        mask = mask.astype(jnp.float32)
        if w is not None:
            mask = mask * w[:, None]
        ce = optax.softmax_cross_entropy_with_integer_labels(outputs, y.astype(jnp.int32))
        hit = (jnp.argmax(outputs, -1) == y).astype(jnp.float32)
        recall = (y != 0).astype(jnp.float32) * mask
        return {"loss_sum": (ce * mask).sum(), "count": mask.sum(), "examples": rows,
                "correct": (hit * mask).sum(), "recall_correct": (hit * recall).sum(),
                "recall_count": recall.sum()}

    def total(v):
        return v.sum() if w is None else (v * w).sum()

    if output_kind == "classify":
        ce = optax.softmax_cross_entropy_with_integer_labels(outputs, y.astype(jnp.int32))
        hit = (jnp.argmax(outputs, -1) == y).astype(jnp.float32)
        return {"loss_sum": total(ce), "count": rows, "examples": rows, "correct": total(hit)}
    if output_kind == "regress":
        err = outputs - y.astype(outputs.dtype)
        sums = {"loss_sum": total(err ** 2), "count": rows, "examples": rows,
                "abs_err_sum": total(jnp.abs(err))}
        if tolerance is not None:
            sums["correct"] = total((jnp.abs(err) < tolerance).astype(jnp.float32))
        return sums
    raise ValueError(f"output_kind={output_kind!r}; accepted: {models.OUTPUT_KINDS}")


def metrics_from_sums(sums: Mapping[str, float], baseline_loss: float | None = None) -> dict:
    """The :data:`METRICS` (and ``examples``) of a split from its summed :func:`score`."""
    count = float(sums["count"])
    out = {"loss": float(sums["loss_sum"]) / count}
    if "correct" in sums:
        out["accuracy"] = float(sums["correct"]) / count
    if float(sums.get("recall_count", 0.0)):
        out["recall_accuracy"] = float(sums["recall_correct"]) / float(sums["recall_count"])
    if "abs_err_sum" in sums:
        out["mean_abs_error"] = float(sums["abs_err_sum"]) / count
        if baseline_loss:
            out["r2"] = 1.0 - out["loss"] / float(baseline_loss)
    if "class_true" in sums:
        out["macro_f1"] = float(np.mean(_f1(sums)[_present(sums)]))
    out["examples"] = int(round(float(sums["examples"])))
    return out


def class_counts(outputs, batch, num_classes: int) -> dict:
    """Per-class sums over a classify batch (weighted by ``weight``): ``class_true``,
    ``class_pred``, ``class_hit`` ``[C]`` (examples whose target / prediction is the class,
    and both), and ``confusion`` ``[C, C]`` (rows: target, columns: prediction) up to
    :data:`CONFUSION_MAX_CLASSES` classes."""
    w = batch.get("weight")
    w = jnp.ones(batch["y"].shape[0], jnp.float32) if w is None else w
    true = jax.nn.one_hot(batch["y"], num_classes, dtype=jnp.float32) * w[:, None]
    pred = jax.nn.one_hot(jnp.argmax(outputs, -1), num_classes, dtype=jnp.float32)
    out = {"class_true": true.sum(0), "class_pred": (pred * w[:, None]).sum(0),
           "class_hit": (true * pred).sum(0)}
    if num_classes <= CONFUSION_MAX_CLASSES:
        out["confusion"] = true.T @ pred
    return out


def _f1(sums) -> np.ndarray:
    hit, true, pred = (np.asarray(sums[k], np.float64) for k in
                       ("class_hit", "class_true", "class_pred"))
    return np.divide(2 * hit, true + pred, out=np.zeros_like(hit), where=true + pred > 0)


def _present(sums) -> np.ndarray:
    """The classes that occur among the targets or the predictions (at least one)."""
    present = (np.asarray(sums["class_true"]) > 0) | (np.asarray(sums["class_pred"]) > 0)
    return present if present.any() else np.ones_like(present)


def class_report(sums: Mapping[str, Any], labels, majority_class: int | None = None) -> dict:
    """What practitioners read about a split, from its summed :func:`class_counts`.

    Args:
      sums: the split's summed counts (``class_true`` ``[C]``, ...; ``confusion`` optional).
      labels: ``C`` class names.
      majority_class: the class of the input-blind baseline (the train split's most
        frequent); default this split's most frequent class.
    Returns:
      ``{"per_class": {name: {"precision", "recall", "f1", "support"}}, "confusion":
      {"labels", "matrix" [C][C] (rows: target, columns: prediction)} (up to
      CONFUSION_MAX_CLASSES classes), "majority_baseline": {"label", "accuracy"}}``.
    """
    hit, true, pred = (np.asarray(sums[k], np.float64) for k in
                       ("class_hit", "class_true", "class_pred"))
    labels = [str(v) for v in labels]
    if len(labels) != len(true):
        raise ValueError(f"labels has {len(labels)} names for {len(true)} classes")
    f1 = _f1(sums)
    per_class = {name: {"precision": float(hit[k] / pred[k]) if pred[k] else 0.0,
                        "recall": float(hit[k] / true[k]) if true[k] else 0.0,
                        "f1": float(f1[k]), "support": int(round(true[k]))}
                 for k, name in enumerate(labels)}
    top = int(np.argmax(true)) if majority_class is None else int(majority_class)
    out = {"per_class": per_class,
           "majority_baseline": {"label": labels[top],
                                 "accuracy": float(true[top] / max(true.sum(), 1.0))}}
    if "confusion" in sums:
        out["confusion"] = {"labels": labels, "matrix": np.rint(np.asarray(
            sums["confusion"], np.float64)).astype(int).tolist()}
    return out


def train_step(state: TrainState, batch, axis_name, *, model_config, optimizer, tolerance):
    """One update on this device's shard of the batch; collectives over ``axis_name``.

    The loss is the global mean: each device divides its loss sum by the mean count per
    device, so ``pmean`` of the gradients is the gradient of the global mean loss even
    when devices hold different numbers of scored steps (per-step masks).
    """
    dkey = None
    if model_config.uses_dropout:
        dkey = jax.random.fold_in(jax.random.wrap_key_data(state.rng), state.step)
        dkey = jax.random.fold_in(dkey, parallel.axis_index(axis_name))

    def loss_fn(params):
        out = models.apply(params, model_config, batch["x"], batch["lengths"], dropout_key=dkey)
        sums = score(out, batch, model_config.output_kind, tolerance)
        return sums["loss_sum"] / parallel.pmean(sums["count"], axis_name), sums

    (_, sums), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    grads = parallel.pmean(grads, axis_name)
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    total = parallel.psum(sums["count"], axis_name)
    metrics = {"loss": parallel.psum(sums["loss_sum"], axis_name) / total,
               "grad_norm": optax.tree.norm(grads)}
    if "correct" in sums:
        metrics["accuracy"] = parallel.psum(sums["correct"], axis_name) / total
    return TrainState(state.step + 1, params, opt_state, state.rng), metrics


def eval_step(params, batch, axis_name, *, model_config, tolerance):
    """Global :func:`score` sums over the batch (summed over devices and processes)."""
    out = models.apply(params, model_config, batch["x"], batch["lengths"])
    sums = score(out, batch, model_config.output_kind, tolerance)
    if model_config.output_kind == "classify":
        sums.update(class_counts(out, batch, model_config.num_outputs))
    return parallel.psum(sums, axis_name)


def init_state(seed, model_config, optimizer, embed_rows=None, embed_vectors=None,
               layers=None) -> TrainState:
    """The step-0 state for ``seed`` (traceable: ``seed`` may be a traced int).

    ``embed_rows`` int ``[K]`` and ``embed_vectors`` ``[K, E]`` (pretrained embeddings,
    :mod:`lstmjax.embeddings`, or a language model's, :mod:`lstmjax.transfer`) replace
    those rows of the seeded embedding, and ``layers`` (``{"<layer>/<direction>": cell
    params}``, :mod:`lstmjax.transfer`) those cells of the recurrence, before the
    optimizer state is built; everything else keeps the seeded init.
    """
    root = jax.random.key(seed)
    params = models.init(jax.random.fold_in(root, INIT_STREAM), model_config)
    if embed_rows is not None:
        params = models.with_embedding_rows(params, embed_rows, embed_vectors)
    if layers:
        params = models.with_rnn_cells(params, layers)
    return TrainState(jnp.int32(0), params, optimizer.init(params),
                      jax.random.key_data(jax.random.fold_in(root, DROPOUT_STREAM)))


def derived_seed(seed: int, stream: int) -> int:
    """A 31-bit integer seed for a host-side pipeline, by ``fold_in`` of the run seed."""
    bits = jax.random.bits(jax.random.fold_in(jax.random.key(seed), stream), (), jnp.uint32)
    return int(bits) & 0x7FFFFFFF


def make_optimizer(model_config, opt: Mapping, total_steps: int):
    """``(tx, schedule)``: :func:`lstmjax.optim.make_optimizer` for this model (a frozen
    embedding gets no update)."""
    frozen = ("embed",) if model_config.freeze_embeddings else ()
    return optim.make_optimizer(opt, total_steps, frozen)


class Compiled(NamedTuple):
    """The jitted pieces of one static setup (see :func:`compiled`)."""

    init: Any       # (seed[, embed_rows, embed_vectors]) -> TrainState (host)
    train: Any      # parallel.LayoutStep train_step
    evaluate: Any   # parallel.LayoutStep eval_step
    schedule: Any   # step -> learning rate


@functools.lru_cache(maxsize=64)
def compiled(model_config, optimizer_items: tuple, total_steps: int, tolerance, mode: str,
             devices: tuple) -> Compiled:
    """Jitted init / train / eval for a static setup, cached so that a sweep calling
    ``train.run`` many times in one process compiles once per (model, optimizer, task
    shape, layout)."""
    optimizer, schedule = make_optimizer(model_config, dict(optimizer_items), total_steps)
    init = jax.jit(lambda seed, rows=None, vectors=None, layers=None: init_state(
        seed, model_config, optimizer, rows, vectors, layers))
    train = functools.partial(train_step, model_config=model_config, optimizer=optimizer,
                              tolerance=tolerance)
    ev = functools.partial(eval_step, model_config=model_config, tolerance=tolerance)
    return Compiled(init, parallel.LayoutStep(train, mode, list(devices)),
                    parallel.LayoutStep(ev, mode, list(devices), updates_state=False), schedule)
