"""The run directory: resolved config, metrics log, learning curve, summary.

Layout of ``workdir``::

    config.json          the resolved config (every default filled in)
    metrics.jsonl        one line per logged step: {"step", "split", <metric>: value, ...}
                         deterministic: the same config gives a byte-identical file
    timing.jsonl         wall-clock fields (steps/s, seconds) kept apart from metrics
    learning_curve.png   train / eval loss and accuracy against step
    checkpoints/         orbax CheckpointManager directory (see lstmjax.checkpoint)
    summary.json         final eval metrics, wall time, devices, versions, git commit,
                         params_sha256
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import platform
import subprocess
from typing import Any, Iterable

import jax
import numpy as np

METRICS = "metrics.jsonl"
TIMING = "timing.jsonl"
CONFIG = "config.json"
SUMMARY = "summary.json"
CURVE = "learning_curve.png"


def params_sha256(params) -> str:
    """sha256 over the parameters' bytes, leaf by leaf in pytree order (with each leaf's
    path, dtype and shape), so equal hashes mean bit-identical parameters."""
    h = hashlib.sha256()
    for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
        arr = np.ascontiguousarray(np.asarray(jax.device_get(leaf)))
        h.update(jax.tree_util.keystr(path).encode())
        h.update(f"{arr.dtype.str}{arr.shape}".encode())
        h.update(arr.tobytes())
    return h.hexdigest()


def dumps(record: dict) -> str:
    """One canonical JSON line (sorted keys, Python float repr): deterministic bytes."""
    return json.dumps(plain(record), sort_keys=True, allow_nan=True)


def plain(value):
    """numpy scalars/arrays and tuples -> JSON-ready Python values (recursively)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return float(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def json_roundtrip(record: dict) -> dict:
    """The record exactly as a reader of metrics.jsonl will see it."""
    return json.loads(dumps(record))


def write_json(path: str, obj: Any) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(plain(obj), f, indent=2, sort_keys=True, allow_nan=True)
        f.write("\n")
    os.replace(tmp, path)


def read_json(path: str) -> Any:
    with open(path) as f:
        return json.load(f)


def read_jsonl(path: str) -> list[dict]:
    """All complete records; a torn last line (process killed mid-write) is skipped."""
    if not os.path.exists(path):
        return []
    out = []
    with open(path) as f:
        for line in f:
            if not line.endswith("\n"):
                break
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                break
    return out


class JsonlLog:
    """Append-only JSON-lines file that can be cut back to a step on resume."""

    def __init__(self, path: str | None):
        self.path = path
        self._f = None

    def truncate_after(self, step: int) -> list[dict]:
        """Keep only complete records with ``step <= step``; returns them."""
        if self.path is None:
            return []
        kept = [r for r in read_jsonl(self.path) if int(r.get("step", 0)) <= step]
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            for r in kept:
                f.write(dumps(r) + "\n")
        os.replace(tmp, self.path)
        return kept

    def write(self, record: dict) -> None:
        if self.path is None:
            return
        if self._f is None:
            self._f = open(self.path, "a")
        self._f.write(dumps(record) + "\n")
        self._f.flush()

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("jax", "jaxlib", "numpy", "optax", "orbax-checkpoint", "flax", "grain",
                "ml_collections", "lstmjax"):
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def git_commit() -> str | None:
    """The commit of the lstmjax checkout (with ``+dirty`` if it has local changes)."""
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                                text=True, timeout=10).stdout.strip()
        if not commit:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=here, capture_output=True, text=True, timeout=10).stdout.strip()
        return commit + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def device_info() -> dict[str, Any]:
    return {
        "backend": jax.default_backend(),
        "process_index": jax.process_index(),
        "process_count": jax.process_count(),
        "devices": [str(d) for d in jax.devices()],
        "local_device_count": jax.local_device_count(),
    }


def plot_learning_curve(records: Iterable[dict], path: str, title: str = "") -> None:
    """Loss (and accuracy, where logged) against step for every split in ``records``."""
    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    records = list(records)
    splits = sorted({r["split"] for r in records})
    has_acc = any("accuracy" in r for r in records)
    fig, axes = plt.subplots(1, 2 if has_acc else 1, figsize=(10 if has_acc else 5.5, 3.8),
                             squeeze=False)
    for split in splits:
        rs = [r for r in records if r["split"] == split]
        style = "-" if split == "train" else "o-"
        axes[0, 0].plot([r["step"] for r in rs], [r["loss"] for r in rs], style, label=split,
                        markersize=3)
        if has_acc:
            ra = [r for r in rs if "accuracy" in r]
            axes[0, 1].plot([r["step"] for r in ra], [r["accuracy"] for r in ra], style,
                            label=split, markersize=3)
    axes[0, 0].set_xlabel("step")
    axes[0, 0].set_ylabel("loss")
    axes[0, 0].set_yscale("log")
    axes[0, 0].legend()
    if has_acc:
        axes[0, 1].set_xlabel("step")
        axes[0, 1].set_ylabel("accuracy")
        axes[0, 1].set_ylim(-0.02, 1.02)
        axes[0, 1].legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
