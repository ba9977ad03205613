"""Weights in and out: PyTorch, Keras, Flax (linen and NNX) and Haiku <-> lstmjax params.

Every importer returns ``(config, params)``: an :class:`lstmjax.LSTMConfig` inferred
from the weights (or the one you pass, checked against them) and params in the layout
of :func:`lstmjax.init`, ready for :func:`lstmjax.apply`::

    config, params = lstmjax.interop.from_torch(torch_lstm.state_dict())
    ys, state = lstmjax.apply(params, config, xs, lengths)
    torch_lstm.load_state_dict({k: torch.from_numpy(v)
                                for k, v in lstmjax.interop.to_torch(params, config).items()})

Inputs are anything ``numpy.asarray`` accepts (torch tensors are detached and moved to
the CPU by duck typing, so no framework is imported here). Exporters return plain
NumPy arrays.

=============  ================================================  ======================
format         layout (per layer and direction)                  gate order / biases
=============  ================================================  ======================
torch          ``weight_ih_l{k}[_reverse]`` [G·H, D],            i, f, g, o; two biases
               ``weight_hh_l{k}`` [G·H, H], ``bias_ih/bias_hh``   summed on import
keras          ``kernel`` [D, 4H], ``recurrent_kernel`` [H, 4H],  i, f, c, o
               ``bias`` [4H]  (``layer.get_weights()`` order)
flax linen     ``ii/if/ig/io.kernel`` [D, H],                      i, f, g, o; bias on
               ``hi/hf/hg/ho.kernel`` [H, H] and ``.bias`` [H]     the h-side only
flax nnx       ``LSTMCell``: like linen but ``if_``;               i, f, g, o
               ``OptimizedLSTMCell``: ``dense_i.kernel`` [D, 4H],
               ``dense_h.kernel`` [H, 4H], ``dense_h.bias`` [4H]
haiku          ``lstm/linear``: ``w`` [D+H, 4H] (rows: x then h),  i, g, f, o; +1 added
               ``b`` [4H]                                         to f in the forward
=============  ================================================  ======================

Conventions that are not lossless in every direction (documented, tested):

* torch keeps two biases; lstmjax keeps their sum. ``to_torch`` writes the whole bias to
  ``bias_ih`` and zeros to ``bias_hh`` (for a GRU, ``bias_hh`` holds ``b_hn`` in its n
  block, which a GRU needs apart). lstmjax -> torch -> lstmjax is bitwise; torch ->
  lstmjax -> torch keeps ``bias_ih + bias_hh`` (hence every output), not the split.
* Haiku adds 1 to the forget pre-activation in its forward pass; lstmjax folds it into
  ``b_f`` on import and subtracts it on export, exact up to float rounding of ``b_f ± 1``.
* Only the standard LSTM (``gates="standard"`` / ``"np"``) exists in these libraries;
  other gate presets (peepholes, CIFG, ...) raise on export. ``nn.LSTM(proj_size>0)``
  raises on import. torch ``nn.GRU`` and ``nn.RNN`` (tanh) state dicts are also
  accepted (the cell type is inferred from ``weight_hh``'s shape). A ReLU
  ``nn.RNN(nonlinearity='relu')`` has the tanh one's weights and cannot be told apart
  from them: pass ``config=LSTMConfig(..., cell="irnn")`` (lstmjax's ReLU RNN) to import
  one; ``to_torch`` of an ``irnn`` gives its state dict.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from lstmjax.api import LSTMConfig, check_params, check_shapes
from lstmjax.gates import GateConfig, get_gates

__all__ = [
    "InteropError", "from_torch", "to_torch", "from_keras", "to_keras",
    "from_flax_linen", "to_flax_linen", "from_flax_nnx", "to_flax_nnx",
    "from_haiku", "to_haiku",
]

_DIRS = ("fw", "bw")
_LSTM_ORDER = ("i", "f", "g", "o")


class InteropError(ValueError):
    """Weights that do not fit the requested format or config (a ``ValueError``)."""


# --------------------------------------------------------------------------- helpers


def _to_numpy(x, name: str) -> np.ndarray:
    """Anything array-like -> ndarray; torch tensors by duck typing (no torch import)."""
    if hasattr(x, "detach") and hasattr(x, "cpu") and hasattr(x, "numpy"):
        try:
            x = x.detach().cpu().numpy()
        except (TypeError, RuntimeError) as e:  # e.g. bfloat16 has no NumPy dtype
            raise TypeError(f"{name}: cannot convert {type(x).__name__} to NumPy ({e}); "
                            "call .float() on it first") from e
    try:
        a = np.asarray(x)
    except Exception as e:  # noqa: BLE001 - re-raised with the key
        raise TypeError(f"{name}: cannot convert {type(x).__name__} to a NumPy array ({e})") from e
    if not np.issubdtype(a.dtype, np.floating) and a.dtype.name != "bfloat16":
        raise TypeError(f"{name} must be a floating array, got dtype {a.dtype}")
    return a


def _is_array(x) -> bool:
    return hasattr(x, "__array__") or hasattr(x, "shape") and hasattr(x, "dtype")


def _shape(x) -> tuple[int, ...]:
    return tuple(int(s) for s in np.shape(x))


def _blocks(a: np.ndarray, n: int, axis: int = -1) -> list[np.ndarray]:
    return np.split(a, n, axis=axis)


def _gates_problem(config: LSTMConfig) -> str | None:
    """Why a non-standard LSTM cannot be exported, or None for the standard one."""
    gates = get_gates(config.gates)
    if gates == GateConfig():
        return None
    diffs = [f"{f.name}={getattr(gates, f.name)!r}" for f in dataclasses.fields(GateConfig)
             if getattr(gates, f.name) != getattr(GateConfig(), f.name)]
    return f"gates={config.gates!r} ({', '.join(diffs)})"


def _require_lstm(config: LSTMConfig, fmt: str, cells: Sequence[str] = ("lstm",)):
    if not isinstance(config, LSTMConfig):
        raise TypeError(f"config must be an lstmjax.LSTMConfig, got {type(config).__name__}")
    if config.cell not in cells:
        raise InteropError(f"{fmt} has no cell={config.cell!r}; it converts cell in {tuple(cells)}")
    if config.cell == "lstm":
        problem = _gates_problem(config)
        if problem is not None:
            raise InteropError(f"{fmt} cannot express {problem}: it only has the standard LSTM "
                               "(gates='standard' or 'np'); peepholes, CIFG, FGR and ablated "
                               "gates have no counterpart there")


def _check_flat(got: Mapping[str, Any], expected: Mapping[str, tuple], fmt: str,
                hint: Callable[[str], str] = lambda k: "") -> None:
    """Missing, extra and mis-shaped keys, each a one-line error naming key and shapes."""
    check_shapes(got, expected, label=lambda k: f"{fmt}: key {k!r}", hint=hint,
                 error=InteropError)


def _finish(config: LSTMConfig, layers: list[dict]) -> tuple[LSTMConfig, list]:
    params = [{d: {k: (jax.tree.map(jnp.asarray, v)) for k, v in cell.items()}
               for d, cell in layer.items()} for layer in layers]
    check_params(params, config)  # belt and braces: the layout lstmjax.apply expects
    return config, params


def _layer_input(config: LSTMConfig, layer: int) -> int:
    return config.input_size if layer == 0 else config.output_size


def _np_params(params, config: LSTMConfig):
    check_params(params, config)
    return [{d: jax.tree.map(np.asarray, layer[d]) for d in _DIRS[:config.num_directions]}
            for layer in params]


# --------------------------------------------------------------------------- PyTorch

_TORCH_GATES = {"lstm": 4, "gru": 3, "rnn": 1, "irnn": 1}
_TORCH_CELLS = {4: "lstm", 3: "gru", 1: "rnn"}  # inferred: a ReLU nn.RNN looks like a tanh one
_TORCH_NAME = {"lstm": "nn.LSTM", "gru": "nn.GRU", "rnn": "nn.RNN",
               "irnn": "nn.RNN(nonlinearity='relu')"}
_TORCH_KEY = re.compile(r"^(weight|bias)_(ih|hh|hr)_l(\d+)(_reverse)?$")


def _torch_expected(config: LSTMConfig, bias: bool) -> dict[str, tuple]:
    G, H = _TORCH_GATES[config.cell], config.hidden_size
    exp = {}
    for layer in range(config.num_layers):
        for sfx in ("", "_reverse")[:config.num_directions]:
            exp[f"weight_ih_l{layer}{sfx}"] = (G * H, _layer_input(config, layer))
            exp[f"weight_hh_l{layer}{sfx}"] = (G * H, H)
            if bias:
                exp[f"bias_ih_l{layer}{sfx}"] = (G * H,)
                exp[f"bias_hh_l{layer}{sfx}"] = (G * H,)
    return exp


def _torch_prefix(keys: Sequence[str]) -> str:
    if "weight_ih_l0" in keys:
        return ""
    found = sorted(k[:-len("weight_ih_l0")] for k in keys if k.endswith(".weight_ih_l0"))
    if len(found) == 1:
        return found[0]
    if not found:
        raise InteropError("torch state dict: key 'weight_ih_l0' is missing (no nn.LSTM/GRU/RNN "
                           f"weights found); found keys {sorted(keys)[:8]}")
    raise InteropError(f"torch state dict holds several recurrent modules {found}; pass "
                       "prefix=... to pick one")


def from_torch(state_dict: Mapping[str, Any], config: LSTMConfig | None = None, *,
               prefix: str | None = None) -> tuple[LSTMConfig, list]:
    """A ``torch.nn.LSTM`` (or ``nn.GRU`` / ``nn.RNN``) state dict -> ``(config, params)``.

    Args:
      state_dict: ``module.state_dict()`` (tensors or arrays). Sizes, layers, direction
        and cell type are inferred from its keys and shapes.
      config: optional; if given, the state dict is checked against it (and it is
        returned), e.g. to keep your ``unroll`` or ``dropout``. Required for a ReLU
        ``nn.RNN`` (``cell="irnn"``): without it an (H, H) ``weight_hh`` reads as tanh.
      prefix: keys' prefix inside a larger model's state dict (e.g. ``"encoder.rnn."``);
        by default found from the unique ``*.weight_ih_l0`` key.
    Returns:
      ``(config, params)`` with ``b = bias_ih + bias_hh`` (GRU: ``b_hn = bias_hh[n]``).
    """
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"state_dict must be a mapping of name -> tensor, got "
                        f"{type(state_dict).__name__}")
    keys = [str(k) for k in state_dict]
    if prefix is None:
        prefix = _torch_prefix(keys)
    sd = {str(k)[len(prefix):]: _to_numpy(v, str(k)) for k, v in state_dict.items()
          if str(k).startswith(prefix)}
    fmt = "torch state dict"
    for key, value in sd.items():
        if key.startswith("weight_hr_"):
            raise InteropError(f"{fmt}: key {prefix + key!r} with shape {_shape(value)} means "
                               f"nn.LSTM(proj_size={_shape(value)[0]}), whose projected h = "
                               "W_hr·h lstmjax does not implement; use proj_size=0")
    if config is None:
        if "weight_ih_l0" not in sd or "weight_hh_l0" not in sd:
            raise InteropError(f"{fmt}: key {prefix + 'weight_ih_l0'!r} or "
                               f"{prefix + 'weight_hh_l0'!r} is missing; found {sorted(sd)[:8]}")
        rows, H = _shape(sd["weight_hh_l0"]) if len(_shape(sd["weight_hh_l0"])) == 2 else (0, 0)
        if H == 0 or rows % H or rows // H not in _TORCH_CELLS:
            raise InteropError(f"{fmt}: key {prefix + 'weight_hh_l0'!r} has shape "
                               f"{_shape(sd['weight_hh_l0'])}, expected (4H, H) for nn.LSTM, "
                               "(3H, H) for nn.GRU or (H, H) for nn.RNN")
        D = _shape(sd["weight_ih_l0"])[-1]
        layers = 1 + max(int(m.group(3)) for m in map(_TORCH_KEY.match, sd) if m)
        bidir = any(k.endswith("_reverse") for k in sd)
        config = LSTMConfig(D, H, layers, bidir, cell=_TORCH_CELLS[rows // H])
    _require_lstm(config, fmt, cells=tuple(_TORCH_GATES))
    has_bias = any(k.startswith("bias_") for k in sd)

    def hint(key):
        m = _TORCH_KEY.match(key)
        if m and m.group(4) and not config.bidirectional:
            return (": the state dict is of a bidirectional module but "
                    "config.bidirectional=False")
        if m and int(m.group(3)) >= config.num_layers:
            return f": the state dict has more layers than config.num_layers={config.num_layers}"
        if m:
            G = _TORCH_GATES[config.cell]
            return (f" ({_TORCH_NAME[config.cell]} with {G} gate block(s), input_size="
                    f"{config.input_size}, hidden_size={config.hidden_size})")
        return ""

    _check_flat({prefix + k: v for k, v in sd.items()},
                {prefix + k: s for k, s in _torch_expected(config, has_bias).items()},
                fmt, lambda k: hint(k[len(prefix):]))
    H = config.hidden_size
    layers = []
    for layer in range(config.num_layers):
        entry = {}
        for d, sfx in zip(_DIRS[:config.num_directions], ("", "_reverse")):
            get = lambda n: sd[f"{n}_l{layer}{sfx}"]
            w_ih, w_hh = get("weight_ih"), get("weight_hh")
            cell = {"w_x": np.ascontiguousarray(w_ih.T), "w_h": np.ascontiguousarray(w_hh.T)}
            b_ih = get("bias_ih") if has_bias else np.zeros(w_ih.shape[0], w_ih.dtype)
            b_hh = get("bias_hh") if has_bias else np.zeros(w_ih.shape[0], w_ih.dtype)
            if config.cell == "gru":  # b_hn sits inside r ⊙ (W_hn h + b_hn): keep it apart
                cell["b"] = b_ih + np.concatenate([b_hh[:2 * H], np.zeros_like(b_hh[2 * H:])])
                cell["b_hn"] = b_hh[2 * H:].copy()
            else:
                cell["b"] = b_ih + b_hh
            entry[d] = cell
        layers.append(entry)
    return _finish(config, layers)


def to_torch(params, config: LSTMConfig, *, prefix: str = "") -> dict[str, np.ndarray]:
    """lstmjax params -> a ``torch.nn.LSTM`` (``nn.GRU``, ``nn.RNN``; ``irnn``: ``nn.RNN(...,
    nonlinearity='relu')``) state dict of NumPy arrays.

    The summed bias goes to ``bias_ih`` and ``bias_hh`` is zero (GRU: ``bias_hh`` carries
    ``b_hn`` in its n block). Load with
    ``module.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()})``; build
    the module as ``nn.LSTM(config.input_size, config.hidden_size, config.num_layers,
    batch_first=True, bidirectional=config.bidirectional)``.
    """
    _require_lstm(config, "torch", cells=tuple(_TORCH_GATES))
    H = config.hidden_size
    out = {}
    for layer, entry in enumerate(_np_params(params, config)):
        for d, sfx in zip(_DIRS[:config.num_directions], ("", "_reverse")):
            cell = entry[d]
            b_hh = np.zeros_like(cell["b"])
            if config.cell == "gru":
                b_hh[2 * H:] = cell["b_hn"]
            out[f"{prefix}weight_ih_l{layer}{sfx}"] = np.ascontiguousarray(cell["w_x"].T)
            out[f"{prefix}weight_hh_l{layer}{sfx}"] = np.ascontiguousarray(cell["w_h"].T)
            out[f"{prefix}bias_ih_l{layer}{sfx}"] = np.array(cell["b"])
            out[f"{prefix}bias_hh_l{layer}{sfx}"] = b_hh
    return out


# --------------------------------------------------------------------------- per-cell formats
#
# Each format is (expected(D, H) -> {path: shape}, read(flat, H) -> cell, write(cell, H) ->
# flat) over "/"-joined paths; the layer/direction plumbing below is shared.


def _flatten(tree, prefix: str = "") -> dict[str, Any]:
    if isinstance(tree, Mapping) and not _is_array(tree):
        out = {}
        for k, v in tree.items():
            out.update(_flatten(v, f"{prefix}{k}/"))
        return out
    return {prefix[:-1]: tree}


def _unflatten(flat: Mapping[str, Any]) -> dict:
    out: dict = {}
    for path, value in flat.items():
        node = out
        *parents, leaf = path.split("/")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return out


@dataclasses.dataclass(frozen=True)
class _CellFormat:
    name: str
    expected: Callable[[int, int], dict]
    sizes: Callable[[dict], tuple[int, int] | None]  # (D, H) from the flat dict, or None
    read: Callable[[dict, int], dict]
    write: Callable[[dict, int], dict]
    layout: str  # what a cell's weights look like, for error messages


def _per_gate_format(name: str, if_name: str) -> _CellFormat:
    """Flax LSTMCell layout: one Dense per gate (x side: kernel; h side: kernel + bias)."""
    x_names = ["ii", if_name, "ig", "io"]
    h_names = ["hi", "hf", "hg", "ho"]

    def expected(D, H):
        exp = {f"{n}/kernel": (D, H) for n in x_names}
        for n in h_names:
            exp[f"{n}/kernel"] = (H, H)
            exp[f"{n}/bias"] = (H,)
        return exp

    def sizes(flat):
        a, b = flat.get("ii/kernel"), flat.get("hi/kernel")
        if a is None or b is None or len(_shape(a)) != 2:
            return None
        return _shape(a)[0], _shape(b)[-1]

    def read(flat, H):
        return {"w_x": np.concatenate([flat[f"{n}/kernel"] for n in x_names], axis=1),
                "w_h": np.concatenate([flat[f"{n}/kernel"] for n in h_names], axis=1),
                "b": np.concatenate([flat[f"{n}/bias"] for n in h_names])}

    def write(cell, H):
        out = {}
        for n, w in zip(x_names, _blocks(cell["w_x"], 4)):
            out[f"{n}/kernel"] = np.ascontiguousarray(w)
        for n, w, b in zip(h_names, _blocks(cell["w_h"], 4), _blocks(cell["b"], 4)):
            out[f"{n}/kernel"] = np.ascontiguousarray(w)
            out[f"{n}/bias"] = np.array(b)
        return out

    return _CellFormat(name, expected, sizes, read, write,
                       f"kernels {'/'.join(x_names)} [D, H], {'/'.join(h_names)} [H, H] with "
                       "bias [H]")


def _fused_format(name: str, kx: str, kh: str, kb: str, order: Sequence[str]) -> _CellFormat:
    """One [D, 4H] input kernel, one [H, 4H] recurrent kernel, one [4H] bias in ``order``."""
    perm = [order.index(g) for g in _LSTM_ORDER]   # lstmjax block k <- source block perm[k]
    inv = [_LSTM_ORDER.index(g) for g in order]     # source block k <- lstmjax block inv[k]

    def reorder(a, idx):
        return np.concatenate([_blocks(a, 4)[i] for i in idx], axis=-1)

    def expected(D, H):
        return {kx: (D, 4 * H), kh: (H, 4 * H), kb: (4 * H,)}

    def sizes(flat):
        a, b = flat.get(kx), flat.get(kh)
        if a is None or b is None or len(_shape(a)) != 2 or len(_shape(b)) != 2:
            return None
        return _shape(a)[0], _shape(b)[0]

    def read(flat, H):
        return {"w_x": reorder(flat[kx], perm), "w_h": reorder(flat[kh], perm),
                "b": reorder(flat[kb], perm)}

    def write(cell, H):
        return {kx: reorder(cell["w_x"], inv), kh: reorder(cell["w_h"], inv),
                kb: reorder(cell["b"], inv)}

    return _CellFormat(name, expected, sizes, read, write, f"{kx} [D, 4H], {kh} [H, 4H], {kb} [4H]")


def _haiku_format() -> _CellFormat:
    order = ("i", "g", "f", "o")
    perm = [order.index(g) for g in _LSTM_ORDER]
    inv = [_LSTM_ORDER.index(g) for g in order]
    f_ours = _LSTM_ORDER.index("f")

    def reorder(a, idx):
        return np.concatenate([_blocks(a, 4)[i] for i in idx], axis=-1)

    def expected(D, H):
        return {"w": (D + H, 4 * H), "b": (4 * H,)}

    def sizes(flat):
        w = flat.get("w")
        if w is None or len(_shape(w)) != 2 or _shape(w)[1] % 4:
            return None
        H = _shape(w)[1] // 4
        return _shape(w)[0] - H, H

    def read(flat, H):
        w = reorder(flat["w"], perm)
        D = w.shape[0] - H
        b = reorder(flat["b"], perm)
        b[f_ours * H:(f_ours + 1) * H] += np.asarray(1, b.dtype)  # haiku's σ(f + 1)
        return {"w_x": w[:D].copy(), "w_h": w[D:].copy(), "b": b}

    def write(cell, H):
        b = np.array(cell["b"])
        b[f_ours * H:(f_ours + 1) * H] -= np.asarray(1, b.dtype)
        w = np.concatenate([cell["w_x"], cell["w_h"]], axis=0)
        return {"w": reorder(w, inv), "b": reorder(b, inv)}

    return _CellFormat("haiku", expected, sizes, read, write,
                       "w [D+H, 4H] (columns a multiple of 4), b [4H]")


_LINEN = _per_gate_format("flax linen LSTMCell/OptimizedLSTMCell params", "if")
_NNX = _per_gate_format("flax nnx LSTMCell state", "if_")
_NNX_OPT = _fused_format("flax nnx OptimizedLSTMCell state", "dense_i/kernel", "dense_h/kernel",
                         "dense_h/bias", _LSTM_ORDER)
_KERAS = _fused_format("keras LSTM weights", "kernel", "recurrent_kernel", "bias",
                       ("i", "f", "g", "o"))  # keras names the candidate block "c"
_HAIKU = _haiku_format()


# --------------------------------------------------------------------------- layer plumbing


def _unwrap_params(tree):
    """Strip linen's {"params": ...} and an nnx State/Module to plain nested dicts."""
    try:  # an nnx Module or State: use its pure dict (flax is a dependency anyway)
        from flax import nnx
        if isinstance(tree, nnx.Module):
            tree = nnx.state(tree, nnx.Param)
        if isinstance(tree, nnx.State):
            tree = nnx.to_pure_dict(tree)
    except ImportError:  # pragma: no cover
        pass
    if isinstance(tree, Mapping) and set(tree) == {"params"}:
        tree = tree["params"]
    return tree


