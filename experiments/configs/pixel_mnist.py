"""Sequential and permuted MNIST: 784 steps of one pixel, test accuracy on all 10,000
test images; 60,000 training images of which a seeded 5,000 are held out for validation
(55,000 / 5,000 / 10,000, scripts/mnist_to_npz.py ``--validation 5000``).

    python scripts/mnist_to_npz.py --out data/mnist_pixels_60k --pixels --validation 5000
    python scripts/mnist_to_npz.py --out data/mnist_permuted_60k --permute 0 --validation 5000
    python -m lstmjax train --config experiments/configs/pixel_mnist.py:lstm \
        --workdir runs/smnist_lstm                       # add :permuted for pMNIST

``get_config("<model>[,permuted]")`` (:data:`ARGS`) with model one of :data:`MODELS`,
parameter-matched to the LSTM (67,850 parameters with the head; each within 1.5%, the
sizes in :data:`MODELS`): the LSTM with chrono initialization (Tallec & Ollivier 2018,
T_max = 784) and with forget bias 1 (``lstm_fb1``), a GRU whose update gate starts keeping
(its chrono counterpart), minGRU (3 layers of 128) and minLSTM (3 layers of 104) as Feng et
al. 2024 stack them, the tanh RNN and the IRNN (Le et al. 2015: ReLU, W_h = I at init; they
used 100 hidden units), both with 256. Published reference points: Arjovsky et al. 2016
(uRNN, Table 1... their LSTM baseline: ~98.2% sequential, ~88% permuted), Le et al. 2015
(IRNN: 97% / 82%, trained with SGD at small learning rates and gradient clipping; here Adam
at the default 1e-3 with the default clip 1), Tallec & Ollivier 2018 (chrono LSTM on pixel
MNIST).

The runs committed before this split existed (``experiments/results/pixel_mnist``, 128
hidden units for every model) trained on the file's 50,000 / 10,000 / 10,000 split
(``data/mnist_pixels``); their ``config.json`` records it.

The runs take hours on 2 CPU cores: checkpoints every 250 steps (one kept), resumable by
rerunning the same command. ``python -m experiments.run_report --resumable`` commits the
latest checkpoint with the records, so that a later session (a fresh clone) continues the
run: ``cp -r experiments/results/pixel_mnist/<run> runs/<run>``, then the same command.
"""

from experiments.configs import choose
from lstmjax.schema import default_config

# sizes matched to the LSTM's 67,850 parameters (tests/test_config_defaults.py checks 1.5%)
MODELS = {
    "lstm": dict(cell="lstm", hidden_size=128, chrono_max_len=784.0),
    "lstm_fb1": dict(cell="lstm", hidden_size=128),  # forget bias 1, the cell's default
    "gru": dict(cell="gru", hidden_size=148, chrono_max_len=784.0),
    "min_gru": dict(cell="min_gru", hidden_size=128, num_layers=3),
    "min_lstm": dict(cell="min_lstm", hidden_size=104, num_layers=3),
    "rnn": dict(cell="rnn", hidden_size=256),
    "irnn": dict(cell="irnn", hidden_size=256),
}


ARGS = tuple(m + v for m in MODELS for v in ("", ",permuted"))


def get_config(arg=None):
    model, *variant = choose(arg, ARGS, "lstm", "pixel_mnist").split(",")
    folder = "mnist_permuted_60k" if variant else "mnist_pixels_60k"
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
    for key, value in MODELS[model].items():
        setattr(c.model, key, value)
    return c
