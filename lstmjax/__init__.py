"""lstmjax: functional LSTMs and BiLSTMs in JAX.

The public entry points are :class:`LSTMConfig`, :func:`init` and :func:`apply`;
cells, gate presets and the scan driver are importable for research use.
"""

from lstmjax.api import (LSTMConfig, apply, check_params, init, initial_state,
                         sentence_representation)
from lstmjax.cells import GRUCell, LSTMCarry, LSTMCell, RNNCarry, RNNCell, make_cell
from lstmjax.gates import PRESETS, GateConfig, get_gates
from lstmjax.recurrence import bidirectional, scan, stack

__all__ = [
    "LSTMConfig", "apply", "check_params", "init", "initial_state", "sentence_representation",
    "GRUCell", "LSTMCarry", "LSTMCell", "RNNCarry", "RNNCell", "make_cell",
    "PRESETS", "GateConfig", "get_gates", "bidirectional", "scan", "stack",
]
__version__ = "0.1.0"


def __getattr__(name):
    # Submodules with heavier imports (flax.nnx, orbax, grain) load on first use, so that
    # `import lstmjax; lstmjax.interop.from_torch(...)` works without importing them all.
    import importlib

    if name in ("interop", "nnx", "data", "tasks", "models", "train", "parallel", "checkpoint",
                "runs", "fast", "min_rnn"):
        return importlib.import_module(f"lstmjax.{name}")
    raise AttributeError(f"module 'lstmjax' has no attribute {name!r}")
