"""How much memory does pixel MNIST need? A linear classifier on the last K pixels.

    python -m experiments.last_k_pixels --data sequential=data/mnist_pixels \\
        --data permuted=data/mnist_permuted --results experiments/results/pixel_mnist \\
        --out experiments/results/pixel_mnist/last_k

For each pixel order (a folder holding ``train.npz``, ``validation.npz``, ``test.npz`` with
``x [N, T, 1]`` and ``y [N]``, as ``scripts/mnist_to_npz.py --pixels`` / ``--permute 0``
writes them) and each K in ``--ks``: a multinomial logistic regression (softmax, with bias)
reads only the last K time steps' pixels ``x[:, T-K:, 0]``, standardized with the training
split's per-pixel mean and std. It is fitted on the whole training split by full-batch
L-BFGS (``optax.lbfgs``, zero init, float32; at most ``--max_iter`` iterations, stopping
earlier when the largest gradient entry falls below ``--tol``), once per L2 strength in
``--l2`` (the penalty ``l2/2 * ||W||^2`` on the mean cross-entropy; the bias is not
penalized). The strength with the best validation accuracy is chosen (a tie keeps the
stronger one); only that fit is scored on the test split, all of it. No randomness is
involved (zero init, full batch), so a rerun on the same machine gives the same numbers.

A classifier that sees only the last K steps has no memory beyond them: where it matches a
recurrent model's accuracy, that accuracy needs no more than K steps of memory (and no
nonlinearity). ``pixel_mnist_report`` turns the curve into that sentence per model.

Writes ``OUT/last_k.json`` (the records, command, hardware, commit, versions, wall time)
and ``OUT/last_k.png`` (test accuracy against K per order, with a horizontal line per model
at its test accuracy, read from ``--results`` through :mod:`experiments.pixel_mnist_report`).
``--tiny``: seconds-long settings for the tests (a two-value L2 grid, 50 iterations).
"""

from __future__ import annotations

import argparse
import datetime
import functools
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from experiments import pixel_mnist_report, report
from lstmjax import runs

KS = (25, 50, 100, 150, 200, 300, 400, 500, 600, 784)
L2_GRID = (1e-2, 1e-3, 1e-4, 1e-5)
MAX_ITER, TOL = 200, 1e-4
TINY = dict(l2=(1e-2, 1e-3), max_iter=50)
SPLITS = ("train", "validation", "test")


