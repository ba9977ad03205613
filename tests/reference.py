"""Independent NumPy implementations of the cells' equations: plain loops over t.

Written from the papers' equations (Greff et al. 2017 for the LSTM variants, the
PyTorch/Flax GRU), not from lstmjax's code, so the tests compare two derivations.
"""

import numpy as np


def sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def blocks(params, names, H):
    """Split the fused kernels into per-gate pieces: {name: (W_x [D,H], W_h [H,H], b [H])}."""
    out = {}
    for k, name in enumerate(names):
        sl = slice(k * H, (k + 1) * H)
        out[name] = (np.asarray(params["w_x"])[:, sl], np.asarray(params["w_h"])[:, sl],
                     np.asarray(params["b"])[sl])
    return out


def lstm(params, gates, xs, H, h0=None, c0=None):
    """One sequence xs [T, D] -> (hs [T, H], h_T, c_T, acts) for any GateConfig."""
    names = gates.blocks
    W = blocks(params, names, H)
    peep = {k: np.asarray(v) for k, v in params.get("peep", {}).items()}
    sig_names = gates.sigmoid_gates
    R = np.asarray(params["w_gates"]) if gates.full_recurrence else None
    h = np.zeros(H) if h0 is None else np.asarray(h0, np.float64)
    c = np.zeros(H) if c0 is None else np.asarray(c0, np.float64)
    prev = np.zeros(len(sig_names) * H)
    hs, acts = [], []
    act_in = np.tanh if gates.input_activation == "tanh" else (lambda v: v)
    act_out = np.tanh if gates.output_activation == "tanh" else (lambda v: v)
    for x in np.asarray(xs, np.float64):
        def pre(name):
            wx, wh, b = W[name]
            v = x @ wx + h @ wh + b
            if R is not None and name in sig_names:
                k = sig_names.index(name)
                v = v + prev @ R[:, k * H:(k + 1) * H]
            return v

        i = sigmoid(pre("i") + (peep["i"] * c if "i" in peep else 0)) if "i" in names else np.ones(H)
        if gates.coupled:
            f = 1.0 - i
        elif "f" in names:
            f = sigmoid(pre("f") + (peep["f"] * c if "f" in peep else 0))
        else:
            f = np.ones(H)
        g = act_in(pre("g"))
        c_new = f * c + i * g
        o = sigmoid(pre("o") + (peep["o"] * c_new if "o" in peep else 0)) if "o" in names else np.ones(H)
        h_new = o * act_out(c_new)
        if R is not None:
            prev = np.concatenate([{"i": i, "f": f, "o": o}[n] for n in sig_names])
        h, c = h_new, c_new
        hs.append(h)
        acts.append({"i": i, "f": f, "o": o, "g": g})
    return np.array(hs).reshape(-1, H), h, c, acts


def rnn(params, xs, H, h0=None):
    h = np.zeros(H) if h0 is None else np.asarray(h0, np.float64)
    hs = []
    for x in np.asarray(xs, np.float64):
        h = np.tanh(x @ np.asarray(params["w_x"]) + h @ np.asarray(params["w_h"]) + np.asarray(params["b"]))
        hs.append(h)
    return np.array(hs).reshape(-1, H), h


def irnn(params, xs, H, h0=None):
    """IRNN (Le et al. 2015): h_t = max(0, W_x x_t + W_h h_{t-1} + b)."""
    h = np.zeros(H) if h0 is None else np.asarray(h0, np.float64)
    hs = []
    for x in np.asarray(xs, np.float64):
        h = np.maximum(0.0, x @ np.asarray(params["w_x"]) + h @ np.asarray(params["w_h"])
                       + np.asarray(params["b"]))
        hs.append(h)
    return np.array(hs).reshape(-1, H), h


def gru(params, xs, H, h0=None):
    W = blocks(params, ("r", "z", "n"), H)
    b_hn = np.asarray(params["b_hn"])
    h = np.zeros(H) if h0 is None else np.asarray(h0, np.float64)
    hs = []
    for x in np.asarray(xs, np.float64):
        r = sigmoid(x @ W["r"][0] + W["r"][2] + h @ W["r"][1])
        z = sigmoid(x @ W["z"][0] + W["z"][2] + h @ W["z"][1])
        n = np.tanh(x @ W["n"][0] + W["n"][2] + r * (h @ W["n"][1] + b_hn))
        h = (1 - z) * n + z * h
        hs.append(h)
    return np.array(hs).reshape(-1, H), h


def g(v):
    """minGRU/minLSTM's positive activation (Feng et al. 2024): v + 0.5 for v >= 0, σ(v) else."""
    return np.where(v >= 0, v + 0.5, sigmoid(v))


def _min_rnn(params, xs, H, h0, update):
    w_x, b = np.asarray(params["w_x"], np.float64), np.asarray(params["b"], np.float64)
    h = np.zeros(H) if h0 is None else np.asarray(h0, np.float64)
    hs = []
    for x in np.asarray(xs, np.float64):
        h = update(x @ w_x + b, h)
        hs.append(h)
    return np.array(hs).reshape(-1, H), h


def min_gru(params, xs, H, h0=None):
    """minGRU (Feng et al. 2024, Sec. 3.2): z_t = σ(Linear_z(x_t)), h~_t = g(Linear_h(x_t)),
    h_t = (1 - z_t) ⊙ h_{t-1} + z_t ⊙ h~_t. Blocks of w_x / b: (z, h)."""
    def update(k, h):
        z, h_tilde = sigmoid(k[:H]), g(k[H:])
        return (1 - z) * h + z * h_tilde
    return _min_rnn(params, xs, H, h0, update)


def min_lstm(params, xs, H, h0=None):
    """minLSTM (Feng et al. 2024, Sec. 3.1): f_t = σ(Linear_f(x_t)), i_t = σ(Linear_i(x_t)),
    h~_t = g(Linear_h(x_t)), f'_t = f_t / (f_t + i_t), i'_t = i_t / (f_t + i_t),
    h_t = f'_t ⊙ h_{t-1} + i'_t ⊙ h~_t. Blocks of w_x / b: (f, i, h)."""
    def update(k, h):
        f, i, h_tilde = sigmoid(k[:H]), sigmoid(k[H:2 * H]), g(k[2 * H:])
        return f / (f + i) * h + i / (f + i) * h_tilde
    return _min_rnn(params, xs, H, h0, update)
