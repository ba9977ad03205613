"""Checkpoints with orbax: save, restore, resume; refuse what does not fit.

Each checkpoint ``<workdir>/checkpoints/<step>/`` holds two orbax items and a file list:

* ``state``: ``{"step", "params", "opt_state", "rng"}`` saved with ``StandardSave``
  (``rng`` is ``jax.random.key_data`` of the run's root key, a uint32 array);
* ``meta``: JSON ``{"step", "fingerprint", "data_fingerprint", "data_state", "extra"}``:
  the fingerprint of the config fields that fix the meaning of the state (model, task,
  optimizer, seed), the fingerprint of the run's data files (``files_fingerprint``), the
  data iterator's state (``get_state()``: ``{"json": dict}`` or ``{"bytes_b64": str}``)
  and small JSON loop state;
* ``lstmjax_files.json``: the sha256 of every file of the checkpoint, written once orbax
  has finished; restoring compares them *before* orbax reads a byte, so a truncated or
  altered file is refused here rather than inside orbax's readers.

No pickle anywhere: a checkpoint someone hands you must not run code when it is resumed.
Metadata is read as JSON only, and a key this module does not write (such as the
``pickle_b64`` of older versions) is refused, not interpreted.

Restoring checks the file list, the metadata's keys, the config fingerprint, the data
fingerprint, (on request) the data position and the stored dtype of every array
(orbax's array metadata; orbax would cast a float16 checkpoint to a float32 run silently)
*before* reading arrays; a checkpoint written by another config or for other data, in
other dtypes, or one whose files are truncated, altered or missing, raises :class:`CheckpointError` naming the path and what differs. Nothing is ever
deleted or overwritten to recover from such an error: the user moves the directory aside.
A save cut short (:func:`incomplete_entries`) is different: it holds nothing to restore,
so the training loop moves it aside (:func:`set_aside`) and resumes from the last
complete checkpoint.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import sys
import traceback
from typing import Any, Iterable

import jax
import numpy as np

from lstmjax.errors import CheckpointError
from lstmjax.tasks.files import sha256_file

FILES = "lstmjax_files.json"


def _orbax():
    """``orbax.checkpoint``, imported when a checkpoint is opened: it takes ~0.3 s, which a
    command that prints its help or an error first need not pay."""
    import orbax.checkpoint as ocp
    return ocp
_META_KEYS = ("step", "fingerprint", "data_fingerprint", "data_state", "extra")
_DATA_STATE_KEYS = ("json", "bytes_b64")


def _encode_data_state(data_state):
    """An iterator state as JSON: a JSON-able dict as is, bytes as base64 (never pickle)."""
    if data_state is None:
        return None
    if isinstance(data_state, (bytes, bytearray)):
        return {"bytes_b64": base64.b64encode(bytes(data_state)).decode("ascii")}
    try:
        text = json.dumps(data_state, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise TypeError(f"data_state must be a JSON-able dict or bytes (an iterator's "
                        f"get_state()); got {type(data_state).__name__}: {e}") from e
    return {"json": json.loads(text)}


def _decode_data_state(blob, path: str):
    if blob is None:
        return None
    if not isinstance(blob, dict) or len(blob) != 1 or next(iter(blob)) not in _DATA_STATE_KEYS:
        keys = sorted(blob) if isinstance(blob, dict) else type(blob).__name__
        raise CheckpointError(
            f"checkpoint {path}: meta/metadata key data_state holds {keys}; only one of "
            f"{list(_DATA_STATE_KEYS)} is read (no pickle: a checkpoint must not run code). "
            "Refused; nothing was executed and the checkpoint was left untouched.")
    if "json" in blob:
        return blob["json"]
    try:
        return base64.b64decode(blob["bytes_b64"], validate=True)
    except (binascii.Error, TypeError, ValueError) as e:
        raise CheckpointError(f"checkpoint {path}: meta/metadata key data_state.bytes_b64 is "
                              f"not base64 ({e}). Refused; left untouched.") from e


def files_fingerprint(paths: Iterable[str]) -> dict[str, str]:
    """``{path: "sha256:<hex>"}`` of data files, to pass as ``Checkpointer(data_fingerprint=)``.

    A resume refuses a checkpoint whose recorded fingerprint differs (a file replaced by
    other data of the same shape would otherwise be trained on silently).
    """
    return {os.fspath(p): "sha256:" + sha256_file(os.fspath(p)) for p in paths}


def _files_of(step_dir: str) -> dict[str, str]:
    out = {}
    for root, _, files in os.walk(step_dir):
        for name in files:
            full = os.path.join(root, name)
            rel = os.path.relpath(full, step_dir)
            if rel == FILES or rel.startswith(FILES + "."):
                continue
            out[rel.replace(os.sep, "/")] = sha256_file(full)
    return out


def _write_files_list(step_dir: str) -> None:
    listing = {"format": 1, "sha256": _files_of(step_dir)}
    tmp = os.path.join(step_dir, FILES + ".tmp")
    with open(tmp, "w") as f:
        json.dump(listing, f, sort_keys=True, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, os.path.join(step_dir, FILES))


def _verify_files(step_dir: str) -> bool:
    """Compare the checkpoint's files with the list written at save; False if no list.

    A checkpoint without a list (written before lists existed, or killed between orbax's
    commit and the list) is restored as before, with orbax's own checks only.
    """
    listing_path = os.path.join(step_dir, FILES)
    if not os.path.exists(listing_path):
        return False
    try:
        with open(listing_path) as f:
            listing = json.load(f)
        expected = listing["sha256"]
        if listing.get("format") != 1 or not isinstance(expected, dict):
            raise ValueError("unknown format")
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise CheckpointError(f"checkpoint {step_dir}: {FILES} is unreadable ({e}). Left "
                              "untouched; move it away (or use another workdir) to start "
                              "over.") from e
    for rel, digest in sorted(expected.items()):
        full = os.path.join(step_dir, *str(rel).split("/"))
        if not os.path.isfile(full):
            what = "is missing"
        elif sha256_file(full) != digest:
            what = "differs from the file that was saved (sha256 mismatch: truncated or altered)"
        else:
            continue
        raise CheckpointError(f"checkpoint {step_dir}: file {rel} {what}. It was left "
                              "untouched; move it away (or use another workdir) to start over.")
    return True


TMP_MARKER = ".orbax-checkpoint-tmp"   # orbax writes <step>.orbax-checkpoint-tmp[-<ts>] first
COMMITTED = "commit_success.txt"       # orbax's completion marker, in every finished step
ITEMS = ("state", "meta")              # the items every lstmjax checkpoint holds


def incomplete_entries(directory: str) -> list[str]:
    """Names in a checkpoint directory that are saves cut short (sorted).

    A save interrupted at any point (SIGKILL, a full disk, a folder deleted under it)
    leaves one of: orbax's temporary ``<step>.orbax-checkpoint-tmp*`` folder; a ``<step>``
    folder without orbax's ``commit_success.txt``; or a ``<step>`` folder missing one of
    its items (``state``, ``meta``). None of them can be restored, and orbax would count
    the last two as steps (and refuse to save that step again), so the training loop
    moves them aside (:func:`set_aside`) before opening the directory. A complete step
    whose files differ from its ``lstmjax_files.json`` is *not* listed here: that is
    damage, refused by :meth:`Checkpointer.restore`, never moved silently.
    """
    if not os.path.isdir(directory):
        return []
    out = []
    for name in sorted(os.listdir(directory)):
        full = os.path.join(directory, name)
        if TMP_MARKER in name:
            out.append(name)
        elif name.isdigit() and os.path.isdir(full) and (
                not os.path.isfile(os.path.join(full, COMMITTED))
                or not all(os.path.isdir(os.path.join(full, i)) for i in ITEMS)):
            out.append(name)
    return out


def recorded_data_fingerprint(directory: str) -> tuple[int | None, dict | None]:
    """``(step, data_fingerprint)`` recorded by the latest complete checkpoint of
    ``directory`` (``(None, None)`` without one), read as plain JSON from its ``meta`` item,
    without orbax and without restoring arrays: what ``evaluate`` compares with the data
    files it is about to read."""
    if not os.path.isdir(directory):
        return None, None
    bad = set(incomplete_entries(directory))
    steps = sorted((int(n) for n in os.listdir(directory) if n.isdigit() and n not in bad),
                   reverse=True)
    for step in steps:
        try:
            with open(os.path.join(directory, str(step), "meta", "metadata")) as f:
                meta = json.load(f)
        except (OSError, ValueError):
            continue
        if isinstance(meta, dict):
            return step, meta.get("data_fingerprint")
    return None, None


def steps_after(directory: str, step: int) -> list[str]:
    """Step folders of ``directory`` above ``step`` (e.g. ``best/`` written after the
    checkpoint a run resumes from: the resumed run will write those steps again)."""
    if not os.path.isdir(directory):
        return []
    return sorted((n for n in os.listdir(directory)
                   if n.isdigit() and int(n) > step and os.path.isdir(os.path.join(directory, n))),
                  key=int)


def set_aside(directory: str, names: Iterable[str], aside: str) -> list[str]:
    """Move ``directory/<name>`` to ``aside/<name>`` (``.2``, ``.3``... if taken); nothing is
    deleted. Returns the new paths."""
    moved = []
    for name in names:
        os.makedirs(aside, exist_ok=True)
        target = os.path.join(aside, name)
        n = 2
        while os.path.lexists(target):
            target, n = os.path.join(aside, f"{name}.{n}"), n + 1
        os.replace(os.path.join(directory, name), target)
        moved.append(target)
    return moved


def check_data_state(data_state, batches_consumed: int, path: str = "checkpoint") -> None:
    """Refuse an iterator state whose position is not ``batches_consumed``.

    ``lstmjax.data.iterator`` states are ``{"next_index": k}``: the index of the next batch,
    which equals the number of batches consumed, i.e. the training step of the checkpoint.
    """
    pos = data_state.get("next_index") if isinstance(data_state, dict) else None
    if isinstance(pos, bool) or not isinstance(pos, int):
        raise CheckpointError(
            f"checkpoint {path}: data_state {_clip(data_state)} has no integer next_index, so "
            f"its position cannot be checked against step {batches_consumed}. Refused; left "
            "untouched.")
    if pos != int(batches_consumed):
        raise CheckpointError(
            f"checkpoint {path}: data_state next_index={pos} disagrees with step "
            f"{batches_consumed} ({batches_consumed} batches consumed); resuming would change "
            "the data order. Refused; left untouched; move it away (or use another workdir) to "
            "start over.")


def _is_closed_loop_callback(unraisable) -> bool:
    e = unraisable.exc_value
    if not (isinstance(e, RuntimeError) and str(e) == "Event loop is closed"):
        return False
    frames = traceback.extract_tb(unraisable.exc_traceback) if unraisable.exc_traceback else []
    return any(f.name == "call_soon_threadsafe" for f in frames)


class _QuietAbandonedReads:
    """Silence orbax's abandoned reads after a failed restore.

    When one array of a restore fails (a truncated file), orbax's event loop ends and is
    closed while tensorstore still completes the other reads it had started; each of
    them calls back into the closed loop, and Python prints the unraisable
    ``RuntimeError: Event loop is closed`` with a traceback, during the restore or at
    interpreter exit, after our one-line error. Those reads are abandoned by design, so
    while a restore runs (and, after a failed one, until exit) exactly those reports are
    dropped; every other unraisable exception goes to the previous hook.
    """

    def __enter__(self):
        self.previous = sys.unraisablehook
        previous = self.previous

        def hook(unraisable):
            if not _is_closed_loop_callback(unraisable):
                previous(unraisable)

        sys.unraisablehook = hook
        return self

    def __exit__(self, exc_type, *_):
        if exc_type is None:  # success: no read is left behind
            sys.unraisablehook = self.previous


def _clip(value, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


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
    """A thin, strict wrapper around ``ocp.CheckpointManager`` (synchronous saves).

    Args:
      directory: the checkpoint directory (created if missing).
      fingerprint: JSON-able dict identifying what the state means (see module doc).
      keep: how many recent checkpoints to keep (``max_to_keep``): an int >= 1.
      data_fingerprint: JSON-able dict identifying the run's data (e.g.
        :func:`files_fingerprint` of its data files; ``None`` or ``{}`` for generated
        data). Recorded in every checkpoint and compared on every restore.

    Raises:
      ValueError: ``keep`` is not an int >= 1 (named as ``config.keep_checkpoints``).
      CheckpointError: the directory cannot be opened.

    Use as a context manager, or call :meth:`close` (also on error paths): it waits for
    orbax's work and shuts its manager down before the interpreter exits.
    """

    def __init__(self, directory: str, fingerprint: dict, *, keep: int = 3,
                 data_fingerprint: dict | None = None):
        if isinstance(keep, bool) or not isinstance(keep, (int, np.integer)) or keep < 1:
            raise ValueError(f"config.keep_checkpoints={keep!r} is not accepted; accepted: an "
                             "int >= 1 (how many recent checkpoints to keep)")
        self.directory = os.path.abspath(directory)
        self.fingerprint = json.loads(json.dumps(fingerprint))
        self.data_fingerprint = (None if data_fingerprint is None
                                 else json.loads(json.dumps(data_fingerprint)))
        # synchronous: a save is on disk when save() returns (Ctrl-C, SIGKILL), and no
        # background thread outlives close()
        ocp = _orbax()
        options = ocp.CheckpointManagerOptions(max_to_keep=int(keep), create=True,
                                               enable_async_checkpointing=False)
        self.manager, self._closed = None, False
        try:
            self.manager = ocp.CheckpointManager(self.directory, options=options,
                                                 item_names=("state", "meta"))
        except Exception as e:  # noqa: BLE001 - report any orbax failure the same way
            raise CheckpointError(f"cannot open checkpoint directory {self.directory}: "
                                  f"{type(e).__name__}: {_short(e)}") from e

    def __enter__(self) -> "Checkpointer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def all_steps(self) -> list[int]:
        return list(self.manager.all_steps())

    def save(self, step: int, state: dict, data_state=None, *, force: bool = False,
             extra: dict | None = None) -> bool:
        """Save ``state`` (a host pytree) at ``step``; blocks until written.

        ``data_state``: the data iterator's ``get_state()`` (a JSON-able dict or bytes).
        ``extra`` is small JSON loop state (e.g. the open metrics window) for exact resume.
        """
        meta = {"step": int(step), "fingerprint": self.fingerprint,
                "data_fingerprint": self.data_fingerprint,
                "data_state": _encode_data_state(data_state), "extra": extra or {}}
        ocp = _orbax()
        saved = self.manager.save(int(step), args=ocp.args.Composite(
            state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)), force=force)
        self.manager.wait_until_finished()
        if saved and jax.process_index() == 0:
            _write_files_list(os.path.join(self.directory, str(int(step))))
        return saved

    def restore(self, step: int, abstract_state, *, batches_consumed: int | None = None,
                check_data: bool = True, partial: bool = False) -> tuple[Any, Any, dict]:
        """``(state, data_state, extra)`` from checkpoint ``step``; strict, see module doc.

        Args:
          step: the checkpoint to restore (e.g. :meth:`latest_step`).
          abstract_state: the target tree (:func:`abstract_of` of a fresh state).
          batches_consumed: if given, the data state must say that exactly this many
            batches were consumed (``next_index``); the training loop passes ``step``.
          check_data: compare the data fingerprints (a resume must); reading a run's
            parameters to evaluate or predict on other data passes False.
          partial: ``abstract_state`` names part of the saved tree (e.g. ``{"params":
            ...}`` of a ``{"step", "params", "opt_state", "rng"}`` state) and only that
            part is read, as host numpy arrays: a run's parameters without rebuilding its
            optimizer to learn the shapes of the rest.

        Raises:
          CheckpointError: (one line, naming the checkpoint) files altered or missing,
            metadata keys this module does not write, another config, other data
            (``data_fingerprint``), a data position that disagrees with
            ``batches_consumed``, a stored step that disagrees with ``step``, or arrays
            that cannot be restored into ``abstract_state``. Nothing is executed from the
            checkpoint and nothing in it is changed.
        """
        ocp = _orbax()
        path = os.path.join(self.directory, str(step))
        if not os.path.isdir(path):
            raise CheckpointError(f"checkpoint {path} does not exist")
        _verify_files(path)
        try:
            with _QuietAbandonedReads():
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
        unknown = sorted(set(meta) - set(_META_KEYS))
        if unknown:
            raise CheckpointError(
                f"checkpoint {path}: meta/metadata holds key(s) {unknown} that lstmjax does not "
                f"write (it reads only {list(_META_KEYS)}; no pickle: a checkpoint must not run "
                "code). Refused; nothing was executed and the checkpoint was left untouched.")
        if not isinstance(meta["fingerprint"], dict) or not isinstance(meta.get("extra") or {}, dict):
            raise CheckpointError(f"checkpoint {path}: meta/metadata fingerprint and extra must "
                                  "be JSON objects. Refused; left untouched.")
        if meta.get("step") != int(step):
            raise CheckpointError(f"checkpoint {path}: meta/metadata says step "
                                  f"{meta.get('step')!r}, the directory says {int(step)}. "
                                  "Refused; left untouched.")
        diffs = diff_fingerprints(meta["fingerprint"], self.fingerprint)
        if diffs:
            raise CheckpointError(
                f"checkpoint {path} was written by another config and cannot be resumed by "
                f"this one; differences (checkpoint -> now): {'; '.join(diffs[:8])}. "
                "Use another --workdir, or restore the original config. Left untouched.")
        stored_data = meta.get("data_fingerprint") or {}
        now_data = self.data_fingerprint or {}
        if check_data and now_data and meta.get("data_fingerprint") is None:
            raise CheckpointError(
                f"checkpoint {path} records no data fingerprint (written by an older lstmjax), "
                "so the data it was trained on cannot be checked against this run's. Use "
                "another --workdir (or move its checkpoints aside) to start over. Left "
                "untouched.")
        if check_data and stored_data != now_data:
            diffs = diff_fingerprints(stored_data if isinstance(stored_data, dict)
                                      else {"data_fingerprint": stored_data}, now_data)
            raise CheckpointError(
                f"checkpoint {path} was written for other data; changed (checkpoint -> now): "
                f"{'; '.join(diffs[:8])}. Put back the original data files, or use another "
                "--workdir. Left untouched.")
        data_state = _decode_data_state(meta.get("data_state"), path)
        if batches_consumed is not None:
            check_data_state(data_state, batches_consumed, path)
        _check_stored(path, abstract_state)
        try:
            with _QuietAbandonedReads():
                if partial:
                    restore_args = jax.tree.map(
                        lambda a: ocp.RestoreArgs(restore_type=np.ndarray, dtype=a.dtype),
                        abstract_state)
                    item = ocp.args.PyTreeRestore(abstract_state, restore_args=restore_args,
                                                  partial_restore=True)
                else:
                    item = ocp.args.StandardRestore(abstract_state)
                restored = self.manager.restore(int(step),
                                                args=ocp.args.Composite(state=item))["state"]
        except Exception as e:  # noqa: BLE001
            raise CheckpointError(
                f"checkpoint {path} could not be restored (corrupt, truncated, or shapes that "
                f"do not fit this config: {type(e).__name__}: {_short(e)}). It was left "
                "untouched; move it away (or use another workdir) to start over.") from e
        _check_restored(restored, abstract_state, path)
        if isinstance(restored, dict) and "step" in restored and int(restored["step"]) != int(step):
            raise CheckpointError(f"checkpoint {path}: its state says step "
                                  f"{int(restored['step'])}, the directory says {int(step)}. "
                                  "Refused; left untouched.")
        return restored, data_state, meta.get("extra") or {}

    def close(self) -> None:
        """Wait for orbax's pending work and close the manager (idempotent)."""
        if self.manager is None or self._closed:
            return
        self._closed = True
        try:
            self.manager.wait_until_finished()
        finally:
            self.manager.close()


