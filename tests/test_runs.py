"""The run directory: metrics.jsonl never loses a record, atomic JSON, usable workdirs."""

import json
import os

import pytest

from lstmjax import runs


def _records(steps):
    return [{"step": s, "split": "train", "loss": 1.0 / s} for s in steps]


def _write_log(path, steps):
    log = runs.JsonlLog(str(path))
    for r in _records(steps):
        log.write(r)
    log.close()
    return path.read_bytes()


# ----------------------------------------------------------------------------- read_jsonl

def test_read_jsonl_round_trip_and_missing_file(tmp_path):
    path = tmp_path / "metrics.jsonl"
    assert runs.read_jsonl(str(path)) == []
    _write_log(path, [1, 2, 3])
    assert runs.read_jsonl(str(path)) == _records([1, 2, 3])


@pytest.mark.parametrize("bad", [b'{"step": 3, "spl\n', b"not json\n", b"[1, 2]\n", b"\xff\xfe\n"])
def test_read_jsonl_bad_line_is_an_error_naming_the_line(tmp_path, bad):
    path = tmp_path / "metrics.jsonl"
    lines = [runs.dumps(r).encode() + b"\n" for r in _records([1, 2, 3, 4])]
    path.write_bytes(b"".join(lines[:2]) + bad + b"".join(lines[2:]))
    with pytest.raises(runs.RunDirError, match=rf"{path}, line 3: ") as err:
        runs.read_jsonl(str(path))
    assert "\n" not in str(err.value)


def test_read_jsonl_leaves_out_only_an_unterminated_last_fragment(tmp_path):
    """A writer mid-line (or killed mid-line): the fragment is not a record yet."""
    path = tmp_path / "metrics.jsonl"
    data = _write_log(path, [1, 2])
    path.write_bytes(data + b'{"step": 3, "sp')
    assert runs.read_jsonl(str(path)) == _records([1, 2])
    path.write_bytes(data + runs.dumps(_records([3])[0]).encode())  # complete, no newline yet
    assert runs.read_jsonl(str(path)) == _records([1, 2, 3])


# ----------------------------------------------------------------------------- truncate_after

def test_truncate_after_nothing_to_drop_leaves_the_file_alone(tmp_path):
    path = tmp_path / "metrics.jsonl"
    data = _write_log(path, [5, 10])
    ino = os.stat(path).st_ino
    log = runs.JsonlLog(str(path))
    assert log.truncate_after(10) == _records([5, 10])
    assert path.read_bytes() == data and os.stat(path).st_ino == ino and log.backup is None
    assert sorted(os.listdir(tmp_path)) == ["metrics.jsonl"]


def test_truncate_after_copies_the_original_aside_then_replaces_it(tmp_path):
    path = tmp_path / "metrics.jsonl"
    data = _write_log(path, [5, 10, 15, 20]) + b'{"step": 25, "spl'
    path.write_bytes(data)
    log = runs.JsonlLog(str(path))
    assert log.truncate_after(10) == _records([5, 10])
    assert log.backup == str(path) + ".before-resume-10"
    assert open(log.backup, "rb").read() == data  # every byte kept
    assert path.read_bytes() == b"".join(data.splitlines(keepends=True)[:2])  # byte for byte
    # a second resume from the same step keeps the first copy
    path.write_bytes(data)
    log2 = runs.JsonlLog(str(path))
    log2.truncate_after(10)
    assert log2.backup == str(path) + ".before-resume-10.2"
    assert open(log.backup, "rb").read() == data
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]


def test_corrupt_line_then_resume_is_an_error_and_the_file_is_unchanged(tmp_path):
    """Issue 14.2: 8 records became 4 (read stopped at the bad line, then a rewrite)."""
    path = tmp_path / "metrics.jsonl"
    lines = [runs.dumps(r).encode() + b"\n" for r in _records(range(1, 9))]
    lines[4] = b'{"step": 5, "split": "tr\n'
    data = b"".join(lines)
    path.write_bytes(data)
    log = runs.JsonlLog(str(path))
    with pytest.raises(runs.RunDirError, match=rf"{path}, line 5: not valid JSON.*nothing was changed"):
        log.truncate_after(2)
    assert path.read_bytes() == data
    assert sorted(os.listdir(tmp_path)) == ["metrics.jsonl"]


