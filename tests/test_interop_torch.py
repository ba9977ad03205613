"""lstmjax against real torch.nn.LSTM / GRU / RNN (tanh and ReLU) outputs, from committed
fixtures.

The fixtures are written by ``scripts/make_torch_fixtures.py`` (torch==2.13.0); these
tests need no torch.
"""

import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lstmjax
import lstmjax.nnx as lnnx
from lstmjax import interop

FIXTURES = sorted((pathlib.Path(__file__).parent / "fixtures").glob("torch_*.npz"))
ATOL = 1e-5
apply = lnnx._apply  # jax.jit(lstmjax.apply), config static: one compile per config, shared


def random_params(config, seed=0):
    """Params of ``config``'s shapes (cheaper than lstmjax.init, and biases nonzero)."""
    rng = np.random.default_rng(seed)
    shapes = jax.eval_shape(lambda: lstmjax.init(jax.random.key(0), config))
    return jax.tree.map(lambda s: rng.uniform(-0.5, 0.5, s.shape).astype(np.float32), shapes)


def load(path):
    data = dict(np.load(path))
    sd = {k[3:]: v for k, v in data.items() if k.startswith("sd/")}
    return sd, data


def torch_state(config, data, key):
    """[layers*dirs, B, H] -> lstmjax's per-layer, per-direction layout."""
    a = data[key]
    return [[a[layer * config.num_directions + d] for d in range(config.num_directions)]
            for layer in range(config.num_layers)]


def initial_state_from_torch(config, data):
    if "h0" not in data:
        return None
    h0 = torch_state(config, data, "h0")
    c0 = torch_state(config, data, "c0") if "c0" in data else None
    state = []
    for layer in range(config.num_layers):
        entry = {}
        for d, name in enumerate(("fw", "bw")[:config.num_directions]):
            if config.cell == "lstm":
                entry[name] = lstmjax.LSTMCarry(jnp.asarray(h0[layer][d]), jnp.asarray(c0[layer][d]))
            else:
                entry[name] = lstmjax.RNNCarry(jnp.asarray(h0[layer][d]))
        state.append(entry)
    return tuple(state)


def import_fixture(path, sd):
    """``interop.from_torch`` of a fixture; a ReLU nn.RNN (``irnn``) has the tanh one's
    weights, so only a config says which it is."""
    if path.stem.split("_")[1] != "irnn":
        return interop.from_torch(sd)
    config = lstmjax.LSTMConfig(sd["weight_ih_l0"].shape[1], sd["weight_hh_l0"].shape[1],
                                bidirectional="weight_ih_l0_reverse" in sd, cell="irnn")
    return interop.from_torch(sd, config)


def test_a_relu_rnn_needs_its_config():
    path = next(p for p in FIXTURES if p.stem.startswith("torch_irnn_"))
    sd, data = load(path)
    assert interop.from_torch(sd)[0].cell == "rnn"  # the weights alone read as tanh
    config, params = import_fixture(path, sd)
    ys, _ = apply(params, config, data["xs"], data["lengths"])
    tanh_config = lstmjax.LSTMConfig(config.input_size, config.hidden_size, bidirectional=True,
                                     cell="rnn")
    ys_tanh, _ = apply(params, tanh_config, data["xs"], data["lengths"])
    assert np.asarray(ys).min() >= 0.0 and np.abs(np.asarray(ys) - np.asarray(ys_tanh)).max() > 0.1
    with pytest.raises(ValueError, match=r"has no cell='irnn'"):
        interop.to_keras(params, config)


def test_fixtures_exist_and_are_small():
    assert len(FIXTURES) >= 6
    assert sum(p.stat().st_size for p in FIXTURES) < 1_000_000


@pytest.mark.parametrize("path", FIXTURES, ids=[p.stem for p in FIXTURES])
def test_matches_torch_outputs_and_final_states(path):
    sd, data = load(path)
    config, params = import_fixture(path, sd)
    cell = path.stem.split("_")[1]
    assert config.cell == cell
    assert config.bidirectional == ("_bi_" in path.stem)
    assert config.num_layers == int(path.stem.split("_")[2][1:])
    lengths = data["lengths"] if bool(data["packed"]) else None
    ys, state = apply(params, config, data["xs"], lengths,
                              initial_state=initial_state_from_torch(config, data))
    np.testing.assert_allclose(np.asarray(ys), data["ys"], atol=ATOL, rtol=0)
    h_n = torch_state(config, data, "h_n")
    c_n = torch_state(config, data, "c_n") if "c_n" in data else None
    for layer in range(config.num_layers):
        for d, name in enumerate(("fw", "bw")[:config.num_directions]):
            np.testing.assert_allclose(np.asarray(state[layer][name].h), h_n[layer][d],
                                       atol=ATOL, rtol=0, err_msg=f"h_n layer {layer} {name}")
            if c_n is not None:
                np.testing.assert_allclose(np.asarray(state[layer][name].c), c_n[layer][d],
                                           atol=ATOL, rtol=0, err_msg=f"c_n layer {layer} {name}")


