"""Write the PyTorch reference fixtures ``tests/fixtures/torch_*.npz``.

Needs only torch and numpy (not lstmjax), so it runs in a separate environment:

    python3 -m venv /tmp/torchvenv && /tmp/torchvenv/bin/pip install torch==2.13.0 numpy
    /tmp/torchvenv/bin/python scripts/make_torch_fixtures.py

Each fixture holds a real ``nn.LSTM`` / ``nn.GRU`` / ``nn.RNN`` (tanh, and ReLU for
lstmjax's ``irnn``)'s state dict (keys
``sd/<name>``), batch-first inputs ``xs [B, T, D]``, ``lengths [B]``, the outputs ``ys``
(run through ``pack_padded_sequence`` when ``packed``, so padded steps are zero and
each direction sees only its valid steps), and the final states ``h_n`` (and ``c_n``)
``[layers*dirs, B, H]``. Some cases start from a random ``h0``/``c0``.
The tests (``tests/test_interop_torch.py``) compare lstmjax against these without torch.
"""

from __future__ import annotations

import argparse
import pathlib

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

#        name                   module  D  H  layers  bidir  packed  bias   h0
CASES = [
    ("lstm_l1_uni_packed",      "lstm", 3, 4, 1, False, True,  True,  False),
    ("lstm_l2_uni_packed",      "lstm", 3, 4, 2, False, True,  True,  False),
    ("lstm_l1_bi_full",         "lstm", 3, 4, 1, True,  False, True,  False),
    ("lstm_l2_bi_packed",       "lstm", 3, 4, 2, True,  True,  True,  False),
    ("lstm_l2_bi_packed_h0",    "lstm", 2, 3, 2, True,  True,  True,  True),
    ("lstm_l1_uni_nobias",      "lstm", 3, 4, 1, False, True,  False, False),
    ("gru_l2_bi_packed",        "gru",  3, 4, 2, True,  True,  True,  False),
    ("rnn_l1_bi_packed",        "rnn",  3, 4, 1, True,  True,  True,  False),
    ("irnn_l1_bi_packed",       "irnn", 3, 4, 1, True,  True,  True,  False),  # ReLU nn.RNN
]
BATCH, STEPS = 4, 6


def make(name, kind, D, H, layers, bidir, packed, bias, h0, seed):
    torch.manual_seed(seed)
    cls = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN, "irnn": nn.RNN}[kind]
    relu = {"nonlinearity": "relu"} if kind == "irnn" else {}  # lstmjax's cell="irnn"
    module = cls(D, H, num_layers=layers, bidirectional=bidir, batch_first=True, bias=bias,
                 **relu)
    with torch.no_grad():  # biases are zero-ish at init in some versions: make them matter
        for p in module.parameters():
            p.uniform_(-0.6, 0.6)
    xs = torch.randn(BATCH, STEPS, D)
    lengths = torch.tensor([STEPS, 3, 1, 5] if packed else [STEPS] * BATCH)
    dirs = 2 if bidir else 1
    state0 = None
    extra = {}
    if h0:
        h = torch.randn(layers * dirs, BATCH, H)
        c = torch.randn(layers * dirs, BATCH, H)
        state0 = (h, c) if kind == "lstm" else h
        extra["h0"] = h.numpy()
        if kind == "lstm":
            extra["c0"] = c.numpy()
    with torch.no_grad():
        if packed:
            seq = pack_padded_sequence(xs, lengths, batch_first=True, enforce_sorted=False)
            out, state = module(seq, state0)
            ys, _ = pad_packed_sequence(out, batch_first=True, total_length=STEPS)
        else:
            ys, state = module(xs, state0)
    h_n, c_n = state if kind == "lstm" else (state, None)
    arrays = {f"sd/{k}": v.numpy() for k, v in module.state_dict().items()}
    arrays.update(xs=xs.numpy(), lengths=lengths.numpy().astype(np.int32), ys=ys.numpy(),
                  h_n=h_n.numpy(), packed=np.array(packed), torch_version=np.array(torch.__version__),
                  **extra)
    if c_n is not None:
        arrays["c_n"] = c_n.numpy()
    return arrays


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(pathlib.Path(__file__).resolve().parents[1]
                                             / "tests" / "fixtures"))
    args = parser.parse_args()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for seed, case in enumerate(CASES):
        arrays = make(*case, seed=seed)
        path = out / f"torch_{case[0]}.npz"
        np.savez_compressed(path, **arrays)
        print(f"{path}  {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
