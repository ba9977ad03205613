"""No config file restates a default (issue 25 item 2): configs set only what differs.

Every ``experiments/configs/*.py`` is loaded with every argument it accepts (its ``ARGS``:
a sweep's sizes, ``npz_file``'s targets, ``pixel_mnist``'s ``<model>[,permuted]``),
twice: once from ``lstmjax.schema.default_config()`` and once from a copy whose every
default is changed. A field of a train section (a mapping with ``model`` and
``optimizer``: a run config, or a sweep's ``train``) that keeps its value in both loads
was set by the file; if that value equals the default (of ``schema.DEFAULTS``, which
imports the cells' own defaults such as ``cells.FORGET_BIAS`` and ``min_rnn.CHUNK``) for
every argument, the file restates it. A value that equals the default for some sizes only
(``hidden_size = 8 if tiny else 64``) is a choice per size, not a restatement.

Not checked here: ``data`` sections. A config file's data section is not filled from a
defaults table (each task has its own fields), so a field listed there at the task's
default is what makes ``--config.data.<field>=...`` accepted on the command line (the
config is locked: ``--config.data.num_examples=64`` on a file without that key is
refused). They also enter a run's config fingerprint and a sweep record's
``config_sha256`` as written, so dropping one would refuse the resume of committed
checkpoints (``experiments/results/pixel_mnist``) and rerun finished sweep runs.
"""

import copy
import importlib
import inspect
import pkgutil
from pathlib import Path

import ml_collections
import pytest

from lstmjax import cells, min_rnn, schema

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = sorted(m.name for m in pkgutil.iter_modules([str(ROOT / "experiments" / "configs")]))


def _arguments(module) -> list:
    """Every argument ``get_config`` accepts: the one convention is a module-level
    ``ARGS`` (sweep sizes, npz_file's targets, pixel_mnist's ``<model>[,permuted]``);
    a config without ``ARGS`` takes none."""
    return list(getattr(module, "ARGS", [None]))


def _changed(value):
    """Another value of the same type (so a config's own checks still accept it)."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 7
    if isinstance(value, float):
        return value * 2 + 0.25
    if isinstance(value, str):
        return value + "~"
    if isinstance(value, tuple):
        return value + ("~",)
    if isinstance(value, dict):
        return {k: _changed(v) for k, v in value.items()}
    return value  # None: any type may replace it, so it stays


def _load(module, arg, defaults: dict) -> dict:
    real = module.default_config
    module.default_config = lambda: ml_collections.ConfigDict(copy.deepcopy(defaults))
    try:
        return schema.to_dict(module.get_config() if arg is None else module.get_config(arg))
    finally:
        module.default_config = real


def _leaves(tree, path=()):
    if isinstance(tree, dict):
        for k, v in tree.items():
            yield from _leaves(v, path + (k,))
    else:
        yield path, tree


def _train_sections(tree, path=()):
    if isinstance(tree, dict):
        if "model" in tree and "optimizer" in tree:
            yield path, tree
        for k, v in tree.items():
            yield from _train_sections(v, path + (k,))


def _default_at(rel):
    node = schema.DEFAULTS
    for key in rel:
        if not isinstance(node, dict) or key not in node:
            return KeyError
        node = node[key]
    return node


def restated(module) -> set[str]:
    """Fields of ``module``'s train sections set to their default for every argument."""
    per_arg = []
    for arg in _arguments(module):
        given = _load(module, arg, schema.DEFAULTS)
        moved = _load(module, arg, _changed(schema.DEFAULTS))
        found = set()
        for root, section in _train_sections(given):
            other = moved
            for key in root:
                other = other[key]
            for rel, value in _leaves({k: v for k, v in section.items() if k != "data"}):
                there = other
                for key in rel:
                    there = there[key]
                default = _default_at(rel)
                if there == value and value == default and type(value) is type(default):
                    found.add(".".join(root + rel))
        per_arg.append(found)
    return set.intersection(*per_arg)


def test_every_config_is_loaded_with_its_arguments():
    assert {"adding", "gap_sweep", "npz_file", "pixel_mnist", "text_file"} <= set(CONFIGS)
    pixel = importlib.import_module("experiments.configs.pixel_mnist")
    assert "rnn,permuted" in _arguments(pixel)


def test_pixel_mnist_models_are_parameter_matched():
    """Issue 29: every pixel-MNIST model within 1.5% of the LSTM's parameter count."""
    import jax

    from lstmjax import api, models

    pixel = importlib.import_module("experiments.configs.pixel_mnist")

    def count(name):
        m = pixel.get_config(name).model
        rnn = api.LSTMConfig(input_size=1, hidden_size=m.hidden_size, num_layers=m.num_layers,
                             cell=m.cell)
        mc = models.ModelConfig(rnn=rnn, input_kind="features", num_outputs=10)
        return models.num_params(jax.eval_shape(lambda k: models.init(k, mc), jax.random.key(0)))

    lstm = count("lstm")
    counts = {name: count(name) for name in pixel.MODELS}
    assert lstm == 67_850 and set(counts) >= {"lstm_fb1", "gru", "min_gru", "min_lstm", "irnn"}
    assert all(abs(c - lstm) <= 0.015 * lstm for c in counts.values()), counts
    assert pixel.get_config("gru,permuted").data.path == "data/mnist_permuted_60k/{split}.npz"


@pytest.mark.parametrize("name", CONFIGS)
def test_one_get_config_convention(name):
    """``get_config(arg=None)`` everywhere (issue 25: there were four conventions); any
    argument outside ``ARGS`` (none at all for a config without ``ARGS``) is refused in
    one line naming the accepted ones."""
    module = importlib.import_module(f"experiments.configs.{name}")
    params = list(inspect.signature(module.get_config).parameters.values())
    assert [(p.name, p.default) for p in params] == [("arg", None)], name
    assert all(isinstance(a, str) and a for a in getattr(module, "ARGS", ["-"]))
    with pytest.raises(ValueError, match=rf"^{name} config: arg='no-such-arg'; accepted: "):
        module.get_config("no-such-arg")


@pytest.mark.parametrize("name", CONFIGS)
def test_no_config_restates_a_default(name):
    module = importlib.import_module(f"experiments.configs.{name}")
    found = restated(module)
    assert not found, (f"experiments/configs/{name}.py sets {sorted(found)} to the default of "
                       "lstmjax.schema.DEFAULTS; delete those lines (configs set only what "
                       "differs)")


def test_the_check_finds_a_restated_default(monkeypatch):
    """A config that sets a default (the forget bias a cell owns, the learning rate) is
    caught; one that sets it for some sizes only, or to another value, is not."""
    source = ("from lstmjax.schema import default_config\n"
              "ARGS = ('tiny', 'standard')\n"
              "def get_config(arg=None):\n"
              "    c = default_config()\n"
              f"    c.model.forget_bias = {cells.FORGET_BIAS!r}\n"
              f"    c.model.chunk = {min_rnn.CHUNK!r}\n"
              "    c.optimizer.learning_rate = 1e-3 if arg != 'tiny' else 2e-3\n"
              "    c.steps = 5\n"
              "    return c\n")
    module = type(importlib)("fake_config")
    exec(compile(source, "fake_config.py", "exec"), module.__dict__)
    assert restated(module) == {"model.forget_bias", "model.chunk"}
    monkeypatch.setitem(schema.DEFAULTS["model"], "forget_bias", 0.5)
    assert restated(module) == {"model.chunk"}  # 1.0 is no longer the default
