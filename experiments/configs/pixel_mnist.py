"""Sequential and permuted MNIST: 784 steps of one pixel, test accuracy on all 10,000
test images (the 50k/10k/10k split of ``mnist.pkl.gz``, see scripts/mnist_to_npz.py).

    python scripts/mnist_to_npz.py --out data/mnist_pixels --pixels
    python scripts/mnist_to_npz.py --out data/mnist_permuted --permute 0
    python -m lstmjax train --config experiments/configs/pixel_mnist.py:lstm \\
        --workdir runs/smnist_lstm                       # add :permuted for pMNIST

``get_config("<model>[,permuted]")`` (:data:`ARGS`) with model one of :data:`MODELS`: an LSTM with
chrono initialization (Tallec & Ollivier 2018, T_max = 784), a GRU whose update gate
starts keeping (its chrono counterpart), minGRU / minLSTM (Feng et al. 2024), the tanh
RNN and the IRNN (Le et al. 2015: ReLU, W_h = I at init; they used 100 hidden units), all
with 128 hidden units. Published reference points: Arjovsky et al. 2016 (uRNN,
Table 1... their LSTM baseline: ~98.2% sequential, ~88% permuted), Le et al. 2015 (IRNN:
97% / 82%, trained with SGD at small learning rates and gradient clipping; here Adam at the
default 1e-3 with the default clip 1), Tallec & Ollivier 2018 (chrono LSTM on pixel MNIST).

The runs take hours on 2 CPU cores: checkpoints every 250 steps (one kept), resumable by
rerunning the same command. ``python -m experiments.run_report --resumable`` commits the
latest checkpoint with the records, so that a later session (a fresh clone) continues the
run: ``cp -r experiments/results/pixel_mnist/<run> runs/<run>``, then the same command.
"""

from experiments.configs import choose
from lstmjax.schema import default_config

MODELS = {
    "lstm": dict(cell="lstm", chrono_max_len=784.0),
    "gru": dict(cell="gru", chrono_max_len=784.0),
    "min_gru": dict(cell="min_gru"),
    "min_lstm": dict(cell="min_lstm"),
    "rnn": dict(cell="rnn"),
    "irnn": dict(cell="irnn"),
}


ARGS = tuple(m + v for m in MODELS for v in ("", ",permuted"))


def get_config(arg=None):
    model, *variant = choose(arg, ARGS, "lstm", "pixel_mnist").split(",")
    folder = "mnist_permuted" if variant else "mnist_pixels"
    c = default_config()
    c.data = dict(name="npz_file", path=f"data/{folder}/{{split}}.npz", target="classify",
                  holdout=0.0, seed=0)
    c.steps = 20_000
    c.batch_size = 100
    c.log_every = 50
    c.eval_every = 1000
    c.eval_batches = 10          # periodic validation: 5,000 images; the final one all 10,000
    c.eval_batch_size = 500
    c.checkpoint_every = 250
    c.keep_checkpoints = 1
    c.model.hidden_size = 128
    for key, value in MODELS[model].items():
        setattr(c.model, key, value)
    return c
