"""Config files, one ``get_config(arg=None)`` each (ml_collections ``config_flags``).

One convention: ``get_config(arg=None)``; a file that takes an argument lists the accepted
ones in ``ARGS`` (the part after ':' on the command line, e.g. a sweep's size) and
:func:`choose` checks it; a file without ``ARGS`` takes none (``choose(arg, (None,), ...)``
refuses one). ``pixel_mnist``'s ``ARGS`` are ``<model>[,permuted]``
(``tests/test_config_defaults.py`` checks the convention for every file).

* single runs (``python -m lstmjax train --config experiments/configs/adding.py``):
  adding, copy_memory, distant_recall, temporal_order, listops, smnist, imdb, text_file,
  npz_file, pixel_mnist; each starts from ``lstmjax.schema.default_config()`` (the one
  defaults table) and sets only what differs;
* sweeps (``python -m experiments.sweep --config experiments/configs/gap_sweep.py:quick``):
  gap_sweep, factorial, ablation, sentiment, adding_long: the same train config plus a
  ``sweep`` section that declares its axes and its report (``experiments/sweep.py``).
  ``gates`` is a sweep with its own script (``python -m experiments.gates``).
"""


def choose(arg: str | None, accepted, default: str, name: str) -> str:
    """``arg`` (``default`` when None), or ValueError naming the file and the accepted."""
    arg = default if arg is None else arg
    if arg not in accepted:
        raise ValueError(f"{name} config: arg={arg!r}; accepted: {tuple(accepted)}")
    return arg
