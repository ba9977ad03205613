"""Bad input is rejected before tracing, with the field, the value and what is accepted."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lstmjax

CONFIG = lstmjax.LSTMConfig(3, 4, bidirectional=True)
PARAMS = lstmjax.init(jax.random.key(0), CONFIG)
XS = jnp.zeros((2, 5, 3))


@pytest.mark.parametrize("kwargs,err,match", [
    (dict(input_size=0, hidden_size=4), ValueError, r"input_size=0 must be a positive int"),
    (dict(input_size=3, hidden_size=-2), ValueError, r"hidden_size=-2"),
    (dict(input_size=3, hidden_size=4, num_layers=0), ValueError, r"num_layers=0"),
    (dict(input_size=3.5, hidden_size=4), TypeError, r"input_size must be an int"),
    (dict(input_size=3, hidden_size=4, gates="lstm2000"), ValueError, r"gates='lstm2000'.*accepted.*cifg"),
    (dict(input_size=3, hidden_size=4, cell="transformer"), ValueError, r"cell='transformer'.*'lstm'"),
    (dict(input_size=3, hidden_size=4, dropout=1.0), ValueError, r"dropout=1.0 must be in \[0, 1\)"),
    (dict(input_size=3, hidden_size=4, bidirectional="yes"), TypeError, r"bidirectional must be a bool"),
    (dict(input_size=3, hidden_size=4, chrono_max_len=1), ValueError, r"chrono_max_len=1"),
    (dict(input_size=3, hidden_size=4, chrono_max_len=None), ValueError, r"chrono_max_len=None.*use 0"),
    (dict(input_size=3, hidden_size=4, recurrent_init="zeros"), ValueError, r"recurrent_init='zeros'"),
])
def test_bad_config(kwargs, err, match):
    with pytest.raises(err, match=match):
        lstmjax.LSTMConfig(**kwargs)


@pytest.mark.parametrize("xs,lengths,err,match", [
    (jnp.zeros((5, 3)), None, ValueError, r"xs must have rank 3 \[B, T, D\], got shape \(5, 3\)"),
    (jnp.zeros((2, 5, 7)), None, ValueError, r"input size D=7.*config.input_size=3"),
    (jnp.zeros((2, 5, 3), jnp.int32), None, TypeError, r"xs must be a floating array"),
    (jnp.zeros((2, 0, 3)), None, ValueError, r"T >= 1"),
    (XS, jnp.array([5, 5, 5]), ValueError, r"lengths must have shape \[B\]=\(2,\), got \(3,\)"),
    (XS, jnp.array([5.0, 2.0]), TypeError, r"lengths must be an integer array"),
    (XS, jnp.array([5, 0]), ValueError, r"lengths\[1\]=0 is outside \[1, T=5\]"),
    (XS, np.array([6, 2]), ValueError, r"lengths\[0\]=6 is outside \[1, T=5\]"),
])
def test_bad_inputs(xs, lengths, err, match):
    with pytest.raises(err, match=match):
        lstmjax.apply(PARAMS, CONFIG, xs, lengths)


def test_params_from_another_config():
    uni = lstmjax.LSTMConfig(3, 4)
    with pytest.raises(ValueError, match=r"\['bw'\].*is not expected \(config: .*bidirectional=False"):
        lstmjax.apply(PARAMS, uni, XS)
    wide = lstmjax.LSTMConfig(3, 8, bidirectional=True)
    with pytest.raises(ValueError, match=r"params\[0\]\['bw'\]\['b'\] has shape \(16,\), expected \(32,\)"):
        lstmjax.apply(PARAMS, wide, XS)
    deep = lstmjax.LSTMConfig(3, 4, num_layers=2, bidirectional=True)
    with pytest.raises(ValueError, match=r"list of 2 layer\(s\)"):
        lstmjax.apply(PARAMS, deep, XS)
    peep = lstmjax.LSTMConfig(3, 4, bidirectional=True, gates="vanilla")
    with pytest.raises(ValueError, match=r"\['peep'\]\['f'\] is missing"):
        lstmjax.apply(PARAMS, peep, XS)
    with pytest.raises(TypeError, match="LSTMConfig"):
        lstmjax.apply(PARAMS, {"hidden_size": 4}, XS)


def test_bad_initial_state():
    state = lstmjax.initial_state(CONFIG, batch=3)
    with pytest.raises(ValueError, match=r"initial_state.*has shape \(3, 4\), expected \(2, 4\)"):
        lstmjax.apply(PARAMS, CONFIG, XS, initial_state=state)


def test_lengths_are_not_value_checked_under_jit_but_shape_checked():
    """Unchecked (see apply_checked): lengths > T act as T, lengths < 1 give zero outputs."""
    f = jax.jit(lstmjax.apply, static_argnums=1)
    ys, _ = f(PARAMS, CONFIG, XS, jnp.array([5, 2]))
    assert ys.shape == (2, 5, 8)
    with pytest.raises(ValueError, match="lengths must have shape"):
        f(PARAMS, CONFIG, XS, jnp.array([5]))


def test_same_key_same_params_and_fold_in_per_layer():
    a = lstmjax.init(jax.random.key(0), CONFIG)
    b = lstmjax.init(jax.random.key(0), lstmjax.LSTMConfig(3, 4, num_layers=2, bidirectional=True))
    for x, y in zip(jax.tree.leaves(a[0]), jax.tree.leaves(b[0])):
        np.testing.assert_array_equal(x, y)  # adding a layer keeps layer 0's init
    c = lstmjax.init(jax.random.key(1), CONFIG)
    assert not np.allclose(a[0]["fw"]["w_x"], c[0]["fw"]["w_x"])


def test_sentence_representation_reads_the_last_layer_by_default():
    deep = lstmjax.LSTMConfig(3, 4, num_layers=2, bidirectional=True)
    params = lstmjax.init(jax.random.key(1), deep)
    xs = jax.random.normal(jax.random.key(2), (2, 5, 3))
    ys, state = lstmjax.apply(params, deep, xs, jnp.array([5, 2]))
    sentence = np.asarray(lstmjax.sentence_representation(state))
    np.testing.assert_array_equal(sentence[:, :4], np.asarray(ys)[[0, 1], [4, 1], :4])
    np.testing.assert_array_equal(sentence[:, 4:], np.asarray(ys)[:, 0, 4:])
    np.testing.assert_array_equal(sentence, lstmjax.sentence_representation(state, layer=1))
    assert not np.allclose(sentence, lstmjax.sentence_representation(state, layer=0))
