"""What a training config will allocate, estimated before anything is allocated.

    need = estimate(model, batch_per_device=8, length=784)   # bytes, from shapes only
    check(model, spec, cfg, devices)                         # ValueError in one line if over

A config whose model or batch cannot fit the machine (``num_layers=10**6``,
``hidden_size=10**9``, ``data.length=10**9``, ``pad_multiple=10**9`` with
``pad_to="batch"``) would otherwise hang in initialization or crash inside XLA with a
long trace. The estimate is a lower bound, not a promise: the parameters counted exactly
from their shapes (``jax.eval_shape`` of one and two layers, so a million layers cost
nothing to count), four float32 copies of them (parameters, gradients, two optimizer
moments), the input batch, and what backpropagation through time keeps per step (each
layer and direction's gate pre-activations and its cell and hidden states). Compilation
buffers, XLA's temporaries and the data pipeline come on top.
"""

from __future__ import annotations

import dataclasses
import math
import os

import jax

from lstmjax import api, models

BYTES = 4           # float32
PARAM_COPIES = 4    # parameters, gradients, two optimizer moments (adam)
# Layers are unrolled when a step is traced (one driver per layer and direction), so the
# program, and the time to initialize and compile it, grow with every layer: far beyond
# any LSTM stack in the literature, a config with more would not finish compiling.
MAX_LAYERS = 256


def _rnn_params(rnn: api.LSTMConfig) -> tuple[int, int]:
    """``(total, layer 0 per direction)`` parameter counts of the recurrent network."""
    def count(layers):
        one = dataclasses.replace(rnn, num_layers=layers)
        shapes = jax.eval_shape(lambda: api.init(jax.random.key(0), one))
        return sum(math.prod(s.shape) for s in jax.tree.leaves(shapes))

    first = count(1)
    later = count(2) - first if rnn.num_layers > 1 else 0
    return first + (rnn.num_layers - 1) * later, first // (2 if rnn.bidirectional else 1)


def estimate(model: models.ModelConfig, batch_per_device: int, length: int) -> dict:
    """Bytes a training step needs on one device (see the module doc for what is counted).

    Args:
      model: the model to train.
      batch_per_device: rows of the global batch one device holds.
      length: padded sequence length T of a training batch.
    Returns:
      ``{"params", "param_bytes", "activation_bytes", "input_bytes", "total_bytes"}``.
    """
    rnn = model.rnn
    total_rnn, layer0 = _rnn_params(rnn)
    d = model.feature_size
    params = total_rnn + d * model.num_outputs + model.num_outputs
    if model.input_kind == "tokens":
        params += int(model.vocab_size) * int(rnn.input_size)
    if model.ngram_order:
        params += int(model.ngram_buckets) * int(model.ngram_dim)
    dirs = 2 if rnn.bidirectional else 1
    h, i = int(rnn.hidden_size), int(rnn.input_size)
    gates = max(1, round(layer0 / (h * (i + h + 1))))  # 4 for an LSTM, 3 for a GRU, ...
    per_step = rnn.num_layers * dirs * (gates + 2) * h  # kept for the backward pass
    activations = BYTES * batch_per_device * length * per_step
    width = i if model.input_kind == "features" else 1
    inputs = BYTES * batch_per_device * length * width
    param_bytes = BYTES * PARAM_COPIES * params
    return {"params": params, "param_bytes": param_bytes, "activation_bytes": activations,
            "input_bytes": inputs, "total_bytes": param_bytes + activations + inputs}


def available_bytes(device) -> tuple[int, str]:
    """``(bytes, what)``: the device's memory limit when it reports one (GPU), else the
    host's physical memory (CPU devices share it)."""
    try:
        stats = device.memory_stats() or {}
    except Exception:  # noqa: BLE001 - backends without memory_stats
        stats = {}
    if stats.get("bytes_limit"):
        return int(stats["bytes_limit"]), f"{device.platform} device memory"
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"), "host memory"
    except (ValueError, OSError, AttributeError):
        return 0, "host memory"  # unknown: nothing is refused


def train_length(spec, cfg: dict) -> int:
    """The padded length of a training batch: ``max_length``, or up to it rounded to
    ``pad_multiple`` with ``pad_to="batch"`` (a batch is never shorter than one multiple)."""
    t = int(spec.max_length)
    if cfg["pad_to"] == "batch":
        t = -(-t // cfg["pad_multiple"]) * cfg["pad_multiple"]
    return t


def check(model: models.ModelConfig, spec, cfg: dict, devices: list) -> dict:
    """Refuse a config that cannot fit: ``ValueError`` in one line with the estimate.

    Returns the estimate (:func:`estimate`) when it fits.
    """
    if model.rnn.num_layers > MAX_LAYERS:
        raise ValueError(
            f"config.model.num_layers={model.rnn.num_layers} is over {MAX_LAYERS}: layers are "
            "unrolled when the step is traced, so initializing and compiling grow with each "
            f"one and this would not finish; accepted: 1..{MAX_LAYERS}")
    batch = max(1, cfg["batch_size"] // max(1, len(devices)))
    need = estimate(model, batch, train_length(spec, cfg))  # counts layers without tracing
    have, what = available_bytes(devices[0])
    if have and need["total_bytes"] > have:
        raise ValueError(
            f"config needs about {_size(need['total_bytes'])} per device, more than the "
            f"{_size(have)} of {what}: {need['params']:.3g} parameters "
            f"({_size(need['param_bytes'])} with gradients and optimizer state) and "
            f"{_size(need['activation_bytes'] + need['input_bytes'])} of activations for "
            f"batch {batch} x {train_length(spec, cfg)} steps; reduce model.hidden_size, "
            "model.num_layers, model.embed_dim, the data's length (pad_multiple with "
            "pad_to='batch') or batch_size")
    return need


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.3g} {unit}"
        n /= 1024
    return f"{n:.3g} EiB"