@pytest.mark.parametrize("path", FIXTURES, ids=[p.stem for p in FIXTURES])
def test_round_trips(path):
    sd, data = load(path)
    config, params = import_fixture(path, sd)
    exported = interop.to_torch(params, config)
    # lstmjax -> torch -> lstmjax is bitwise
    config2, params2 = import_fixture(path, exported)
    assert config2 == config
    jax.tree.map(lambda a, b: np.testing.assert_array_equal(np.asarray(a), np.asarray(b)),
                 params, params2)
    # torch -> lstmjax -> torch: weights bitwise, bias_ih + bias_hh preserved (the split is not)
    assert set(exported) == set(sd) | ({k.replace("weight_ih", "bias_ih") for k in sd
                                        if k.startswith("weight_ih")} | {
        k.replace("weight_ih", "bias_hh") for k in sd if k.startswith("weight_ih")})
    for key, value in sd.items():
        if key.startswith("weight"):
            np.testing.assert_array_equal(exported[key], value)
            assert exported[key].flags["C_CONTIGUOUS"]
        elif key.startswith("bias_ih"):
            hh = key.replace("bias_ih", "bias_hh")
            total = exported[key] + exported[hh]
            if config.cell == "gru":  # n block: b_in and b_hn stay apart
                H = config.hidden_size
                np.testing.assert_allclose(exported[hh][2 * H:], sd[hh][2 * H:], rtol=0, atol=0)
                np.testing.assert_allclose(total[:2 * H], value[:2 * H] + sd[hh][:2 * H], atol=1e-6)
                np.testing.assert_array_equal(exported[key][2 * H:], value[2 * H:])
            else:
                np.testing.assert_allclose(total, value + sd[hh], atol=1e-6)


def test_prefix_is_found_in_a_larger_model_state_dict():
    sd, data = load(FIXTURES[0])
    model_sd = {f"encoder.rnn.{k}": v for k, v in sd.items()}
    model_sd["head.weight"] = np.zeros((2, 4), np.float32)
    config, params = interop.from_torch(model_sd)
    config2, params2 = interop.from_torch(sd)
    assert config == config2
    out = interop.to_torch(params, config, prefix="encoder.rnn.")
    assert all(k.startswith("encoder.rnn.") for k in out)
    model_sd["decoder.rnn.weight_ih_l0"] = sd["weight_ih_l0"]
    with pytest.raises(ValueError, match="prefix"):
        interop.from_torch(model_sd)
    interop.from_torch(model_sd, prefix="encoder.rnn.")


def test_accepts_objects_with_array_interface():
    class Tensorish:  # what a torch tensor looks like to the importer
        def __init__(self, a):
            self.a = a

        def detach(self):
            return self

        def cpu(self):
            return self

        def numpy(self):
            return self.a

    sd, _ = load(FIXTURES[0])
    config, params = interop.from_torch({k: Tensorish(v) for k, v in sd.items()})
    _, ref = interop.from_torch(sd)
    np.testing.assert_array_equal(np.asarray(params[0]["fw"]["w_h"]), np.asarray(ref[0]["fw"]["w_h"]))


# --------------------------------------------------------------------------- errors


def bi_sd():
    return load(pathlib.Path(__file__).parent / "fixtures" / "torch_lstm_l2_bi_packed.npz")[0]


def test_bidirectional_state_dict_into_unidirectional_config():
    sd = bi_sd()
    config = lstmjax.LSTMConfig(3, 4, num_layers=2)
    with pytest.raises(ValueError, match=r"weight_ih_l0_reverse.*\(16, 3\).*bidirectional=False"):
        interop.from_torch(sd, config)


def test_missing_extra_and_misshaped_keys():
    sd = bi_sd()
    config = lstmjax.LSTMConfig(3, 4, num_layers=2, bidirectional=True)
    missing = dict(sd)
    del missing["bias_hh_l1_reverse"]
    with pytest.raises(ValueError, match=r"'bias_hh_l1_reverse' is missing \(expected shape \(16,\)\)"):
        interop.from_torch(missing, config)
    with pytest.raises(ValueError, match=r"'bias_hh_l1_reverse' is missing"):
        interop.from_torch(missing)
    extra = dict(sd, weight_ih_l2=np.zeros((16, 8), np.float32))
    with pytest.raises(ValueError, match=r"key 'weight_ih_l2' with shape \(16, 8\) is not expected.*num_layers=2"):
        interop.from_torch(extra, config)
    wrong = dict(sd, weight_hh_l1=np.zeros((16, 5), np.float32))
    with pytest.raises(ValueError, match=r"'weight_hh_l1' has shape \(16, 5\), expected \(16, 4\)"):
        interop.from_torch(wrong)
    with pytest.raises(ValueError, match=r"'weight_ih_l0' has shape \(16, 3\), expected \(16, 5\)"):
        interop.from_torch(sd, lstmjax.LSTMConfig(5, 4, num_layers=2, bidirectional=True))


def test_proj_size_is_a_clear_error():
    sd, _ = load(FIXTURES[0])
    sd = dict(sd, weight_hr_l0=np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match=r"weight_hr_l0.*\(2, 4\).*proj_size=2"):
        interop.from_torch(sd)


def test_nonstandard_gates_cannot_go_to_torch():
    config = lstmjax.LSTMConfig(3, 4, gates="vanilla")
    params = random_params(config)
    with pytest.raises(ValueError, match=r"torch cannot express gates='vanilla' \(peepholes=True\)"):
        interop.to_torch(params, config)
    config = lstmjax.LSTMConfig(3, 4, gates="cifg")
    with pytest.raises(ValueError, match=r"coupled=True"):
        interop.to_torch(random_params(config), config)
    with pytest.raises(ValueError, match=r"gates="):
        interop.from_torch(load(FIXTURES[0])[0], config.__class__(3, 4, gates="nfg"))


def test_params_for_another_config_are_rejected_on_export():
    config = lstmjax.LSTMConfig(3, 4, num_layers=2)
    params = random_params(lstmjax.LSTMConfig(3, 4))
    with pytest.raises(ValueError, match="2 layer"):
        interop.to_torch(params, config)
