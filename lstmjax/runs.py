"""The run directory: resolved config, metrics log, learning curve, summary.

Layout of ``workdir``::

    config.json          the resolved config (every default filled in)
    metrics.jsonl        one line per logged step: {"step", "split", <metric>: value, ...}
                         deterministic: the same config gives a byte-identical file;
                         append-only (see JsonlLog)
    metrics.jsonl.before-resume-<step>   the file as it was before a resume dropped
                         records past checkpoint <step> (only when there were any)
    timing.jsonl         wall-clock fields (steps/s, seconds) kept apart from metrics
    learning_curve.png   train / eval loss and accuracy against step
    confusion_matrix.png the test split's confusion matrix (classification, <= 50 classes)
    checkpoints/         orbax CheckpointManager directory (see lstmjax.checkpoint)
    tensorboard/         TensorBoard event files of every metrics record (EventLog)
    lstmjax.lock         while a run trains: its host and pid (RunLock, one writer)
    summary.json         final eval metrics, wall time, devices, versions, git commit,
                         params_sha256
"""

from __future__ import annotations

import errno
import hashlib
import importlib.metadata
import json
import os
import platform
import shutil
import socket
import subprocess
import tempfile
import time
from typing import Any, Iterable

try:
    import fcntl  # POSIX: the run directory's lock (RunLock)
except ImportError:  # pragma: no cover - elsewhere RunLock trusts the file's holder
    fcntl = None

import jax
import numpy as np

from lstmjax.errors import RunDirError  # noqa: F401 - lstmjax.runs.RunDirError
from lstmjax.tasks.files import sha256_file

METRICS = "metrics.jsonl"
TIMING = "timing.jsonl"
CONFIG = "config.json"
SUMMARY = "summary.json"
CURVE = "learning_curve.png"
LOCK = "lstmjax.lock"
CONFUSION = "confusion_matrix.png"
TENSORBOARD = "tensorboard"
# what a run directory holds (lstmjax.train adds task.json, vocab.json, labels.json,
# embeddings.json, init_from.json):
# never an --output of evaluate or predict
RUN_FILES = "run_files.json"  # sha256 of the files that define the trained model
RECORDS = (CONFIG, METRICS, TIMING, SUMMARY, CURVE, LOCK, CONFUSION, RUN_FILES, "task.json",
           "vocab.json", "labels.json", "embeddings.json", "init_from.json")
RECORD_DIRS = ("checkpoints", "best", "incomplete", TENSORBOARD)


def check_workdir(path: str, create: bool = True) -> str:
    """Create the run directory ``path`` if needed; its absolute path. ``create=False``
    only checks that it could be (a command checks before its data loads, so that a data
    error leaves no empty run directory behind).

    Raises:
      RunDirError: ``path`` is a file, sits under a file, cannot be created, or is not
        writable.
    """
    root = os.path.abspath(os.fspath(path))
    existing = root
    while not os.path.lexists(existing):
        parent = os.path.dirname(existing)
        if parent == existing:
            break
        existing = parent
    if os.path.lexists(existing) and not os.path.isdir(existing):
        where = "is a file" if existing == root else f"sits under {existing}, which is a file"
        raise RunDirError(f"workdir {root} {where}, not a directory; choose another --workdir")
    if not create and existing != root:
        if not os.access(existing, os.W_OK | os.X_OK):
            raise RunDirError(f"workdir {root} cannot be created ({existing} is not writable); "
                              "choose another --workdir")
        return root
    try:
        os.makedirs(root, exist_ok=True)
    except OSError as e:
        raise RunDirError(f"workdir {root} cannot be created ({e.strerror or e}); choose "
                          "another --workdir") from e
    if not os.access(root, os.W_OK | os.X_OK):
        raise RunDirError(f"workdir {root} is not writable; fix its permissions or choose "
                          "another --workdir")
    return root


