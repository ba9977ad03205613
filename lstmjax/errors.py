"""The errors lstmjax raises on purpose, and the one map from exception type to exit code.

Every command (``python -m lstmjax train | evaluate | predict``) and every process of a
multi-process job leaves with :func:`exit_code` of the exception that stopped it: one
table, keyed by exception type (:data:`CODES`), found along the exception's MRO, so a
subclass maps like its nearest listed base (``DataError`` is a ``ValueError`` but maps to
4, not 2). An exception the table does not know is a bug, not an expected failure:
:func:`exit_code` returns None, the command line lets Python print its traceback and exit
with :data:`UNEXPECTED` (Python's own status), and a process of a multi-process job that
must leave without jax's shutdown uses the same status.

The classes live here, at the bottom of the import graph, so that both the modules that
raise them (``tasks``, ``runs``, ``checkpoint``, ``train``, ``parallel``, which re-export
them under their old names: ``lstmjax.tasks.DataError`` is ``lstmjax.errors.DataError``)
and the two that map them (``cli``, ``parallel``) can read one table.
"""

from __future__ import annotations

import signal


class DataError(ValueError):
    """A data file or dataset is missing, unreadable or invalid.

    ``str(e)`` is one line that names the file (and the line, key or field) and says what
    is expected, e.g. ``"data/train.csv:17: 3 fields but the header has 2 ..."``. Raised
    for every bad *data* problem (as opposed to a bad config value, which raises a plain
    ``ValueError`` naming the field), so that a CLI can map it to its own exit code and
    print only ``str(e)``. A subclass of ``ValueError`` so ``except ValueError`` still
    catches it.
    """


class RunDirError(RuntimeError):
    """A run directory or one of its files that cannot be used as it is (one line)."""


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used (corrupt, truncated, or from another config)."""


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or Inf; ``step`` is the update that produced it."""

    def __init__(self, message: str, step: int):
        super().__init__(message)
        self.step = step


class DistributedError(RuntimeError):
    """A multi-process job that cannot go on: the coordinator cannot be reached in time,
    or a peer process was lost (killed, crashed, its host gone). One line, naming whom.

    The command line exits with :attr:`exit_code`; rerunning the same command on every
    host resumes from the last complete checkpoint.
    """

    exit_code = 5


# code -> what it means (the table `python -m lstmjax` prints and docs/training.md shows)
EXIT_CODES = {
    0: "done",
    1: "the loss became NaN/Inf (the last good checkpoint is kept)",
    2: "invalid config or command line",
    3: "unusable run directory or checkpoint (nothing was changed)",
    4: "missing, unreadable or invalid data (files, or a dataset not prepared offline)",
    5: "a multi-process job lost a peer or cannot reach its coordinator (rerun to resume)",
    130: "interrupted by Ctrl-C (SIGINT); a checkpoint was saved at the step boundary: rerun "
         "the same command to resume",
    138: "stopped by SIGUSR1 (SLURM --signal=USR1@...); a checkpoint was saved: rerun (or "
         "requeue) the same command to resume",
    143: "stopped by SIGTERM (a scheduler's preemption or time limit); a checkpoint was saved: "
         "rerun (or requeue) the same command to resume",
}

# exception type -> exit code; KeyboardInterrupt's code is 128 + its signal (below)
CODES: dict[type, int] = {
    NonFiniteLossError: 1,
    ValueError: 2,
    TypeError: 2,
    RunDirError: 3,
    CheckpointError: 3,
    OSError: 3,  # the run directory or an output file (data files raise DataError)
    DataError: 4,
    DistributedError: DistributedError.exit_code,
    KeyboardInterrupt: 128 + signal.SIGINT,
}

UNEXPECTED = 1  # Python's status after an uncaught exception's traceback


def exit_code(e: BaseException) -> int | None:
    """The documented exit code of ``e`` (:data:`EXIT_CODES`), or None for an exception
    no entry of :data:`CODES` covers (a bug: let it raise).

    A ``KeyboardInterrupt`` that carries ``signum`` (``lstmjax.train.Interrupted``: a
    second SIGTERM or SIGUSR1) exits with 128 + that signal, as a shell reports it.
    """
    for cls in type(e).__mro__:
        if cls in CODES:
            if cls is KeyboardInterrupt:
                return 128 + int(getattr(e, "signum", signal.SIGINT))
            return CODES[cls]
    return None
