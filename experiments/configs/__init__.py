"""Config files, one ``get_config(arg)`` each (ml_collections ``config_flags``).

* single runs (``python -m experiments.train --config experiments/configs/adding.py``):
  adding, copy_memory, distant_recall, temporal_order, listops, smnist, imdb, text_file,
  npz_file; each starts from ``lstmjax.schema.default_config()`` (the one defaults table)
  and sets only what differs;
* sweeps (``python -m experiments.gap_sweep --config experiments/configs/gap_sweep.py:quick``):
  gap_sweep, ablation, gates, sentiment, adding_long; ``get_config(size)`` with size
  ``tiny | quick | standard`` gives the sweep's axes and a ``train`` section built from
  ``default_config()`` (see ``experiments/sweep.py``).
"""
