"""minLSTM / minGRU: reference step, sequential and parallel (log-space) forms agree."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lstmjax
from lstmjax import dispatch, min_rnn, recurrence
from lstmjax.cells import make_cell

import reference

B, T, D, H = 3, 9, 4, 5
LENGTHS = jnp.array([9, 4, 1])
TOL = 1e-5


def _run_all_forms(cell_type, lengths, reverse, h0_scale):
    cell = make_cell(cell_type, H)
    params = cell.init(jax.random.key(1), D)
    xs = 2.0 * jax.random.normal(jax.random.key(0), (B, T, D))
    h0 = cell.zero_carry(B)._replace(h=h0_scale * jax.random.uniform(jax.random.key(3), (B, H)))
    w = jnp.cos(jnp.arange(B * T * H, dtype=jnp.float32)).reshape(B, T, H)

    def loss(driver, p, x, h):
        ys, c = driver(cell, p, x, lengths, reverse=reverse, initial_carry=h)
        return jnp.sum(ys * w) + jnp.sum(c.h), (ys, c)

    drivers = {"reference": recurrence.scan,
               "sequential": lambda *a, **k: min_rnn.scan(*a, form="sequential", **k),
               "parallel": lambda *a, **k: min_rnn.scan(*a, form="parallel", **k),
               "parallel_linear": lambda *a, **k: min_rnn.scan(*a, form="parallel_linear", **k),
               # chunks of 4: T = 9 is 3 chunks, the last one padded by 3 masked steps
               "chunked": lambda *a, **k: min_rnn.scan(*a, form="chunked", chunk=4, **k)}
    out = {}
    for name, drv in drivers.items():
        f = jax.jit(jax.value_and_grad(lambda p, x, h, d=drv: loss(d, p, x, h), argnums=(0, 1, 2),
                                       has_aux=True))
        out[name] = f(params, xs, h0)
    return out


@pytest.mark.parametrize("cell_type", ["min_lstm", "min_gru"])
@pytest.mark.parametrize("lengths,reverse", [(None, False), (LENGTHS, True)])
def test_forms_agree(cell_type, lengths, reverse):
    out = _run_all_forms(cell_type, lengths, reverse, h0_scale=1.0)
    for name in ("sequential", "chunked", "parallel", "parallel_linear"):
        for a, b in zip(jax.tree.leaves(out[name]), jax.tree.leaves(out["reference"])):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=TOL, rtol=TOL,
                                       err_msg=f"{cell_type} {name}")
    if lengths is not None:  # padded outputs exactly zero in every form
        mask = np.arange(T)[None, :] < np.asarray(lengths)[:, None]
        for name in out:
            ys = np.asarray(out[name][0][1][0])
            assert np.all(ys[~mask] == 0.0), name


@pytest.mark.parametrize("cell_type", ["min_lstm", "min_gru"])
@pytest.mark.parametrize("form", min_rnn.FORMS)
def test_every_form_matches_the_papers_equations(cell_type, form):
    """Each form against a NumPy loop of Feng et al.'s equations (tests/reference.py), run
    on each sequence alone over its own length, forwards and reversed within length."""
    cell = make_cell(cell_type, H)
    shapes = cell.init(jax.random.key(1), D)
    rng = np.random.default_rng(0)
    params = {k: jnp.asarray(rng.normal(scale=0.8, size=v.shape), jnp.float32)
              for k, v in shapes.items()}  # biases too: init has b = 0 (or 1)
    xs = 2.0 * rng.normal(size=(B, T, D)).astype(np.float32)
    h0 = rng.uniform(-1, 1, size=(B, H)).astype(np.float32)
    ref = reference.min_lstm if cell_type == "min_lstm" else reference.min_gru
    for reverse in (False, True):
        ys, carry = min_rnn.scan(cell, params, jnp.asarray(xs), LENGTHS, form=form,
                                 reverse=reverse, initial_carry=cell.zero_carry(B)._replace(
                                     h=jnp.asarray(h0)), chunk=4)
        for b, n in enumerate(np.asarray(LENGTHS)):
            seq = xs[b, :n][::-1] if reverse else xs[b, :n]
            hs, h_last = ref(params, seq, H, h0[b])
            np.testing.assert_allclose(ys[b, :n], hs[::-1] if reverse else hs, atol=TOL,
                                       rtol=TOL, err_msg=f"{form} reverse={reverse}")
            np.testing.assert_array_equal(ys[b, n:], 0.0)
            np.testing.assert_allclose(carry.h[b], h_last, atol=TOL, rtol=TOL)


@pytest.mark.parametrize("chunk", [1, 2, 8, 9, 64])
@pytest.mark.parametrize("lengths,reverse", [(LENGTHS, True), (None, False)])
def test_chunk_length_does_not_change_the_numbers(chunk, lengths, reverse):
    """Any chunk length (1 step, uneven, exactly T, longer than T) gives the sequential
    form's outputs, final state and gradients, with and without lengths, both ways."""
    cell = make_cell("min_lstm", H)
    params = cell.init(jax.random.key(1), D)
    xs = jax.random.normal(jax.random.key(0), (B, T, D))

    def grads(form, **kw):
        def loss(p, x):
            ys, c = min_rnn.scan(cell, p, x, lengths, reverse=reverse, form=form, **kw)
            return jnp.sum(jnp.sin(ys)) + jnp.sum(c.h)
        return jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))(params, xs)

    for a, b in zip(jax.tree.leaves(grads("chunked", chunk=chunk)),
                    jax.tree.leaves(grads("sequential"))):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=TOL, rtol=TOL)


