"""One exit-code map, keyed by exception type (issue 25 item 3): ``lstmjax.errors.CODES``.

The command line (``lstmjax.cli``) and a multi-process job's early exit
(``lstmjax.parallel``) read the same table; every documented code maps from its
exception type; an exception the table does not know is a bug (traceback, Python's exit
status 1) in both.
"""

import pathlib
import re
import signal
import subprocess
import sys

import pytest

from lstmjax import checkpoint, cli, errors, parallel, runs, tasks, train

ROOT = pathlib.Path(__file__).resolve().parent.parent

# one raised example per documented code
EXAMPLES = {
    1: [errors.NonFiniteLossError("loss is nan at step 3", 3)],
    2: [ValueError("config.steps=-1"), TypeError("bad type"), cli.UsageError("bad flag")],
    3: [errors.CheckpointError("corrupt"), errors.RunDirError("not a run"),
        PermissionError("read-only")],
    4: [errors.DataError("data/train.csv:3: bad row")],
    5: [errors.DistributedError("lost process 1")],
    130: [KeyboardInterrupt()],
    138: [train.Interrupted("second SIGUSR1", signal.SIGUSR1)],
    143: [train.Interrupted("second SIGTERM", signal.SIGTERM)],
}


def test_every_documented_code_maps_from_its_exception_type():
    assert set(EXAMPLES) == set(errors.EXIT_CODES) - {0}
    for code, examples in EXAMPLES.items():
        for e in examples:
            assert errors.exit_code(e) == code, (type(e).__name__, code)
            assert cli.exit_code(e) == code
            assert parallel.default_exit_code(e) == code


def test_the_old_names_are_the_same_classes():
    """Raised under their old names, mapped by one table."""
    assert tasks.DataError is errors.DataError
    assert runs.RunDirError is errors.RunDirError
    assert checkpoint.CheckpointError is errors.CheckpointError
    assert train.NonFiniteLossError is errors.NonFiniteLossError
    assert parallel.DistributedError is errors.DistributedError
    assert cli.EXIT_CODES is errors.EXIT_CODES


def test_a_subclass_maps_like_its_nearest_listed_base():
    class BadColumn(errors.DataError):  # a ValueError too: 4 wins, being nearer
        pass

    class Corrupt(errors.CheckpointError):
        pass

    assert errors.exit_code(BadColumn("x")) == 4
    assert errors.exit_code(Corrupt("x")) == 3
    assert errors.exit_code(FileNotFoundError("x")) == 3  # an OSError


def test_an_unknown_error_is_a_bug_in_both_maps():
    e = RuntimeError("something nobody expected")
    assert errors.exit_code(e) is None
    assert parallel.default_exit_code(e) == errors.UNEXPECTED == 1
    with pytest.raises(RuntimeError, match="nobody expected"):
        cli.exit_code(e)
    # the command line lets it through: Python's traceback and the same status
    out = subprocess.run(
        [sys.executable, "-c", "from lstmjax import cli\n"
         "def boom():\n    raise RuntimeError('something nobody expected')\n"
         "cli.guarded(boom, False)"],
        capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == errors.UNEXPECTED
    assert "Traceback" in out.stderr and "something nobody expected" in out.stderr


def test_cli_and_parallel_agree_on_every_example():
    examples = [e for es in EXAMPLES.values() for e in es] + [RuntimeError("x"),
                                                              ZeroDivisionError("x")]
    for e in examples:
        try:
            from_cli = cli.exit_code(e)
        except type(e):
            from_cli = errors.UNEXPECTED  # raised again: Python exits with 1
        assert from_cli == parallel.default_exit_code(e), type(e).__name__


def test_no_error_is_recognized_by_its_class_name():
    """The map is keyed by types: no ``type(e).__name__ == "DataError"`` anywhere."""
    for path in (ROOT / "lstmjax").rglob("*.py"):
        text = path.read_text()
        assert not re.search(r"__name__\s*(==|in)\s*[(\[]?\s*[\"'][A-Za-z]*Error", text), path


def test_the_docs_table_is_the_map():
    text = (ROOT / "docs" / "training.md").read_text()
    section = text.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (\d+) \|", section, re.M)
    assert sorted(int(r) for r in rows) == sorted(errors.EXIT_CODES)
    assert "lstmjax.errors" in section


def test_the_table_is_reachable_from_the_package():
    import lstmjax

    assert lstmjax.errors.CODES is errors.CODES