def _directions(layer, where: str) -> list[tuple[str, Any]]:
    """One layer -> [(name, cell_tree)] for fw (and bw), accepting the common wrappers."""
    layer = _unwrap_params(layer)
    if isinstance(layer, Mapping) and "fw" in layer and set(layer) <= {"fw", "bw"}:
        return [(f"{where}[{d!r}]", layer[d]) for d in _DIRS if d in layer]
    if isinstance(layer, Mapping) and {"forward_rnn", "backward_rnn"} <= set(layer):
        extra = set(layer) - {"forward_rnn", "backward_rnn"}
        if extra:
            raise InteropError(f"{where}: unexpected key(s) {sorted(extra)} beside "
                               "forward_rnn/backward_rnn")
        return [(f"{where}[{n!r}]", _unwrap_cell(layer[n])) for n in ("forward_rnn", "backward_rnn")]
    if isinstance(layer, Mapping) and {"forward", "backward"} == set(layer):
        return [(f"{where}[{n!r}]", layer[n]) for n in ("forward", "backward")]
    return [(where, _unwrap_cell(layer))]


def _unwrap_cell(tree):
    tree = _unwrap_params(tree)
    if isinstance(tree, Mapping) and set(tree) == {"cell"}:  # nn.RNN / nnx.RNN around a cell
        return _unwrap_params(tree["cell"])
    return tree


