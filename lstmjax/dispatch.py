"""One recurrence dispatch: which single-direction driver runs a cell.

:func:`driver` resolves ``implementation`` ("auto" | "fast" | "reference") and, for the
min-RNN cells, ``form`` and ``chunk``, with one ``match``; "auto" is resolved here and
nowhere else. It returns ``scan_fn(cell, params, xs, lengths, *, reverse,
initial_carry)`` with every other argument bound, for ``recurrence.stack``:

=============  =====================  ====================================================
cell           "auto"                 "fast" / "reference"
=============  =====================  ====================================================
LSTM (no FGR)  ``fast.scan``          ``fast.scan`` / ``recurrence.scan``
min_gru/lstm   ``min_rnn.scan`` form  the form / ``recurrence.scan`` (the cell's step)
GRU, RNN, FGR  ``recurrence.scan``    raises (no fast driver) / ``recurrence.scan``
=============  =====================  ====================================================

``form="auto"`` is "chunked" on CPU and "parallel" elsewhere, and "chunked" whenever
``remat=True`` (the form that checkpoints). An argument the chosen driver cannot honour
raises a one-line ``ValueError``; none is accepted and ignored.
"""

from __future__ import annotations

import functools
from typing import Callable

import jax

from lstmjax import fast, min_rnn, recurrence

IMPLEMENTATIONS = ("auto", "fast", "reference")
FORMS = ("auto",) + min_rnn.FORMS
CHUNK = min_rnn.CHUNK


def driver(cell, implementation: str = "auto", form: str = "auto", chunk: int = CHUNK, *,
           unroll: int = 1, remat: bool = False, backend: str | None = None) -> Callable:
    """The single-direction driver for ``cell``; see the module docstring.

    ``backend`` picks ``form="auto"`` (None: ``jax.default_backend()``, asked only then).
    No argument combination is valid on one backend and not on another.
    """
    if implementation not in IMPLEMENTATIONS:
        raise ValueError(f"implementation={implementation!r} is not accepted; use one of "
                         f"{IMPLEMENTATIONS}")
    if form not in FORMS:
        raise ValueError(f"form={form!r} is not accepted; use one of {FORMS}")
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"chunk={chunk!r} is not accepted; use an integer >= 1")
    family = "min" if min_rnn.serves(cell) else "fast" if fast.serves(cell) else "step"
    name = type(cell).__name__
    if (family != "min" or implementation == "reference") and (form, chunk) != ("auto", CHUNK):
        raise ValueError(f"form={form!r}, chunk={chunk} apply only to the min-RNN forms (min_gru/"
                         f"min_lstm, implementation 'auto' or 'fast'), not to {name} with "
                         f"implementation={implementation!r}; leave form='auto', chunk={CHUNK}")
    match implementation, family, form:
        case ("reference", _, _) | ("auto", "step", _):
            return functools.partial(recurrence.scan, unroll=unroll, remat=remat)
        case ("fast", "step", _):
            raise ValueError(f"implementation='fast' has no driver for {name}"
                             f"{' with FGR gates' if name == 'LSTMCell' else ''}; use 'auto' or "
                             "'reference' (both run it on recurrence.scan)")
        case (_, "fast", _):
            return functools.partial(fast.scan, unroll=unroll, remat=remat)
        case (_, "min", "auto"):
            cpu = (backend or jax.default_backend()) == "cpu"
            form = "chunked" if remat or cpu else "parallel"
        case (_, "min", "parallel" | "parallel_linear") if unroll != 1:
            raise ValueError(f"unroll={unroll} has no loop to unroll in form={form!r}; use "
                             "form='sequential' or 'chunked', or unroll=1")
    if remat and form != "chunked":
        raise ValueError(f"remat=True: form={form!r} does not rematerialize; use form='chunked' "
                         "(checkpointed per chunk) or 'auto', or remat=False")
    if chunk != CHUNK and form != "chunked":
        raise ValueError(f"chunk={chunk} applies only to form='chunked', not form={form!r}")
    return functools.partial(min_rnn.scan, form=form, chunk=chunk, unroll=unroll)