def test_truncate_after_refuses_records_without_a_step(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_bytes(b'{"step": 1}\n{"split": "eval"}\n')
    with pytest.raises(runs.RunDirError, match=r"line 2: record has no numeric step"):
        runs.JsonlLog(str(path)).truncate_after(0)
    assert path.read_bytes() == b'{"step": 1}\n{"split": "eval"}\n'


# ----------------------------------------------------------------------------- vanished file

@pytest.mark.parametrize("how", ["delete", "replace"])
def test_log_file_deleted_or_replaced_during_the_run_is_an_error(tmp_path, how):
    """Issue 14.3: the records after the deletion were lost without a word."""
    path = tmp_path / "metrics.jsonl"
    log = runs.JsonlLog(str(path))
    for r in _records([1, 2]):
        log.write(r)
    os.remove(path)
    if how == "replace":
        path.write_text("")
    with pytest.raises(runs.RunDirError,
                       match=rf"{path} was deleted or replaced during the run \(last record "
                             r"written: step 2\); records after that would be lost"):
        log.write(_records([3])[0])
    assert not path.exists() if how == "delete" else path.read_text() == ""
    log.close()


def test_log_file_deleted_between_resume_and_first_write(tmp_path):
    path = tmp_path / "metrics.jsonl"
    _write_log(path, [1, 2, 3])
    log = runs.JsonlLog(str(path))
    log.truncate_after(2)
    os.remove(path)
    with pytest.raises(runs.RunDirError, match=r"last record written: step 2"):
        log.write(_records([3])[0])
    assert not path.exists()


def test_log_reopens_after_close_and_appends(tmp_path):
    path = tmp_path / "metrics.jsonl"
    log = runs.JsonlLog(str(path))
    log.write(_records([1])[0])
    log.close()
    log.write(_records([2])[0])  # the final eval is written after close() in the loop
    log.close()
    assert runs.read_jsonl(str(path)) == _records([1, 2])
    runs.JsonlLog(None).write({"step": 1})  # no workdir: nothing written


# ----------------------------------------------------------------------------- write_json

def test_write_json_is_atomic(tmp_path, monkeypatch):
    path = str(tmp_path / "summary.json")
    runs.write_json(path, {"a": 1})

    def crash(src, dst):
        raise OSError("disk full (simulated)")
    monkeypatch.setattr(runs.os, "replace", crash)
    with pytest.raises(OSError, match="simulated"):
        runs.write_json(path, {"a": 2, "b": "x" * 10000})
    monkeypatch.undo()
    assert json.load(open(path)) == {"a": 1}
    assert os.listdir(tmp_path) == ["summary.json"]  # no temp file left behind
    with pytest.raises(TypeError):
        runs.write_json(path, {"a": object()})  # not serialisable: the old file stays
    assert json.load(open(path)) == {"a": 1} and os.listdir(tmp_path) == ["summary.json"]


# ----------------------------------------------------------------------------- check_workdir

def test_check_workdir_creates_the_directory(tmp_path):
    path = tmp_path / "a" / "b" / "run"
    assert runs.check_workdir(str(path)) == str(path)
    assert path.is_dir()
    assert runs.check_workdir(str(path)) == str(path)  # existing: fine


def test_check_workdir_that_is_a_file(tmp_path):
    path = tmp_path / "run"
    path.write_text("x")
    with pytest.raises(runs.RunDirError, match=rf"workdir {path} is a file, not a directory"):
        runs.check_workdir(str(path))
    assert path.read_text() == "x"


def test_check_workdir_under_a_file(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    path = blocker / "sub" / "run"
    with pytest.raises(runs.RunDirError, match=rf"workdir {path} sits under {blocker}, which is a file"):
        runs.check_workdir(str(path))
    assert blocker.read_text() == "x"


def test_check_workdir_not_writable(tmp_path, monkeypatch):
    path = tmp_path / "ro"
    path.mkdir()
    if os.geteuid() != 0:  # a real read-only directory (root ignores permissions)
        path.chmod(0o555)
        try:
            with pytest.raises(runs.RunDirError, match=rf"workdir {path} is not writable"):
                runs.check_workdir(str(path))
            with pytest.raises(runs.RunDirError, match=r"cannot be created \(Permission denied\)"):
                runs.check_workdir(str(path / "run"))
        finally:
            path.chmod(0o755)
    monkeypatch.setattr(runs.os, "access", lambda p, mode: False)
    with pytest.raises(runs.RunDirError, match=rf"workdir {path} is not writable"):
        runs.check_workdir(str(path))


def test_check_workdir_cannot_be_created(tmp_path, monkeypatch):
    def refuse(*a, **k):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(runs.os, "makedirs", refuse)
    with pytest.raises(runs.RunDirError, match=r"cannot be created \(Permission denied\)"):
        runs.check_workdir(str(tmp_path / "new"))