def _as_layers(tree) -> list:
    tree = _unwrap_params(tree)
    if isinstance(tree, (list, tuple)):
        return list(tree)
    return [tree]


def _import_cells(layers: list, formats: Sequence[_CellFormat], config: LSTMConfig | None,
                  fmt_name: str, where: str = "params") -> tuple[LSTMConfig, list]:
    parsed = []  # per layer: [(where, flat, format)]
    for layer_idx, layer in enumerate(layers):
        dirs = _directions(layer, f"{where}[{layer_idx}]" if len(layers) > 1 else where)
        entry = []
        for w, cell in dirs:
            if not isinstance(cell, Mapping):
                raise InteropError(f"{fmt_name}: {w} must be a dict of a cell's weights, got "
                                   f"{type(cell).__name__}")
            flat = {k: _to_numpy(v, f"{w}/{k}") for k, v in _flatten(cell).items()}
            fmt = next((f for f in formats if f.sizes(flat) is not None), None)
            if fmt is None:
                shapes = {k: _shape(v) for k, v in sorted(flat.items())}
                raise InteropError(f"{fmt_name}: {w} has shapes {shapes}, expected "
                                   f"{' or '.join(f.layout for f in formats)}")
            entry.append((w, flat, fmt))
        parsed.append(entry)
    if config is None:
        _, flat0, fmt0 = parsed[0][0]
        D, H = fmt0.sizes(flat0)
        config = LSTMConfig(int(D), int(H), len(parsed), len(parsed[0]) == 2)
    _require_lstm(config, fmt_name)
    if len(parsed) != config.num_layers:
        raise InteropError(f"{fmt_name}: {where} has {len(parsed)} layer(s) but "
                           f"config.num_layers={config.num_layers}")
    out = []
    for layer_idx, entry in enumerate(parsed):
        if len(entry) != config.num_directions:
            names = [w for w, _, _ in entry]
            raise InteropError(f"{fmt_name}: {names[-1]}: layer {layer_idx} has {len(entry)} "
                               f"direction(s) {names} but config.bidirectional="
                               f"{config.bidirectional}")
        D, H = _layer_input(config, layer_idx), config.hidden_size
        cells = {}
        for d, (w, flat, fmt) in zip(_DIRS, entry):
            expected = {f"{w}/{k}": v for k, v in fmt.expected(D, H).items()}
            _check_flat({f"{w}/{k}": v for k, v in flat.items()}, expected, fmt.name,
                        lambda k: f" (input_size={D}, hidden_size={H})")
            cells[d] = fmt.read(flat, H)
        out.append(cells)
    return _finish(config, out)


