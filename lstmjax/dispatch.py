"""One recurrence dispatch: which single-direction driver runs a cell.

:func:`driver` resolves ``implementation`` ("auto" | "native" | "fast" | "reference")
and, for the min-RNN cells, ``form`` and ``chunk``, with one ``match``; "auto" is
resolved here and nowhere else. It returns ``scan_fn(cell, params, xs, lengths, *,
reverse, initial_carry)`` with every other argument bound, for ``recurrence.stack``:

=============  ============================  ===========================================
cell           "auto"                        "native" / "fast" / "reference"
=============  ============================  ===========================================
LSTM (no FGR)  ``native.scan`` on CPU (*),   ``native.scan`` / ``fast.scan`` /
               else ``fast.scan``            ``recurrence.scan``
GRU            ``native.scan`` on CPU (*),   ``native.scan`` / raises / ``recurrence.scan``
               else ``recurrence.scan``
min_gru/lstm   ``min_rnn.scan`` form         raises / the form / ``recurrence.scan``
RNN, FGR       ``recurrence.scan``           raises / raises / ``recurrence.scan``
=============  ============================  ===========================================

(*) the native kernel (``lstmjax.native``) runs under "auto" when the backend is the CPU,
it built on this machine, the inputs are float32 (checked when traced: other dtypes run
on the XLA driver of the row) and ``unroll == 1`` (unroll is a knob of the XLA loops).
Where it cannot build, "auto" says why once, in one line on stderr, and the XLA drivers
run with the same numbers; "native" raises that line instead.

``form="auto"`` is "chunked" on CPU and "parallel" elsewhere, and "chunked" whenever
``remat=True`` (the form that checkpoints). An argument the chosen driver cannot honour
raises a one-line ``ValueError``; none is accepted and ignored.
"""

from __future__ import annotations

import functools
import sys
from typing import Callable

import jax
import jax.numpy as jnp

from lstmjax import fast, min_rnn, native, recurrence

IMPLEMENTATIONS = ("auto", "native", "fast", "reference")
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
    family = ("min" if min_rnn.serves(cell) else "fast" if fast.serves(cell)
              else "native" if native.serves(cell) else "step")
    name = type(cell).__name__
    if (family != "min" or implementation == "reference") and (form, chunk) != ("auto", CHUNK):
        raise ValueError(f"form={form!r}, chunk={chunk} apply only to the min-RNN forms (min_gru/"
                         f"min_lstm, implementation 'auto' or 'fast'), not to {name} with "
                         f"implementation={implementation!r}; leave form='auto', chunk={CHUNK}")
    match implementation, family, form:
        case ("native", "min" | "step", _):
            raise ValueError(f"implementation='native' has no kernel for {name}"
                             f"{' with FGR gates' if name == 'LSTMCell' else ''}; it serves the "
                             "LSTM (every preset but FGR) and the GRU; use 'auto'")
        case ("native", _, _):
            if unroll != 1:
                raise ValueError(f"unroll={unroll} has no loop to unroll in "
                                 "implementation='native' (the whole loop is one kernel call); "
                                 "use unroll=1, or implementation='fast'")
            reason = native.unavailable_reason() or _not_cpu(backend)
            if reason:
                raise ValueError(f"implementation='native' is unavailable: {reason}; use 'auto'")
            return functools.partial(native.scan, remat=remat)
        case ("auto", "fast" | "native", _) if unroll == 1 and _native_on(backend):
            xla = (fast.scan if family == "fast" else recurrence.scan)
            return functools.partial(_native_or_xla, functools.partial(xla, remat=remat),
                                     remat=remat)
        case ("reference", _, _) | ("auto", "step" | "native", _):
            return functools.partial(recurrence.scan, unroll=unroll, remat=remat)
        case ("fast", "step" | "native", _):
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


def _not_cpu(backend: str | None) -> str | None:
    name = backend or jax.default_backend()
    return None if name == "cpu" else f"the kernel runs on the CPU, the backend is {name!r}"


@functools.cache
def _announce(reason: str) -> None:
    """One line on stderr, once per process, when "auto" cannot use the native kernel."""
    print(f"lstmjax: native kernel off ({reason}); running the XLA drivers", file=sys.stderr)


def _native_on(backend: str | None) -> bool:
    """Whether "auto" runs the native kernel on this backend (announcing once if not)."""
    if _not_cpu(backend):
        return False
    reason = native.unavailable_reason()
    if reason:
        _announce(reason)
    return reason is None


def _native_or_xla(xla_scan: Callable, cell, params, xs, lengths=None, *, remat: bool = False,
                   **kwargs):
    """"auto" on CPU: the native kernel for float32 inputs, ``xla_scan`` for other dtypes
    (decided when traced, where the dtype is known; the kernel is float32 only)."""
    if jnp.asarray(xs).dtype == jnp.float32:
        return native.scan(cell, params, xs, lengths, remat=remat, **kwargs)
    return xla_scan(cell, params, xs, lengths, **kwargs)
