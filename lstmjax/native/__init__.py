"""The native CPU kernel for the LSTM and GRU recurrences (XLA FFI, C++, OpenBLAS).

``recurrence.cc`` holds the kernel, :mod:`lstmjax.native.build` compiles it once per
machine and registers it with JAX, :mod:`lstmjax.native.driver` holds the drivers (a
``jax.custom_vjp`` around one forward and one backward call). ``lstmjax.dispatch`` is
the only module that decides when it runs; see docs/speed.md.
"""

from lstmjax.native.build import Unavailable, unavailable_reason
from lstmjax.native.driver import scan, serves

__all__ = ["Unavailable", "scan", "serves", "unavailable_reason"]