def _export_cells(params, config: LSTMConfig, fmt: _CellFormat, fmt_name: str):
    _require_lstm(config, fmt_name)
    H = config.hidden_size
    return [{d: _unflatten(fmt.write(cell, H)) for d, cell in entry.items()}
            for entry in _np_params(params, config)]


# --------------------------------------------------------------------------- Keras


def _keras_layer(layer, where: str):
    """A Keras layer's ``get_weights()`` list (3 or 6 arrays; 2 / 4 without bias) or dict."""
    if isinstance(layer, Mapping):
        return layer
    arrays = list(layer)
    if not all(_is_array(a) for a in arrays):
        raise InteropError(f"keras: {where} must be a list of arrays from layer.get_weights() "
                           f"or a dict, got {[type(a).__name__ for a in arrays]}")
    ranks = [len(_shape(a)) for a in arrays]
    names = ("kernel", "recurrent_kernel", "bias")
    if ranks in ([2, 2, 1], [2, 2]):
        return dict(zip(names, arrays))
    if ranks in ([2, 2, 1, 2, 2, 1], [2, 2, 2, 2]):
        half = len(arrays) // 2
        return {"forward": dict(zip(names, arrays[:half])),
                "backward": dict(zip(names, arrays[half:]))}
    raise InteropError(f"keras: {where} has arrays of shapes {[_shape(a) for a in arrays]}; "
                       "expected [kernel (D, 4H), recurrent_kernel (H, 4H), bias (4H,)] "
                       "(LSTM.get_weights()) or twice that (Bidirectional.get_weights())")


