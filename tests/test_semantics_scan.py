"""The recurrent step and the fused driver as documented, against independent computations.

* a cell is a function of one step: ``cell(params, carry, x_t)`` for any leading shape of
  ``x_t`` (``project`` maps ``[..., D] -> [..., G*H]``), one example as well as a batch;
  checked against the NumPy loop of tests/reference.py;
* ``remat=True`` rematerializes (``jax.checkpoint``) the chunks in the backward pass, and
  ``remat=False`` does not: the option changes memory, which no output shows (the values
  agree either way, tests/test_fused_scan.py), so it is read off the gradient's program.
"""

import re

import jax
import jax.numpy as jnp
import numpy as np

from lstmjax import fused_scan
from lstmjax.cells import LSTMCarry, LSTMCell, make_cell
from lstmjax.gates import get_gates

import reference

T, D, H = 5, 4, 3


def test_fgr_step_of_one_unbatched_example_matches_numpy():
    """Full gate recurrence (every gate sees all gates of step t-1) on one example: h, c
    and the gates carried are vectors, [H] and [3H], not [1, H]."""
    gates = get_gates("fgr")
    cell = LSTMCell(H, gates)
    rng = np.random.default_rng(0)
    params = jax.tree.map(lambda a: jnp.asarray(rng.normal(scale=0.5, size=a.shape), a.dtype),
                          cell.init(jax.random.key(0), D))
    xs = rng.normal(size=(T, D)).astype(np.float32)
    carry = LSTMCarry(jnp.zeros(H), jnp.zeros(H), jnp.zeros(len(gates.sigmoid_gates) * H))
    hs = []
    for x_t in xs:
        carry, h = cell(params, carry, jnp.asarray(x_t))
        hs.append(h)
    ref_hs, ref_h, ref_c, _ = reference.lstm(params, gates, xs, H)
    np.testing.assert_allclose(np.stack(hs), ref_hs, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(carry.c, ref_c, atol=1e-5, rtol=1e-5)


def _remat_calls(remat: bool) -> list[str]:
    cell = make_cell("lstm", H, gates="vanilla")
    params = cell.init(jax.random.key(1), D)
    xs = jnp.ones((2, 8, D))

    def loss(p):
        ys, carry = fused_scan.scan(cell, p, xs, remat=remat, remat_chunk_size=4)
        return ys.sum() + carry.c.sum()

    program = str(jax.make_jaxpr(jax.grad(loss))(params))
    return re.findall(r"\b(remat\w*|checkpoint)\[", program)


def test_remat_rematerializes_and_only_then():
    assert _remat_calls(True)
    assert not _remat_calls(False)
