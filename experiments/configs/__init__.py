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


def solve_sweep_settings(c, size: str):
    """The train settings of the sweeps that train to a solve on synthetic recall tasks
    (factorial, greff), set on ``c`` (a ``default_config()``) for ``size``: "tiny" (the
    tests: 4 steps), "cost" (15 steps in timing windows of 5, no evaluation, checkpoints
    or plots: the cost estimate) or "standard" (up to 3000 steps at batch 64, validation
    every 50 steps on 1024 sequences, solved at 99%)."""
    tiny, cost = size == "tiny", size == "cost"
    c.steps = 4 if tiny else 15 if cost else 3000
    c.batch_size = 16 if tiny else 64
    c.eval_every = 2 if tiny else 0 if cost else 50
    if cost:  # timing windows of 5 steps (the first holds the compile), no checkpoints
        c.log_every, c.checkpoint_every, c.plot, c.tensorboard = 5, 0, False, False
    c.eval_batch_size = 64 if tiny else 256
    c.eval_batches = 1 if tiny else 4
    c.solve_threshold = 0.99
    c.model.embed_dim = 4 if tiny else 16
    if tiny:
        c.model.hidden_size = 8
    return c