def _keras_add_bias(layer):
    """Keras LSTM(use_bias=False) has no bias: zeros."""
    def fix(d):
        if isinstance(d, Mapping) and "kernel" in d and "bias" not in d:
            d = dict(d)
            k = _to_numpy(d["kernel"], "kernel")
            d["bias"] = np.zeros(k.shape[-1], k.dtype)
        return d
    if isinstance(layer, Mapping) and set(layer) == {"forward", "backward"}:
        return {k: fix(v) for k, v in layer.items()}
    return fix(layer)


def from_keras(weights, config: LSTMConfig | None = None) -> tuple[LSTMConfig, list]:
    """Keras ``LSTM`` weights -> ``(config, params)``.

    ``weights``: ``layer.get_weights()`` of one ``LSTM`` ([kernel, recurrent_kernel, bias])
    or of a ``Bidirectional(LSTM)`` (the same for forward then backward), a dict with
    those names (``{"forward": .., "backward": ..}`` for both directions), or a list over
    stacked layers of any of these. Keras' defaults are assumed (sigmoid recurrent
    activation, tanh activation); the gate order i, f, c, o is lstmjax's i, f, g, o.
    """
    if isinstance(weights, Mapping) or (isinstance(weights, (list, tuple)) and weights
                                        and _is_array(weights[0])):
        layers = [weights]
    elif isinstance(weights, (list, tuple)):
        layers = list(weights)
    else:
        raise TypeError(f"keras weights must be a list or dict, got {type(weights).__name__}")
    layers = [_keras_add_bias(_keras_layer(layer, f"weights[{i}]")) for i, layer in enumerate(layers)]
    return _import_cells(layers, [_KERAS], config, "keras", "weights")


