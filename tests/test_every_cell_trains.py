"""Every registered cell and every gate preset trains from a config file (2 steps).

The config schema takes its accepted values from the registries, so whatever lstmjax
registers must be trainable; this guards against a cell or preset that the library has
but a config cannot reach (or reaches and silently ignores)."""

import math
import os
import sys

import pytest

from lstmjax import PRESETS, train
from lstmjax.cells import CELL_TYPES

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "configs"))
import tiny_adding  # noqa: E402


def _config(**model):
    c = tiny_adding.get_config()
    c.steps, c.eval_every, c.checkpoint_every, c.log_every = 2, 0, 0, 1
    for key, value in model.items():
        setattr(c.model, key, value)
    return c


@pytest.mark.parametrize("cell", CELL_TYPES)
def test_every_cell_trains_from_a_config(cell):
    summary = train.run(_config(cell=cell), None, progress=False)
    assert summary["status"] == "completed" and summary["step"] == 2
    assert math.isfinite(summary["final_train"]["loss"])
    assert summary["final_eval"]["examples"] == 32


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_gate_preset_trains_from_a_config(preset):
    summary = train.run(_config(gates=preset), None, progress=False)
    assert summary["status"] == "completed" and math.isfinite(summary["final_train"]["loss"])


def test_presets_train_different_models():
    """A preset is not silently ignored: two presets give different parameters."""
    a = train.run(_config(gates="standard"), None, progress=False)["params_sha256"]
    b = train.run(_config(gates="nfg"), None, progress=False)["params_sha256"]
    assert a != b