class RunLock:
    """One writer per run directory: ``<workdir>/lstmjax.lock``, held while a run trains.

    The lock is an OS lock (``fcntl.flock``) on the file, so it goes when its process goes,
    even on SIGKILL, and a rerun after a crash takes it over (with one line naming the
    process that left it). The file names the holder (host, pid, start time) for the
    error of a second writer. Where the file system has no locks, the holder named in the
    file is trusted while that pid is alive on this host (a holder on another host is
    trusted until the file is deleted).

    Raises (on :meth:`acquire`):
      RunDirError: another process holds the run directory (one line: host, pid, since
        when, and the lock file). Nothing in the directory is changed.
    """

    def __init__(self, root: str):
        self.path = os.path.join(os.path.abspath(root), LOCK)
        self._fd = None

    def __enter__(self) -> "RunLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def acquire(self) -> None:
        # flock, not lockf: a POSIX lock is dropped when *any* descriptor of the file closes
        # in its process (reading the holder's name would release it), and does not see a
        # second holder in the same process
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                if fcntl is None:
                    raise OSError(errno.ENOLCK, "no fcntl")
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                locked = True
            except OSError as e:
                if e.errno in (errno.EACCES, errno.EAGAIN):
                    os.close(fd)
                    raise self._busy(self._holder()) from None
                locked = False  # no locks on this file system: trust the file's holder
            # the holder may have released and removed the file between our open and our
            # lock: then we hold a lock on a removed file; open the path again
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        previous = self._holder()
        if not locked and previous and previous.get("pid") != os.getpid() and _alive(previous):
            os.close(fd)
            raise self._busy(previous)
        if previous and previous.get("pid") != os.getpid():
            print(f"note: took over the lock of {_who(previous)}, which is gone ({self.path})")
        record = json.dumps({"host": socket.gethostname(), "pid": os.getpid(),
                             "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
        os.ftruncate(fd, 0)
        os.pwrite(fd, (record + "\n").encode(), 0)
        os.fsync(fd)
        self._fd = fd

    def release(self) -> None:
        """Remove the lock file and unlock (idempotent)."""
        if self._fd is None:
            return
        try:
            os.remove(self.path)  # while still locked: a waiting writer then reopens it
        except FileNotFoundError:
            pass
        finally:
            os.close(self._fd)
            self._fd = None

    def _holder(self) -> dict:
        try:
            with open(self.path) as f:
                holder = json.loads(f.read() or "{}")
            return holder if isinstance(holder, dict) else {}
        except (OSError, ValueError):
            return {}

    def _busy(self, holder: dict) -> RunDirError:
        since = f", since {holder['since']}" if holder.get("since") else ""
        return RunDirError(
            f"workdir {os.path.dirname(self.path)} is in use by another training process "
            f"({_who(holder)}{since}); two writers would mix their checkpoints and records, "
            "so this one stopped and changed nothing. Wait for it to finish, or use another "
            f"--workdir (a holder on another host that is gone: delete {self.path}).")


def _who(holder: dict) -> str:
    return f"pid {holder.get('pid', '?')} on host {holder.get('host', '?')}"


def _alive(holder: dict) -> bool:
    """Whether the holder may still run: True unless it is on this host and its pid is gone."""
    if holder.get("host") != socket.gethostname() or not isinstance(holder.get("pid"), int):
        return True
    try:
        os.kill(holder["pid"], 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


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


def record_run_files(root: str, names: Iterable[str]) -> None:
    """Record the sha256 of the run files ``names`` (those that exist) in ``run_files.json``,
    so that :func:`verify_run_files` can tell when one was edited or replaced."""
    digests = {}
    for name in names:
        path = os.path.join(root, name)
        if os.path.isfile(path):
            digests[name] = sha256_file(path)
    write_json(os.path.join(root, RUN_FILES), {"format": 1, "sha256": digests})


def verify_run_files(root: str) -> None:
    """Refuse a run whose task, vocabulary or labels file differs from the one it wrote (``run_files.json``; runs written before it existed are not checked).

    Raises:
      RunDirError: (one line) the file that was edited, replaced or deleted.
    """
    path = os.path.join(root, RUN_FILES)
    if not os.path.exists(path):
        return
    try:
        digests = read_json(path)["sha256"]
        items = sorted(digests.items())
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise RunDirError(f"{path} is unreadable ({e}); the run directory is damaged. "
                          "Nothing was changed.") from e
    for name, digest in items:
        full = os.path.join(root, str(name))
        try:
            same = sha256_file(full) == digest
            what = "was edited or replaced after the run wrote it"
        except FileNotFoundError:
            same, what = False, "is missing"
        if not same:
            raise RunDirError(f"{full} {what} (its sha256 is recorded in {RUN_FILES}); the "
                              "trained model depends on it. Put back the original file; "
                              "nothing was changed.")


def is_record(path: str) -> str | None:
    """The run directory whose record ``path`` is (its config, logs, summary, run files,
    checkpoints, lock), else None: files a command's ``--output`` must never replace."""
    target = os.path.realpath(path)
    directory = os.path.dirname(target)
    while True:
        if os.path.isfile(os.path.join(directory, CONFIG)) and any(  # a run directory
                os.path.exists(os.path.join(directory, n))
                for n in (METRICS, SUMMARY, RUN_FILES, "checkpoints")):
            first, *rest = os.path.relpath(target, directory).split(os.sep)
            if (first in RECORD_DIRS) if rest else (
                    first in RECORDS or first.startswith((METRICS, TIMING))):
                return directory
        parent = os.path.dirname(directory)
        if parent == directory:
            return None
        directory = parent


def write_text(path: str, text: str) -> None:
    """Write ``text`` (UTF-8) atomically: a temporary file in the same directory, flushed to
    disk, then ``os.replace``; a crash leaves the old file or the new one, never half."""
    directory, name = os.path.split(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_json(path: str, obj: Any) -> None:
    """Write ``obj`` as JSON atomically: a temporary file in the same directory, flushed to
    disk, then ``os.replace``; a crash leaves the old file or the new one, never half."""
    write_text(path, json.dumps(plain(obj), indent=2, sort_keys=True, allow_nan=True) + "\n")


def read_json(path: str) -> Any:
    with open(path) as f:
        return json.load(f)


def _parse_lines(path: str, raw: bytes) -> tuple[list[tuple[bytes, dict]], bytes]:
    """``([(line, record), ...], torn_tail)`` of a JSON-lines file's bytes.

    Every newline-terminated line must be a JSON object, else RunDirError naming the line.
    An unterminated last fragment is returned as ``torn_tail`` (a writer is mid-line, or
    was killed mid-line); a complete JSON object there counts as a record.
    """
    *lines, tail = raw.split(b"\n")
    out = []
    for n, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise RunDirError(f"{path}, line {n}: not valid JSON ({e}); nothing was changed. "
                              "Fix or delete that line, or move the file aside.") from e
        if not isinstance(record, dict):
            raise RunDirError(f"{path}, line {n}: a JSON {type(record).__name__}, not a record "
                              "(object); nothing was changed. Fix or delete that line, or "
                              "move the file aside.")
        out.append((line, record))
    if tail:
        try:
            record = json.loads(tail)
        except (json.JSONDecodeError, UnicodeDecodeError):
            record = None
        if isinstance(record, dict):
            out.append((tail, record))
            tail = b""
    return out, tail


def read_jsonl(path: str) -> list[dict]:
    """All records of a JSON-lines file (``[]`` if it does not exist).

    Raises:
      RunDirError: a complete line is not a JSON object (names the file and the line).
        Only an unterminated last fragment (a writer mid-line, or killed mid-line) is left
        out; nothing after a bad line is ever dropped silently.
    """
    if not os.path.exists(path):
        return []
    with open(path, "rb") as f:
        raw = f.read()
    return [r for _, r in _parse_lines(path, raw)[0]]


class JsonlLog:
    """Append-only JSON-lines file that can be cut back to a step on resume.

    Every write checks that the path still names the file this log writes to; a file
    deleted or replaced during the run raises :class:`RunDirError` instead of losing the
    records that follow.
    """

    def __init__(self, path: str | None):
        self.path = path
        self._f = None
        self._id = None        # (st_dev, st_ino) of the file this log writes to
        self.last_step = None  # step of the last record known to be in the file
        self.backup = None     # where truncate_after copied the original, if it had to

    def truncate_after(self, step: int) -> list[dict]:
        """Keep only records with ``step <= step`` (resume); returns them.

        The file is read in full first: a bad line raises :class:`RunDirError` (naming the
        line) and nothing is changed. If records must go (past ``step``, or a torn last
        fragment), the original is first copied to ``<path>.before-resume-<step>`` (``.2``,
        ``.3``, ... if taken) and the kept lines, byte for byte, then replace the file
        atomically. Otherwise the file is not touched.
        """
        if self.path is None:
            return []
        self.close()
        if not os.path.exists(self.path):
            self._id, self.last_step = None, None
            return []
        with open(self.path, "rb") as f:
            raw = f.read()
            st = os.fstat(f.fileno())
        lines, tail = _parse_lines(self.path, raw)
        kept = []
        for n, (line, record) in enumerate(lines, 1):
            s = record.get("step")
            if isinstance(s, bool) or not isinstance(s, (int, float)):
                raise RunDirError(f"{self.path}, line {n}: record has no numeric step "
                                  f"({line[:80]!r}); nothing was changed. Fix or delete that "
                                  "line, or move the file aside.")
            if s <= step:
                kept.append((line, record))
        if len(kept) == len(lines) and not tail:
            self._id = (st.st_dev, st.st_ino)
        else:
            self.backup = _free_name(f"{self.path}.before-resume-{int(step)}")
            shutil.copyfile(self.path, self.backup)
            _fsync_path(self.backup)
            directory, name = os.path.split(os.path.abspath(self.path))
            fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(b"".join(line + b"\n" for line, _ in kept))
                    f.flush()
                    os.fsync(f.fileno())
                    st = os.fstat(f.fileno())
                os.replace(tmp, self.path)
            except BaseException:
                if os.path.exists(tmp):
                    os.remove(tmp)
                raise
            self._id = (st.st_dev, st.st_ino)
        self.last_step = kept[-1][1]["step"] if kept else None
        return [r for _, r in kept]

    def _check_same_file(self) -> None:
        try:
            st = os.stat(self.path)
            same = (st.st_dev, st.st_ino) == self._id
        except FileNotFoundError:
            same = False
        if not same:
            raise self._lost()

    def _lost(self) -> RunDirError:
        last = "no record yet" if self.last_step is None else f"step {self.last_step}"
        return RunDirError(
            f"{self.path} was deleted or replaced during the run (last record written: "
            f"{last}); records after that would be lost, so the run stopped. Put the file "
            "back (or move the run directory aside) and rerun to resume from the last "
            "checkpoint.")

    def write(self, record: dict) -> None:
        """Append one record (flushed); RunDirError if the file vanished or was replaced."""
        if self.path is None:
            return
        if self._id is not None:
            self._check_same_file()
        if self._f is None:
            f = open(self.path, "a")
            st = os.fstat(f.fileno())
            if self._id is not None and (st.st_dev, st.st_ino) != self._id:
                f.close()
                raise self._lost()
            self._f, self._id = f, (st.st_dev, st.st_ino)
        self._f.write(dumps(record) + "\n")
        self._f.flush()
        self.last_step = record.get("step", self.last_step)

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None


class EventLog:
    """TensorBoard event files of a run's records, written by ``tensorboardX`` (no
    TensorFlow): each float of a record is the scalar ``<split>/<name>`` at its ``step``
    (``train/loss``, ``validation/accuracy``, ``test/macro_f1``, ...).

    ``path=None`` writes nothing. A resumed run hides the events past the checkpoint it
    resumes from (``purge_after``, TensorBoard's ``purge_step``), as ``metrics.jsonl``
    drops those records. Without ``tensorboardX`` installed it says so once and writes
    nothing: event files must never stop a run.
    """

    def __init__(self, path: str | None):
        self.path = path
        self._writer = None

    def write(self, record: dict, purge_after: int | None = None) -> None:
        if self.path is None:
            return
        if self._writer is None:
            try:
                from tensorboardX import SummaryWriter
            except ImportError:
                print("note: tensorboardX is not installed; no TensorBoard event files "
                      "(pip install tensorboardX)")
                self.path = None
                return
            self._writer = SummaryWriter(self.path, flush_secs=10, purge_step=(
                None if purge_after is None else int(purge_after) + 1))
        for key, value in record.items():
            if isinstance(value, float) and key != "step":
                self._writer.add_scalar(f"{record['split']}/{key}", value, int(record["step"]))

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def _free_name(path: str) -> str:
    if not os.path.lexists(path):
        return path
    n = 2
    while os.path.lexists(f"{path}.{n}"):
        n += 1
    return f"{path}.{n}"


def _fsync_path(path: str) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


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


def plot_confusion(confusion: dict, path: str, title: str = "") -> None:
    """The confusion matrix ``{"labels": [C], "matrix": [C][C]}`` (rows: target, columns:
    prediction) as a heat map with the counts written in, rows normalised for the colour."""
    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    labels, m = confusion["labels"], np.asarray(confusion["matrix"], np.float64)
    rate = m / np.maximum(m.sum(1, keepdims=True), 1)  # recall per row: comparable colours
    size = 2.5 + 0.45 * len(labels)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    im = ax.imshow(rate, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=45 if len(labels) > 4 else 0,
                  ha="right" if len(labels) > 4 else "center")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if len(labels) <= 20:
        for i in range(len(labels)):
            for j in range(len(labels)):
                ax.text(j, i, f"{int(m[i, j])}", ha="center", va="center", fontsize=8,
                        color="white" if rate[i, j] > 0.5 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