def to_keras(params, config: LSTMConfig) -> list[list[np.ndarray]]:
    """lstmjax params -> per layer, the list ``layer.set_weights()`` takes.

    ``[kernel, recurrent_kernel, bias]`` for ``LSTM(H, return_sequences=True)``, and
    forward then backward (6 arrays) for ``Bidirectional(LSTM(...))``.
    """
    out = []
    for entry in _export_cells(params, config, _KERAS, "keras"):
        arrays = []
        for d in _DIRS[:config.num_directions]:
            arrays += [entry[d]["kernel"], entry[d]["recurrent_kernel"], entry[d]["bias"]]
        out.append(arrays)
    return out


# --------------------------------------------------------------------------- Flax


def _flax_layout(layers, config: LSTMConfig, layout: str):
    if layout == "lstmjax":
        return layers
    if layout == "flax":
        if config.bidirectional:
            return [{"forward_rnn": {"cell": e["fw"]}, "backward_rnn": {"cell": e["bw"]}}
                    for e in layers]
        return [{"cell": e["fw"]} for e in layers]
    raise ValueError(f"layout={layout!r} is not accepted; use 'lstmjax' or 'flax'")


def from_flax_linen(variables, config: LSTMConfig | None = None) -> tuple[LSTMConfig, list]:
    """Flax linen ``LSTMCell`` / ``OptimizedLSTMCell`` params -> ``(config, params)``.

    Accepts a cell's params (``{"ii": {"kernel"}, ..., "hi": {"kernel", "bias"}, ...}``,
    optionally under ``{"params": ...}``), ``nn.RNN``'s (``{"cell": ...}``),
    ``nn.Bidirectional``'s (``{"forward_rnn": .., "backward_rnn": ..}``), a
    ``{"fw": .., "bw": ..}`` dict, or a list over stacked layers of any of these.
    """
    return _import_cells(_as_layers(variables), [_LINEN], config, "flax linen", "variables")


