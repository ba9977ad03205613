"""One driver runs any cell over time; bidirectional and stacked layers compose it.

Padding semantics (exact, and tested against single-sequence runs):

* inputs are batch-major ``[B, T, D]`` and right-padded; ``lengths [B]`` gives each
  sequence's valid steps;
* outputs at padded steps (t >= length) are exactly 0;
* the final carry is the carry after each sequence's own last valid step;
* ``reverse=True`` reads each sequence from its own last valid step back to step 0
  (reversal *within its length*), with outputs already in input order.

The reversal needs no gather: the scan runs from t = T-1 down to 0 and a masked step
keeps the carry unchanged, so a sequence's state stays at the initial carry through its
padding and its first real update is at t = length-1.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import math

import jax
import jax.numpy as jnp
from jax import lax

Cell = Any  # any object with project / step / zero_carry (see lstmjax.cells)


def length_mask(lengths, num_steps: int):
    """``[B, T]`` bool mask, True at the valid steps t < lengths[b] (right padding).

    The one before-length mask: the drivers (time-major, :func:`padding_mask`), the
    input zeroing in ``api.apply``, mean pooling and the per-step loss all use it.
    """
    return jnp.arange(num_steps)[None, :] < jnp.asarray(lengths)[:, None]


def valid_lengths(lengths, batch: int, num_steps: int):
    """``[B]`` int32 lengths: ``lengths`` as int32, or every sequence full (T) when None."""
    if lengths is None:
        return jnp.full((batch,), num_steps, jnp.int32)
    return jnp.asarray(lengths).astype(jnp.int32)


def remat_chunk(num_steps: int) -> int:
    """Chunk length of the drivers' ``remat=True``: about sqrt(T) (at least 16) steps."""
    return max(16, int(math.ceil(math.sqrt(num_steps))))


def padding_mask(lengths, num_steps: int):
    """The drivers' mask: ``[T, B, 1]`` (True at valid steps), or None without lengths."""
    return None if lengths is None else length_mask(lengths, num_steps).T[..., None]


def prepare(cell: Cell, xs, lengths, initial_carry):
    """What every driver starts from: time-major ``xs_t [T, B, D]``, the padding mask
    (:func:`padding_mask`) and the initial carry (zeros in ``xs``'s dtype by default)."""
    carry0 = cell.zero_carry(xs.shape[0], xs.dtype) if initial_carry is None else initial_carry
    return jnp.swapaxes(xs, 0, 1), padding_mask(lengths, xs.shape[1]), carry0


def padded_outputs(ys_t, mask):
    """Time-major per-step outputs -> batch-major ``[B, T, H]``, exactly 0 at padded steps
    (every driver's outputs go through here)."""
    if mask is not None:
        ys_t = jnp.where(mask, ys_t, jnp.zeros_like(ys_t))
    return jnp.swapaxes(ys_t, 0, 1)


