"""One recurrence dispatch: which single-direction driver runs a cell.

:func:`driver` resolves ``implementation`` ("auto" | "native" | "fast" | "reference")
and, for the min-RNN cells, ``form`` and ``chunk``, with one ``match``; "auto" is
resolved here and nowhere else. It returns ``scan_fn(cell, params, xs, lengths, *,
reverse, initial_carry)`` with every other argument bound, for ``recurrence.stack``:

=============  ============================  ===========================================
cell           "auto"                        "native" / "fast" / "reference"
=============  ============================  ===========================================
LSTM (no FGR)  ``native.scan`` on CPU (*),   ``native.scan`` / ``fused_scan.scan`` /
               ``cudnn.scan`` on GPU for     ``recurrence.scan`` (on GPU "native" is
               the standard preset (*),      ``cudnn.scan``, standard preset only)
               else ``fused_scan.scan``
GRU            ``native.scan`` on CPU (*),   ``native.scan`` / raises / ``recurrence.scan``
               else ``recurrence.scan``
min_gru/lstm   ``min_rnn.scan`` form         raises / the form / ``recurrence.scan``
RNN/IRNN/FGR   ``recurrence.scan``           raises / raises / ``recurrence.scan``
=============  ============================  ===========================================

The IRNN (ReLU) has no kernel on purpose: every kernel here is tanh or gated, and each
``serves`` names the classes it implements (the IRNN is not an ``RNNCell``), so none can
run it with the wrong nonlinearity (tests/test_cells.py checks it).

(*) a native kernel runs under "auto" when the backend has one for the cell (CPU:
``lstmjax.native``, built on this machine; GPU: cuDNN through ``lstmjax.cudnn``), the
inputs are float32 (checked when traced: other dtypes run on the XLA driver of the row)
and ``unroll == 1`` (unroll is a knob of the XLA loops). Where the CPU kernel cannot
build, "auto" says why once, in one line on stderr, and the XLA drivers run with the
same numbers; "native" raises that line instead.

``form="auto"`` is "chunked" on CPU and "parallel" elsewhere, and "chunked" whenever
``remat=True`` (the form that checkpoints). An argument the chosen driver cannot honour
raises a one-line ``ValueError``; none is accepted and ignored. ``form`` and ``chunk``
are None when the user left them unset: "auto" and ``min_rnn.CHUNK`` (the min-RNN
forms' own defaults) then apply, and an unset value never counts as one that was set.
"""

from __future__ import annotations

import functools
import sys
from typing import Callable

import jax
import jax.numpy as jnp

from lstmjax import cudnn, fused_scan, min_rnn, native, recurrence
from lstmjax.cells import LSTMCell

IMPLEMENTATIONS = ("auto", "native", "fast", "reference")
FORMS = ("auto",) + min_rnn.FORMS