def to_flax_linen(params, config: LSTMConfig, *, layout: str = "lstmjax") -> list:
    """lstmjax params -> per layer ``{"fw": cell_params[, "bw": ..]}`` for linen LSTMCell.

    Both linen ``LSTMCell`` and ``OptimizedLSTMCell`` use these params. With
    ``layout="flax"`` each layer is what ``nn.RNN(cell)`` (``{"cell": ..}``) or
    ``nn.Bidirectional`` (``{"forward_rnn": {"cell": ..}, "backward_rnn": ..}``) holds;
    wrap in ``{"params": ...}`` for ``module.apply``.
    """
    return _flax_layout(_export_cells(params, config, _LINEN, "flax linen"), config, layout)


def from_flax_nnx(state, config: LSTMConfig | None = None) -> tuple[LSTMConfig, list]:
    """Flax NNX ``LSTMCell`` / ``OptimizedLSTMCell`` (module, ``nnx.State`` or pure dict).

    The same wrappers as :func:`from_flax_linen` are accepted (``nnx.RNN``:
    ``{"cell": ..}``; ``nnx.Bidirectional``: ``forward_rnn``/``backward_rnn``), also as
    the modules themselves, and a list of them over stacked layers.
    """
    return _import_cells(_as_layers(state), [_NNX, _NNX_OPT], config, "flax nnx", "state")


