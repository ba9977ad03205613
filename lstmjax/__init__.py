"""lstmjax: functional LSTMs and BiLSTMs in JAX.

The public entry points are :class:`LSTMConfig`, :func:`init` and :func:`apply`, and
``load_run(workdir).predict([...])`` for a trained run; cells, gate presets and the scan
drivers are importable for research use.
Imports run downward: gates, cells; recurrence; fused_scan, min_rnn, native; dispatch; api;
models, interop, nnx (tests/test_imports.py checks it).
"""

import importlib

from lstmjax import dispatch, fused_scan, interop, min_rnn, models, native, recurrence
from lstmjax.api import (LSTMConfig, apply, apply_checked, check_params, init, initial_state,
                         sentence_representation)
from lstmjax.cells import (CELL_TYPES, GRUCell, IRNNCell, LSTMCarry, LSTMCell, MinGRUCell,
                           MinLSTMCell, RNNCarry, RNNCell, make_cell)
from lstmjax.gates import PRESETS, GateConfig, get_gates
from lstmjax.recurrence import bidirectional, scan, stack

__all__ = [
    "LSTMConfig", "apply", "apply_checked", "check_params", "init", "initial_state",
    "sentence_representation", "CELL_TYPES", "GRUCell", "IRNNCell", "LSTMCarry", "LSTMCell",
    "MinGRUCell", "MinLSTMCell", "RNNCarry", "RNNCell", "make_cell", "PRESETS", "GateConfig",
    "get_gates", "bidirectional", "scan", "stack", "dispatch", "fast", "interop", "min_rnn",
    "models", "native", "recurrence",
]
__version__ = "0.1.0"

# Modules with heavy third-party imports (flax.nnx, orbax, grain, optax, ...) load on first
# attribute access (PEP 562), so that `import lstmjax` stays light and
# `lstmjax.nnx.LSTM(...)` still works after it. Not a cycle breaker: none of them is
# imported by a module below it.
_LAZY = ("nnx", "data", "tasks", "train", "parallel", "checkpoint", "runs", "schema", "optim",
         "step", "evaluation", "inference", "cli", "errors")


def __getattr__(name):
    if name in _LAZY:
        return importlib.import_module(f"{__name__}.{name}")
    if name == "load_run":  # lstmjax.load_run(workdir).predict([...]): see lstmjax.inference
        return importlib.import_module(f"{__name__}.inference").load_run
    raise AttributeError(f"module 'lstmjax' has no attribute {name!r}")