def chunked_scan(chunk_fn: Callable, params, carry, xs_t, mask, chunk: int, reverse: bool):
    """Scan a checkpointed ``chunk_fn`` over chunks of ``chunk`` steps of a sequence.

    ``chunk_fn(params, carry, x_c [chunk, B, D], m_c [chunk, B, 1] | None) -> (carry,
    ys_c [chunk, B, ...])`` runs one chunk; under ``jax.checkpoint`` only the carries at
    chunk boundaries are kept for the backward pass, which recomputes one chunk at a time.
    ``xs_t`` is time-major ``[T, B, D]``, ``mask`` ``[T, B, 1]`` or None. When ``chunk`` does
    not divide T, the tail is padded with masked steps, which keep the carry whichever way
    the scan runs. Returns ``(carry, ys [T, B, ...])``.
    """
    T, B = xs_t.shape[0], xs_t.shape[1]
    chunk = max(1, min(chunk, T))
    n = -(-T // chunk)
    pad = n * chunk - T
    if pad:
        if mask is None:
            mask = jnp.ones((T, B, 1), bool)
        mask = jnp.pad(mask, ((0, pad), (0, 0), (0, 0)))
        xs_t = jnp.pad(xs_t, ((0, pad), (0, 0), (0, 0)))

    def chunks(a):  # [n·chunk, ...] -> [n, chunk, ...]; None (no mask) stays None
        return None if a is None else a.reshape((n, chunk) + a.shape[1:])

    body = jax.checkpoint(chunk_fn)
    carry, ys = lax.scan(lambda c, xm: body(params, c, *xm), carry, (chunks(xs_t), chunks(mask)),
                         reverse=reverse)
    return carry, ys.reshape((n * chunk,) + ys.shape[2:])[:T]


def scan(cell: Cell, params, xs, lengths=None, *, reverse: bool = False,
         initial_carry=None, unroll: int | bool = 1, remat: bool = False,
         hoist: bool = True):
    """Run ``cell`` over ``xs [B, T, D]``; returns ``(ys [B, T, H], final_carry)``.

    Args:
      cell: a cell from ``lstmjax.cells`` (pure ``step`` + ``project``).
      params: the cell's params pytree.
      xs: ``[B, T, D]`` right-padded inputs.
      lengths: optional ``[B]`` int valid lengths in [1, T]; None means all T valid.
      reverse: run from the last valid step of each sequence back to step 0.
      initial_carry: the carry at the start (default zeros).
      unroll: passed to ``lax.scan``.
      remat: rematerialize each step in the backward pass (``jax.checkpoint``), so
        memory for activations is O(T·H) carries instead of all gate values.
      hoist: compute the input projection W_x·x + b for all steps as one GEMM before
        the loop (True) or inside each step (False).
    """
    xs_t, mask, carry0 = prepare(cell, xs, lengths, initial_carry)

    def body(carry, inputs):
        x_t, m_t = inputs
        p_t = x_t if hoist else cell.project(params, x_t)
        new_carry, y_t = cell.step(params, carry, p_t)
        if m_t is not None:  # padded step: keep the state (its output is zeroed outside)
            new_carry = jax.tree.map(lambda n, o: jnp.where(m_t, n, o), new_carry, carry)
        return new_carry, y_t

    if remat:
        body = jax.checkpoint(body)
    seq = cell.project(params, xs_t) if hoist else xs_t
    carry, ys = lax.scan(body, carry0, (seq, mask), reverse=reverse, unroll=unroll)
    return padded_outputs(ys, mask), carry


def bidirectional(cell_fw: Cell, cell_bw: Cell, params, xs, lengths=None, *,
                  initial_carry=(None, None), scan_fn: Callable | None = None, **scan_kwargs):
    """Forward and within-length-reversed backward scans, concatenated per step.

    Args:
      params: ``{"fw": params_fw, "bw": params_bw}``.
      initial_carry: ``(carry_fw, carry_bw)``, each None for zeros.
      scan_fn: the single-direction driver (default :func:`scan`).
    Returns:
      ``ys [B, T, H_fw + H_bw]`` with ``ys[:, t] = [h_fw_t ; h_bw_t]`` and the final
      carries ``(carry_fw at t = length-1, carry_bw at t = 0)``.
    """
    run = scan if scan_fn is None else scan_fn
    ys_fw, c_fw = run(cell_fw, params["fw"], xs, lengths,
                      initial_carry=initial_carry[0], **scan_kwargs)
    ys_bw, c_bw = run(cell_bw, params["bw"], xs, lengths, reverse=True,
                      initial_carry=initial_carry[1], **scan_kwargs)
    return jnp.concatenate([ys_fw, ys_bw], axis=-1), (c_fw, c_bw)


def dropout(key, rate: float, x):
    """Inverted dropout: zero with probability ``rate``, scale the rest by 1/(1-rate)."""
    if rate <= 0.0 or key is None:
        return x
    keep = jax.random.bernoulli(key, 1.0 - rate, x.shape)
    return jnp.where(keep, x / (1.0 - rate), jnp.zeros_like(x))


def stack(cells: Sequence[Cell], layer_params: Sequence[Any], xs, lengths=None, *,
          num_directions: int = 1, initial_state=None, dropout_rate: float = 0.0,
          dropout_key=None, scan_fn: Callable | None = None, **scan_kwargs):
    """Stacked (bi)directional layers; layer l+1 reads layer l's outputs.

    Dropout with ``dropout_rate`` is applied to each layer's outputs except the last
    (as in ``torch.nn.LSTM``), only when ``dropout_key`` is given.

    Args:
      cells: one cell per layer (the same cell is used for both directions).
      num_directions: 1, or 2 for a bidirectional layer (see :func:`bidirectional`).
      layer_params: per layer ``{"fw": ..}`` or ``{"fw": .., "bw": ..}``.
      initial_state: None or per layer ``{"fw": carry, ("bw": carry)}``.
      scan_fn: the single-direction driver (default :func:`scan`); the fast path plugs in here.
    Returns:
      ``(ys [B, T, H·dirs], states)`` with states a tuple over layers of
      ``{"fw": carry}`` or ``{"fw": carry, "bw": carry}``.
    """
    run = scan if scan_fn is None else scan_fn
    states = []
    h = xs
    num_layers = len(cells)
    keys = (None,) * num_layers if dropout_key is None else jax.random.split(dropout_key, num_layers)
    for layer, (cell, p) in enumerate(zip(cells, layer_params)):
        init = {} if initial_state is None else initial_state[layer]
        if num_directions == 2:
            ys, (c_fw, c_bw) = bidirectional(
                cell, cell, p, h, lengths, initial_carry=(init.get("fw"), init.get("bw")),
                scan_fn=run, **scan_kwargs)
            state = {"fw": c_fw, "bw": c_bw}
        else:
            ys, c_fw = run(cell, p["fw"], h, lengths, initial_carry=init.get("fw"), **scan_kwargs)
            state = {"fw": c_fw}
        states.append(state)
        h = ys
        if layer < num_layers - 1:
            h = dropout(keys[layer], dropout_rate, h)
    return h, tuple(states)
