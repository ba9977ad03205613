"""Issue 14 items 6-9, 12, 13 and issue 12's "no argument accepted and ignored", at the API.

Each test failed on the code before the fix (commit 6568940) and passes after it.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lstmjax

B, T, D, H = 3, 5, 3, 4
LENGTHS = jnp.array([5, 3, 1])


def _xs(pad_value=0.0):
    xs = np.random.default_rng(0).normal(size=(B, T, D)).astype(np.float32)
    for b, n in enumerate(np.asarray(LENGTHS)):
        xs[b, n:] = pad_value
    return jnp.asarray(xs)


# --------------------------------------------------------------------------- item 6


@pytest.mark.parametrize("kwargs", [
    dict(implementation="fast"), dict(implementation="reference"),
    dict(implementation="fast", bidirectional=True), dict(implementation="reference", bidirectional=True),
    dict(cell="min_gru", form="parallel", bidirectional=True),
])
def test_nan_and_inf_in_padding_do_not_reach_the_gradients(kwargs):
    cfg = lstmjax.LSTMConfig(D, H, **kwargs)
    params = lstmjax.init(jax.random.key(0), cfg)

    def loss(p, xs):
        ys, state = lstmjax.apply(p, cfg, xs, LENGTHS)
        return jnp.sum(jnp.sin(ys)) + sum(jnp.sum(v) for v in jax.tree.leaves(state))

    grad = jax.jit(jax.value_and_grad(loss))
    clean = grad(params, _xs(0.0))
    for bad in (np.nan, np.inf):
        got = grad(params, _xs(bad))
        for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(clean)):
            assert np.all(np.isfinite(a))
            np.testing.assert_array_equal(a, b)


# --------------------------------------------------------------------------- item 7

CFG = lstmjax.LSTMConfig(D, H, bidirectional=True)
PARAMS = lstmjax.init(jax.random.key(0), CFG)


def test_apply_checked_catches_out_of_range_lengths_under_jit():
    f = jax.jit(lstmjax.apply_checked, static_argnums=1)
    for bad in ([9, 3, 1], [5, 0, 1], [5, 3, -2]):
        error, _ = f(PARAMS, CFG, _xs(), jnp.array(bad))
        with pytest.raises(ValueError, match=r"lengths must be in \[1, T=5\]"):
            error.throw()
    error, (ys, state) = f(PARAMS, CFG, _xs(), LENGTHS)
    error.throw()  # in range: no error, the numbers of apply
    ref, _ = lstmjax.apply(PARAMS, CFG, _xs(), LENGTHS)
    np.testing.assert_allclose(ys, ref, atol=1e-6)


def test_unchecked_out_of_range_lengths_do_what_the_docstring_says():
    f = jax.jit(lstmjax.apply, static_argnums=1)
    ys, state = f(PARAMS, CFG, _xs(), jnp.array([9, 0, -2]))
    full, full_state = f(PARAMS, CFG, _xs(), jnp.array([5, 5, 5]))
    np.testing.assert_array_equal(ys[0], full[0])  # > T acts as T
    np.testing.assert_array_equal(state[0]["fw"].h[0], full_state[0]["fw"].h[0])
    assert np.all(np.asarray(ys[1:]) == 0.0)  # < 1: zero outputs, the initial carry
    for leaf in jax.tree.leaves(state):
        assert np.all(np.asarray(leaf)[1:] == 0.0)


# --------------------------------------------------------------------------- items 8, 9


@pytest.mark.parametrize("kwargs,match", [
    (dict(cell="gru", gates="nog"), r"gates='nog' applies only to cell='lstm'"),
    (dict(cell="rnn", gates="cifg"), r"gates='cifg' applies only to cell='lstm'"),
    (dict(cell="min_lstm", gates="vanilla"), r"gates='vanilla' applies only"),
    (dict(cell="gru", forget_bias=2.0), r"forget_bias=2.0 applies only to cell='lstm'"),
    (dict(cell="rnn", chrono_max_len=50.0), r"chrono_max_len=50.0 applies only to cell in \('lstm', 'gru', 'min_lstm', 'min_gru'\)"),
    (dict(cell="irnn", chrono_max_len=50.0), r"chrono_max_len=50.0 applies only"),
    (dict(cell="irnn", recurrent_init="orthogonal"), r"recurrent_init='orthogonal' does not apply to cell='irnn'"),
    (dict(cell="min_gru", recurrent_init="glorot"), r"recurrent_init='glorot' does not apply to cell='min_gru'"),
    (dict(forget_bias=float("nan")), r"forget_bias=nan must be a finite number"),
    (dict(forget_bias=float("inf")), r"forget_bias=inf must be a finite number"),
    (dict(chrono_max_len=float("inf")), r"chrono_max_len=inf must be 0 \(off\) or a finite number > 2"),
    (dict(chrono_max_len=None), r"chrono_max_len=None is not accepted; use 0 for off"),
])
def test_fields_a_cell_would_ignore_or_cannot_use_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        lstmjax.LSTMConfig(D, H, **kwargs)


@pytest.mark.parametrize("kwargs,match", [
    (dict(form="parallel"), r"form='parallel', chunk=64 apply only to the min-RNN forms"),
    (dict(chunk=16), r"chunk=16 apply only to the min-RNN forms"),
    (dict(cell="min_gru", implementation="reference", form="chunked"), r"not to MinGRUCell with implementation='reference'"),
    (dict(cell="min_gru", form="parallel", remat=True), r"remat=True: form='parallel' does not rematerialize"),
    (dict(cell="min_lstm", form="parallel", unroll=4), r"unroll=4 has no loop to unroll in form='parallel'"),
    (dict(cell="min_lstm", form="sequential", chunk=16), r"chunk=16 applies only to form='chunked'"),
    (dict(cell="rnn", implementation="fast"), r"implementation='fast' has no driver for RNNCell"),
    (dict(cell="lstm", gates="fgr", implementation="fast"), r"no driver for LSTMCell with FGR gates"),
    (dict(cell="min_gru", form="fast"), r"form='fast' is not accepted; use one of \('auto', 'sequential'"),
])
def test_driver_arguments_that_cannot_be_honoured_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        lstmjax.LSTMConfig(D, H, **kwargs)


def test_integer_params_raise_naming_the_leaf():
    params = jax.tree.map(lambda v: v.astype(jnp.int32), PARAMS)
    with pytest.raises(TypeError, match=r"params\[0\]\['bw'\]\['b'\] has dtype int32; params must be floating"):
        lstmjax.apply(params, CFG, _xs())
    mixed = [dict(PARAMS[0], fw=dict(PARAMS[0]["fw"], b=PARAMS[0]["fw"]["b"].astype(jnp.bfloat16)))]
    with pytest.raises(TypeError, match=r"params\[0\]\['fw'\]\['b'\] has dtype bfloat16 but .* has float32"):
        lstmjax.apply(mixed, CFG, _xs())


# --------------------------------------------------------------------------- items 12, 13


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16])
def test_low_precision_inputs_are_cast_to_the_params_dtype(dtype):
    xs = _xs().astype(dtype)
    ys, state = lstmjax.apply(PARAMS, CFG, xs, LENGTHS)
    ref, _ = lstmjax.apply(PARAMS, CFG, xs.astype(jnp.float32), LENGTHS)
    assert ys.dtype == jnp.float32
    np.testing.assert_array_equal(ys, ref)
    params16 = jax.tree.map(lambda v: v.astype(dtype), PARAMS)  # and the other way round
    state0 = lstmjax.initial_state(CFG, B)  # f32 initial state, cast too
    ys16, _ = lstmjax.apply(params16, CFG, _xs(), LENGTHS, initial_state=state0)
    assert ys16.dtype == dtype


@pytest.mark.parametrize("call,err,match", [
    (lambda: lstmjax.init(0, CFG), TypeError, r"key must be one PRNG key .*got int 0"),
    (lambda: lstmjax.init(jax.random.split(jax.random.key(0)), CFG), TypeError,
     r"key must be one PRNG key.*shape \(2,\)"),
    (lambda: lstmjax.init(jax.random.key(0), CFG, dtype=jnp.int32), TypeError,
     r"dtype=int32 is not accepted for params; use a floating dtype"),
    (lambda: lstmjax.init(jax.random.key(0), CFG, dtype="wide"), TypeError, r"dtype='wide' is not a dtype"),
    (lambda: lstmjax.apply(PARAMS, CFG, _xs(), dropout_key=3), TypeError,
     r"dropout_key must be one PRNG key .*got int 3"),
    (lambda: lstmjax.sentence_representation(lstmjax.apply(PARAMS, CFG, _xs())[1], layer=5),
     ValueError, r"layer=5 is not accepted for a final state of 1 layer\(s\); use an int in \[-1, 0\]"),
])
def test_bad_arguments_give_one_line(call, err, match):
    with pytest.raises(err, match=match) as info:
        call()
    assert "\n" not in str(info.value)


def test_legacy_uint32_keys_still_work():
    a = lstmjax.init(jax.random.PRNGKey(0), CFG)
    assert jax.tree.structure(a) == jax.tree.structure(PARAMS)
    lstmjax.apply(PARAMS, dataclasses.replace(CFG, dropout=0.5), _xs(),
                  dropout_key=jax.random.PRNGKey(1))