def load(folder: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``split -> (x [N, T] float32, y [N] int32)`` from ``folder/<split>.npz``."""
    out = {}
    for split in SPLITS:
        with np.load(os.path.join(folder, f"{split}.npz")) as f:
            x = np.asarray(f["x"], np.float32)
            out[split] = (x.reshape(len(x), -1) if x.ndim == 3 and x.shape[2] == 1 else x,
                          np.asarray(f["y"], np.int32))
        if out[split][0].ndim != 2:
            raise SystemExit(f"error: {folder}/{split}.npz: x must be [N, T] or [N, T, 1], "
                             f"got {x.shape}")
    return out


@functools.partial(jax.jit, static_argnames=("classes", "max_iter"))
def fit(a: jax.Array, y: jax.Array, l2: jax.Array, tol: jax.Array, *, classes: int,
        max_iter: int):
    """Softmax regression ``a [N, K] -> classes`` by full-batch L-BFGS from zeros.

    Returns ``((W [K, classes], b [classes]), iterations, final loss, max |gradient|)``;
    fewer than ``max_iter`` iterations means the gradient at the start of the last one had
    fallen to ``tol`` (the final one, after that step, is reported as it is).
    """
    params = (jnp.zeros((a.shape[1], classes), jnp.float32), jnp.zeros(classes, jnp.float32))

    def loss(p):
        w, b = p
        ce = optax.softmax_cross_entropy_with_integer_labels(a @ w + b, y).mean()
        return ce + 0.5 * l2 * jnp.sum(w * w)

    opt = optax.lbfgs()
    value_and_grad = optax.value_and_grad_from_state(loss)

    def gmax(g):
        return jnp.maximum(jnp.abs(g[0]).max(), jnp.abs(g[1]).max())

    def cond(c):
        i, _, _, g = c
        return (i < max_iter) & (g > tol)

    def body(c):
        i, p, s, _ = c
        value, grad = value_and_grad(p, state=s)
        updates, s = opt.update(grad, s, p, value=value, grad=grad, value_fn=loss)
        # the gradient at the point before this update (L-BFGS computes it anyway): the
        # loop stops one step after the gradient falls below tol
        return i + 1, optax.apply_updates(p, updates), s, gmax(grad)

    i, p, _, _ = jax.lax.while_loop(
        cond, body, (jnp.int32(0), params, opt.init(params), jnp.float32(jnp.inf)))
    value, grad = jax.value_and_grad(loss)(p)
    return p, i, value, gmax(grad)


def accuracy(params, a: np.ndarray, y: np.ndarray) -> float:
    w, b = params
    return float(np.mean(np.argmax(np.asarray(a @ np.asarray(w) + np.asarray(b)), 1) == y))


def last_k(data: dict, k: int, l2_grid, max_iter: int, tol: float) -> dict:
    """One (order, K) record: the L2 strength chosen on validation, its test accuracy."""
    (xtr, ytr), (xva, yva), (xte, yte) = (data[s] for s in SPLITS)
    t = xtr.shape[1]
    if not 1 <= k <= t:
        raise SystemExit(f"error: K = {k} is outside 1..{t} (the sequence length)")
    mean = xtr[:, t - k:].mean(0)
    std = xtr[:, t - k:].std(0)
    std = np.where(std > 0, std, 1.0)  # a pixel constant on train (e.g. always 0) stays 0
    a_tr, a_va, a_te = ((x[:, t - k:] - mean) / std for x in (xtr, xva, xte))
    classes = int(max(ytr.max(), yva.max(), yte.max())) + 1
    fits = []
    for l2 in l2_grid:
        t0 = time.time()
        params, iters, loss, gmax = fit(jnp.asarray(a_tr), jnp.asarray(ytr), jnp.float32(l2),
                                        jnp.float32(tol), classes=classes, max_iter=max_iter)
        fits.append(dict(l2=l2, params=params, iterations=int(iters), train_loss=float(loss),
                         max_abs_grad=float(gmax),
                         stopped_by="tolerance" if int(iters) < max_iter else "iteration cap",
                         validation_accuracy=accuracy(params, a_va, yva),
                         seconds=round(time.time() - t0, 2)))
    best = max(fits, key=lambda f: f["validation_accuracy"])  # max keeps the first of ties
    return dict(
        k=k, sequence_length=t, classes=classes, l2=best["l2"],
        train_examples=len(ytr), validation_examples=len(yva), test_examples=len(yte),
        train_accuracy=accuracy(best["params"], a_tr, ytr),
        validation_accuracy=best["validation_accuracy"],
        test_accuracy=accuracy(best["params"], a_te, yte),
        iterations=best["iterations"], stopped_by=best["stopped_by"],
        max_abs_grad=best["max_abs_grad"], train_loss=best["train_loss"],
        grid=[{key: f[key] for key in ("l2", "validation_accuracy", "iterations",
                                        "stopped_by", "seconds")} for f in fits])


def models(results: str | None) -> list[dict]:
    """The pixel report's models (each variant and model's run trained furthest in
    ``results``) with their test accuracies; [] without ``results``."""
    if not results:
        return []
    return pixel_mnist_report.model_lines(
        [pixel_mnist_report.row(d) for d in pixel_mnist_report.run_dirs(results)])


def main(argv=None) -> str:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", action="append", default=[], metavar="ORDER=FOLDER",
                   help="sequential=FOLDER and/or permuted=FOLDER (train/validation/test.npz)")
    p.add_argument("--out", required=True, help="folder for last_k.json and last_k.png")
    p.add_argument("--results", default=None,
                   help="the pixel-MNIST run reports (models' test accuracies for the plot)")
    p.add_argument("--ks", default=",".join(map(str, KS)), help="comma-separated K values")
    p.add_argument("--l2", default=None, help=f"comma-separated L2 grid (default {L2_GRID})")
    p.add_argument("--max_iter", type=int, default=None, help=f"default {MAX_ITER}")
    p.add_argument("--tol", type=float, default=TOL, help="stop when max |gradient| <= tol")
    p.add_argument("--tiny", action="store_true", help=f"test settings: {TINY}")
    args = p.parse_args(argv)
    folders = {}
    for item in args.data:
        order, sep, folder = item.partition("=")
        if not sep or order not in pixel_mnist_report.VARIANTS or not os.path.isdir(folder):
            print(f"error: --data {item!r}: expected sequential=FOLDER or permuted=FOLDER "
                  "naming an existing folder", file=sys.stderr)
            raise SystemExit(2)
        folders[order] = folder
    if not folders:
        p.error("at least one --data ORDER=FOLDER is required")
    ks = sorted({int(k) for k in args.ks.split(",")})
    l2_grid = (tuple(float(v) for v in args.l2.split(",")) if args.l2
               else TINY["l2"] if args.tiny else L2_GRID)
    max_iter = args.max_iter or (TINY["max_iter"] if args.tiny else MAX_ITER)
    command = report.command_line(argv, "experiments.last_k_pixels")
    started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    hardware, commit = report.hardware(), runs.git_commit()
    t0 = time.time()
    records = []
    for order, folder in folders.items():
        data = load(folder)
        for k in ks:
            rec = dict(order=order, data=folder, **last_k(data, k, l2_grid, max_iter, args.tol))
            records.append(rec)
            report.log(f"{order} K={k}: test {100 * rec['test_accuracy']:.2f}% "
                       f"({rec['test_examples']:,} images), l2 {rec['l2']:g}, "
                       f"{rec['iterations']} iterations, {time.time() - t0:.0f} s")
    os.makedirs(args.out, exist_ok=True)
    record = dict(
        command=command, started=started, wall_time_s=round(time.time() - t0, 1),
        hardware=hardware, git_commit=commit, versions=runs.versions(),
        settings=dict(ks=ks, l2_grid=list(l2_grid), max_iter=max_iter, tol=args.tol,
                      data=folders, solver="optax.lbfgs, full batch, zero init, float32",
                      features="the last K pixels, standardized with the training "
                               "split's per-pixel mean and std",
                      selection="the L2 strength with the best validation accuracy "
                                "(ties: the stronger); test scored once, on that fit"),
        results=records, models=models(args.results))
    path = os.path.join(args.out, "last_k.json")
    runs.write_json(path, record)
    pixel_mnist_report.plot_last_k(os.path.join(args.out, "last_k.png"), record,
                                   record["models"])
    print(path)
    return path


if __name__ == "__main__":
    main()
