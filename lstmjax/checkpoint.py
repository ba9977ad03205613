"""Checkpoints with orbax: save, restore, resume; refuse what does not fit.

Each checkpoint ``<workdir>/checkpoints/<step>/`` holds two orbax items:

* ``state``: ``{"step", "params", "opt_state", "rng"}`` saved with ``StandardSave``
  (``rng`` is ``jax.random.key_data`` of the run's root key, a uint32 array);
* ``meta``: JSON ``{"step", "fingerprint", "data_state"}``: the fingerprint of the
  config fields that fix the meaning of the state (model, task, optimizer, seed), and
  the data iterator's state (``get_state()``).

Restoring checks the fingerprint *before* touching arrays; a checkpoint written by
another config, or one whose files are truncated or missing, raises
:class:`CheckpointError` naming the path and what differs. Nothing is ever deleted or
overwritten to recover from such an error: the user moves the directory aside.
"""

from __future__ import annotations

import base64
import json
import os
import pickle
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used (corrupt, truncated, or from another config)."""


def _encode_data_state(data_state):
    """Iterator states are small dicts; keep JSON when possible, else pickle+base64."""
    if data_state is None:
        return None
    try:
        json.dumps(data_state)
        return {"json": data_state}
    except (TypeError, ValueError):
        return {"pickle_b64": base64.b64encode(pickle.dumps(data_state)).decode()}


def _decode_data_state(blob):
    if blob is None:
        return None
    if "json" in blob:
        return blob["json"]
    return pickle.loads(base64.b64decode(blob["pickle_b64"]))


def diff_fingerprints(old: dict, new: dict, prefix: str = "") -> list[str]:
    """Human-readable differences between two nested dicts."""
    out = []
    for key in sorted(set(old) | set(new)):
        name = f"{prefix}{key}"
        if key not in old:
            out.append(f"{name}: (absent) -> {new[key]!r}")
        elif key not in new:
            out.append(f"{name}: {old[key]!r} -> (absent)")
        elif isinstance(old[key], dict) and isinstance(new[key], dict):
            out.extend(diff_fingerprints(old[key], new[key], name + "."))
        elif old[key] != new[key]:
            out.append(f"{name}: {old[key]!r} -> {new[key]!r}")
    return out


class Checkpointer:
    """A thin, strict wrapper around ``ocp.CheckpointManager``.

    Args:
      directory: the checkpoint directory (created if missing).
      fingerprint: JSON-able dict identifying what the state means (see module doc).
      keep: how many recent checkpoints to keep (``max_to_keep``).
    """

    def __init__(self, directory: str, fingerprint: dict, *, keep: int = 3):
        self.directory = os.path.abspath(directory)
        self.fingerprint = json.loads(json.dumps(fingerprint))
        options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True,
                                               enable_async_checkpointing=False)
        try:
            self.manager = ocp.CheckpointManager(self.directory, options=options,
                                                 item_names=("state", "meta"))
        except Exception as e:  # noqa: BLE001 - report any orbax failure the same way
            raise CheckpointError(f"cannot open checkpoint directory {self.directory}: "
                                  f"{type(e).__name__}: {e}") from e

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def all_steps(self) -> list[int]:
        return list(self.manager.all_steps())

    def save(self, step: int, state: dict, data_state=None, *, force: bool = False,
             extra: dict | None = None) -> bool:
        """Save ``state`` (a host pytree) at ``step``; blocks until written.

        ``extra`` is small JSON loop state (e.g. the open metrics window) for exact resume.
        """
        meta = {"step": int(step), "fingerprint": self.fingerprint,
                "data_state": _encode_data_state(data_state), "extra": extra or {}}
        saved = self.manager.save(int(step), args=ocp.args.Composite(
            state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)), force=force)
        self.manager.wait_until_finished()
        return saved

    def restore(self, step: int, abstract_state) -> tuple[Any, Any, dict]:
        """``(state, data_state, extra)`` from checkpoint ``step``; strict, see module doc."""
        path = os.path.join(self.directory, str(step))
        try:
            meta = self.manager.restore(int(step), args=ocp.args.Composite(
                meta=ocp.args.JsonRestore()))["meta"]
        except Exception as e:  # noqa: BLE001
            raise CheckpointError(
                f"checkpoint {path} is unreadable (corrupt or truncated: "
                f"{type(e).__name__}: {_short(e)}). It was left untouched; move it away "
                f"(or use another workdir) to start over.") from e
        if not isinstance(meta, dict) or "fingerprint" not in meta:
            raise CheckpointError(f"checkpoint {path} has no lstmjax metadata; it was not "
                                  "written by lstmjax.train. Left untouched.")
        diffs = diff_fingerprints(meta["fingerprint"], self.fingerprint)
        if diffs:
            raise CheckpointError(
                f"checkpoint {path} was written by another config and cannot be resumed by "
                f"this one; differences (checkpoint -> now): {'; '.join(diffs[:8])}. "
                "Use another --workdir, or restore the original config. Left untouched.")
        try:
            restored = self.manager.restore(int(step), args=ocp.args.Composite(
                state=ocp.args.StandardRestore(abstract_state)))["state"]
        except Exception as e:  # noqa: BLE001
            raise CheckpointError(
                f"checkpoint {path} could not be restored (corrupt, truncated, or shapes that "
                f"do not fit this config: {type(e).__name__}: {_short(e)}). It was left "
                "untouched; move it away (or use another workdir) to start over.") from e
        _check_restored(restored, abstract_state, path)
        return restored, _decode_data_state(meta.get("data_state")), meta.get("extra") or {}

    def close(self):
        self.manager.close()


def _check_restored(restored, abstract, path):
    got = jax.tree_util.tree_flatten_with_path(restored)[0]
    exp = jax.tree_util.tree_flatten_with_path(abstract)[0]
    if len(got) != len(exp):
        raise CheckpointError(f"checkpoint {path} has {len(got)} arrays, this config expects "
                              f"{len(exp)}. Left untouched.")
    for (p, g), (_, e) in zip(got, exp):
        if tuple(np.shape(g)) != tuple(e.shape):
            raise CheckpointError(f"checkpoint {path}: {jax.tree_util.keystr(p)} has shape "
                                  f"{tuple(np.shape(g))}, this config expects {tuple(e.shape)}. "
                                  "Left untouched.")


def _short(e: Exception, limit: int = 300) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return text[:limit]


def abstract_of(tree):
    """``jax.ShapeDtypeStruct`` tree of a host pytree (the restore target)."""
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct(np.shape(x), np.asarray(x).dtype), tree)