def test_parallel_is_stable_for_long_sequences():
    cell = make_cell("min_gru", H)
    params = cell.init(jax.random.key(1), D)
    xs = 3.0 * jax.random.normal(jax.random.key(0), (2, 3000, D))
    seq, _ = min_rnn.scan(cell, params, xs, form="sequential")
    par, _ = min_rnn.scan(cell, params, xs, form="parallel")
    assert np.all(np.isfinite(np.asarray(par)))
    np.testing.assert_allclose(np.asarray(par), np.asarray(seq), atol=1e-4, rtol=1e-4)


def test_through_the_api():
    cfg = lstmjax.LSTMConfig(D, H, cell="min_lstm", bidirectional=True, num_layers=2)
    params = lstmjax.init(jax.random.key(0), cfg)
    xs = jax.random.normal(jax.random.key(1), (B, T, D))
    ys, state = lstmjax.apply(params, cfg, xs, LENGTHS)
    ref_cfg = dataclasses.replace(cfg, implementation="reference")
    ys_ref, state_ref = lstmjax.apply(params, ref_cfg, xs, LENGTHS)
    ys_par, _ = lstmjax.apply(params, dataclasses.replace(cfg, form="parallel"), xs, LENGTHS)
    ys_chunk, _ = lstmjax.apply(params, dataclasses.replace(cfg, form="chunked", chunk=4), xs,
                                LENGTHS)
    for got in (ys, ys_par, ys_chunk):
        np.testing.assert_allclose(np.asarray(got), np.asarray(ys_ref), atol=TOL)
    assert lstmjax.sentence_representation(state).shape == (B, 2 * H)


def test_form_is_validated():
    with pytest.raises(ValueError, match="form='fast' is not accepted"):
        lstmjax.LSTMConfig(D, H, cell="min_gru", form="fast")
    cell = make_cell("min_gru", H)
    auto = dispatch.driver(cell, form="auto")
    assert auto.func is min_rnn.scan
    assert auto.keywords["form"] == ("chunked" if jax.default_backend() == "cpu" else "parallel")
    assert dispatch.driver(cell, backend="gpu").keywords["form"] == "parallel"
    assert dispatch.driver(cell, backend="gpu", remat=True).keywords["form"] == "chunked"
    xs = jnp.zeros((B, T, D))
    for bad in (0, -3, 2.5):
        with pytest.raises(ValueError, match="chunk must be an integer >= 1"):
            min_rnn.scan(cell, cell.init(jax.random.key(0), D), xs, form="chunked", chunk=bad)
    with pytest.raises(ValueError, match="form='auto' is not accepted"):
        min_rnn.scan(cell, cell.init(jax.random.key(0), D), xs, form="auto")