def driver(cell, implementation: str = "auto", form: str | None = None,
           chunk: int | None = None, *,
           unroll: int = 1, remat: bool = False, backend: str | None = None) -> Callable:
    """The single-direction driver for ``cell``; see the module docstring.

    ``backend`` picks ``form="auto"`` (None: ``jax.default_backend()``, asked only then).
    No argument combination is valid on one backend and not on another.
    """
    if implementation not in IMPLEMENTATIONS:
        raise ValueError(f"implementation={implementation!r} is not accepted; use one of "
                         f"{IMPLEMENTATIONS}")
    if form is not None and form not in FORMS:
        raise ValueError(f"form={form!r} is not accepted; use one of {FORMS}")
    if chunk is not None and (isinstance(chunk, bool) or not isinstance(chunk, int)
                              or chunk < 1):
        raise ValueError(f"chunk={chunk!r} is not accepted; use an integer >= 1")
    form = form or "auto"  # unset or "auto": every cell accepts it (it picks per backend)
    family = ("min" if min_rnn.serves(cell) else "fast" if fused_scan.serves(cell)
              else "native" if native.serves(cell) else "step")
    name = type(cell).__name__
    if (family != "min" or implementation == "reference") and (
            form != "auto" or chunk is not None):
        shown = min_rnn.CHUNK if chunk is None else chunk
        raise ValueError(f"form={form!r}, chunk={shown} apply only to the min-RNN forms (min_gru/"
                         f"min_lstm, implementation 'auto' or 'fast'), not to {name} with "
                         f"implementation={implementation!r}; leave form and chunk unset")
    match implementation, family, form:
        case ("native", _, _):
            if unroll != 1:
                raise ValueError(f"unroll={unroll} has no loop to unroll in "
                                 "implementation='native' (the whole loop is one kernel call); "
                                 "use unroll=1, or implementation='fast'")
            kernel, reason = _kernel(cell, backend)
            if kernel is None:
                fgr = isinstance(cell, LSTMCell) and cell.gates.full_recurrence
                raise ValueError(f"implementation='native' has no kernel for {name}"
                                 f"{' with FGR gates' if fgr else ''} here: "
                                 f"{reason}; use 'auto'")
            return functools.partial(kernel, remat=remat)
        case ("auto", "fast" | "native", _) if unroll == 1 and (kernel := _auto_kernel(cell,
                                                                                      backend)):
            xla = (fused_scan.scan if family == "fast" else recurrence.scan)
            return functools.partial(_kernel_or_xla, kernel,
                                     functools.partial(xla, remat=remat), remat=remat)
        case ("reference", _, _) | ("auto", "step" | "native", _):
            return functools.partial(recurrence.scan, unroll=unroll, remat=remat)
        case ("fast", "step" | "native", _):
            raise ValueError(f"implementation='fast' has no driver for {name}"
                             f"{' with FGR gates' if name == 'LSTMCell' else ''}; use 'auto' or "
                             "'reference' (both run it on recurrence.scan)")
        case (_, "fast", _):
            return functools.partial(fused_scan.scan, unroll=unroll, remat=remat)
        case (_, "min", "auto"):
            cpu = (backend or jax.default_backend()) == "cpu"
            form = "chunked" if remat or cpu else "parallel"
        case (_, "min", "parallel" | "parallel_linear") if unroll != 1:
            raise ValueError(f"unroll={unroll} has no loop to unroll in form={form!r}; use "
                             "form='sequential' or 'chunked', or unroll=1")
    if remat and form != "chunked":
        raise ValueError(f"remat=True: form={form!r} does not rematerialize; use form='chunked' "
                         "(checkpointed per chunk) or 'auto', or remat=False")
    if chunk is not None and form != "chunked":
        raise ValueError(f"chunk={chunk} applies only to form='chunked', not form={form!r}")
    return functools.partial(min_rnn.scan, form=form, unroll=unroll,
                             **({} if chunk is None else {"chunk": chunk}))


def _kernel(cell, backend: str | None):
    """The native kernel for ``cell`` on ``backend``: ``(scan_fn, None)``, else
    ``(None, one line saying why not)``. CPU: lstmjax's own (``lstmjax.native``); GPU:
    cuDNN (``lstmjax.cudnn``)."""
    name = backend or jax.default_backend()
    if name == "cpu":
        if not native.serves(cell):
            return None, "the CPU kernel serves the LSTM (every preset but FGR) and the GRU"
        reason = native.unavailable_reason()
        return (native.scan, None) if reason is None else (None, reason)
    if name in ("gpu", "cuda", "rocm"):
        if cudnn.serves(cell):
            return cudnn.scan, None
        return None, "on GPU the kernel is cuDNN, which serves the standard LSTM (no peepholes)"
    return None, f"there is no native kernel for the backend {name!r}"


@functools.cache
def _announce(reason: str) -> None:
    """One line on stderr, once per process, when "auto" cannot use the native kernel."""
    print(f"lstmjax: native kernel off ({reason}); running the XLA drivers", file=sys.stderr)


def _auto_kernel(cell, backend: str | None):
    """The kernel "auto" runs for ``cell`` (None: the XLA drivers), announcing once when
    the CPU kernel could serve the cell but did not build."""
    kernel, reason = _kernel(cell, backend)
    if kernel is None and (backend or jax.default_backend()) == "cpu" and native.serves(cell):
        _announce(reason)
    return kernel


def _kernel_or_xla(kernel: Callable, xla_scan: Callable, cell, params, xs, lengths=None, *,
                   remat: bool = False, **kwargs):
    """"auto" with a kernel: the kernel for float32 inputs, ``xla_scan`` for other dtypes
    (decided when traced, where the dtype is known; the kernels are float32 only)."""
    if jnp.asarray(xs).dtype == jnp.float32:
        return kernel(cell, params, xs, lengths, remat=remat, **kwargs)
    return xla_scan(cell, params, xs, lengths, **kwargs)