def to_flax_nnx(params, config: LSTMConfig, *, optimized: bool = False,
                layout: str = "lstmjax") -> list:
    """lstmjax params -> per layer pure state dicts of ``nnx.LSTMCell`` (or, with
    ``optimized=True``, ``nnx.OptimizedLSTMCell``). Load into a cell with
    ``nnx.update(cell, state)``; ``layout="flax"`` as in :func:`to_flax_linen`.
    """
    fmt = _NNX_OPT if optimized else _NNX
    return _flax_layout(_export_cells(params, config, fmt, "flax nnx"), config, layout)


# --------------------------------------------------------------------------- Haiku


def _natural_key(name: str):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def _haiku_layers(params) -> tuple[list, str]:
    """Haiku's flat ``{"lstm/linear": {"w", "b"}, "lstm_1/linear": ...}`` -> ordered layers."""
    if isinstance(params, Mapping) and params and all(
            isinstance(v, Mapping) and "w" in v for v in params.values()) and not (
            set(params) <= {"fw", "bw"}):
        names = sorted(params, key=_natural_key)
        return [params[n] for n in names], names
    return _as_layers(params), None


def from_haiku(params, config: LSTMConfig | None = None) -> tuple[LSTMConfig, list]:
    """Haiku ``hk.LSTM`` params -> ``(config, params)``.

    ``params``: what ``hk.transform(...).init`` returns, e.g. ``{"lstm/linear": {"w": [D+H,
    4H], "b": [4H]}}``; several LSTM modules (``lstm``, ``lstm_1``, ...) are stacked layers
    in their name order. Also a list over layers of such dicts (``{"w", "b"}`` or
    ``{"fw": .., "bw": ..}`` for bidirectional). Haiku's ``σ(f + 1)`` is folded into b_f.
    """
    layers, names = _haiku_layers(params)
    return _import_cells(layers, [_HAIKU], config, "haiku",
                         "params" if names is None else f"params{names}")


def to_haiku(params, config: LSTMConfig, *, name: str = "lstm"):
    """lstmjax params -> Haiku params.

    A unidirectional network gives the dict ``hk.transform`` uses, with modules
    ``{name}/linear``, ``{name}_1/linear``, ... per layer; a bidirectional one gives a list
    over layers of ``{"fw": {"w", "b"}, "bw": {"w", "b"}}`` (Haiku has no BiLSTM module).
    """
    layers = _export_cells(params, config, _HAIKU, "haiku")
    if config.bidirectional:
        return layers
    return {f"{name}{'' if k == 0 else f'_{k}'}/linear": e["fw"] for k, e in enumerate(layers)}