def _key_names(key_path) -> tuple[str, ...]:
    """A tree path as plain names: orbax's metadata tree holds dicts where the state holds
    named tuples (``.mu`` vs ``['mu']``), so paths are compared by name only."""
    out = []
    for k in key_path:
        for attr in ("key", "name", "idx"):
            if hasattr(k, attr):
                out.append(str(getattr(k, attr)))
                break
        else:
            out.append(str(k))
    return tuple(out)


def _check_stored(path: str, abstract) -> None:
    """Refuse a checkpoint whose arrays are stored with another dtype than ``abstract``
    expects, before orbax reads them: orbax casts on restore, so a float16 checkpoint
    would otherwise come back as float32 without a word (and a float64 one would lose
    precision the same way). Reads only orbax's array metadata; shapes are checked by
    the restore itself and :func:`_check_restored`."""
    ocp = _orbax()
    try:
        with _QuietAbandonedReads():
            # the item's handler, not StandardCheckpointer: that one expects a step-level
            # _CHECKPOINT_METADATA inside the item folder and logs a warning line to stderr
            from etils import epath
            tree = ocp.StandardCheckpointHandler().metadata(
                epath.Path(os.path.join(path, "state"))).tree
    except Exception as e:  # noqa: BLE001
        raise CheckpointError(
            f"checkpoint {path}: the array metadata of state/ is unreadable (corrupt or "
            f"truncated: {type(e).__name__}: {_short(e)}). Left untouched; move it away (or "
            "use another workdir) to start over.") from e
    by_name = {_key_names(p): m for p, m in jax.tree_util.tree_flatten_with_path(
        tree, is_leaf=lambda x: hasattr(x, "dtype") and hasattr(x, "shape"))[0]}
    for p, want in jax.tree_util.tree_flatten_with_path(abstract)[0]:
        have = by_name.get(_key_names(p))
        if have is None or not hasattr(have, "dtype"):
            continue       # a missing array is reported by orbax's restore, with its name
        if np.dtype(have.dtype) != np.dtype(want.dtype):
            raise CheckpointError(
                f"checkpoint {path}: {jax.tree_util.keystr(p)} is stored as "
                f"{np.dtype(have.dtype).name}, this run expects {np.dtype(want.dtype).name}; "
                "restoring would cast it silently, so it was refused. Left untouched.")


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
    """``jax.ShapeDtypeStruct`` tree of a pytree of arrays or of ``ShapeDtypeStruct``s
    (``jax.eval_shape``'s output): the restore target."""
    def leaf(x):
        if hasattr(x, "shape") and hasattr(x, "dtype"):
            return jax.ShapeDtypeStruct(tuple(x.shape), x.dtype)
        return jax.ShapeDtypeStruct(np.shape(x), np.asarray(x).dtype)
    return jax.tree.map(leaf, tree)
