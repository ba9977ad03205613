"""One writer per run directory: ``<workdir>/lstmjax.lock`` (lstmjax.runs.RunLock).

A second process on a live run directory stops at once with one line naming the holder
(host, pid) and changes nothing; a lock left by a process that is gone (SIGKILL) is taken
over with one line.
"""

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from lstmjax import runs, train

from train_helpers import CLI_OVERRIDES, ROOT, subprocess_env, tiny

HOLD = ("import sys; from lstmjax import runs; lock = runs.RunLock(sys.argv[1]); "
        "lock.acquire(); print('held', flush=True); sys.stdin.read(); lock.release()")


@pytest.fixture
def held(tmp_path):
    """A workdir whose lock another live process holds: (workdir, that process)."""
    workdir = str(tmp_path / "run")
    os.makedirs(workdir)
    proc = subprocess.Popen([sys.executable, "-c", HOLD, workdir], cwd=ROOT,
                            env=subprocess_env(), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    yield workdir, proc
    proc.stdin.close()
    proc.wait(timeout=60)


def _listing(root):
    return sorted((os.path.relpath(os.path.join(d, f), root), os.path.getmtime(os.path.join(d, f)))
                  for d, _, files in os.walk(root) for f in files)


def test_second_writer_is_refused_naming_the_holder(held):
    workdir, proc = held
    with pytest.raises(runs.RunDirError) as e:
        runs.RunLock(workdir).acquire()
    message = str(e.value)
    assert f"pid {proc.pid} on host {socket.gethostname()}" in message
    assert "in use by another training process" in message and "\n" not in message


def test_train_on_a_held_workdir_stops_before_writing(held):
    workdir, proc = held
    before = _listing(workdir)
    t = time.time()
    with pytest.raises(runs.RunDirError, match=f"pid {proc.pid} "):
        train.run(tiny(steps=5), workdir, progress=False)
    assert time.time() - t < 10
    assert _listing(workdir) == before  # nothing written, the holder's file untouched


def test_released_lock_is_gone_and_the_same_process_cannot_take_it_twice(tmp_path):
    lock = runs.RunLock(str(tmp_path))
    with lock:
        assert os.path.isfile(os.path.join(tmp_path, runs.LOCK))
        with pytest.raises(runs.RunDirError, match="in use"):
            runs.RunLock(str(tmp_path)).acquire()
    assert not os.path.exists(os.path.join(tmp_path, runs.LOCK))
    with runs.RunLock(str(tmp_path)):  # free again
        pass


def test_lock_of_a_killed_process_is_taken_over(tmp_path, capsys):
    workdir = str(tmp_path)
    proc = subprocess.Popen([sys.executable, "-c", HOLD, workdir], cwd=ROOT,
                            env=subprocess_env(), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert os.path.isfile(os.path.join(workdir, runs.LOCK))  # left behind by the kill
    with runs.RunLock(workdir):
        out = capsys.readouterr().out
        assert f"took over the lock of pid {proc.pid} on host {socket.gethostname()}" in out


def test_file_left_by_a_dead_pid_without_os_locks(tmp_path, monkeypatch, capsys):
    """A file system without locks: the holder named in the file counts while its pid lives
    on this host."""
    gone = subprocess.Popen(["true"])
    gone.wait()
    path = os.path.join(tmp_path, runs.LOCK)
    monkeypatch.setattr(runs, "fcntl", None)
    with open(path, "w") as f:
        f.write(f'{{"host": "{socket.gethostname()}", "pid": {os.getppid()}}}')
    with pytest.raises(runs.RunDirError, match=f"pid {os.getppid()} "):
        runs.RunLock(str(tmp_path)).acquire()
    with open(path, "w") as f:
        f.write(f'{{"host": "{socket.gethostname()}", "pid": {gone.pid}}}')
    with runs.RunLock(str(tmp_path)):
        assert f"pid {gone.pid}" in capsys.readouterr().out


@pytest.mark.slow
def test_two_concurrent_trains_one_directory(tmp_path):
    """The resubmitted job beside a live one: exit 3 at once with one line; the live run
    finishes with a clean log (no (step, split) twice)."""
    workdir = str(tmp_path / "run")
    args = [sys.executable, "-m", "lstmjax", "train", "--config", "experiments/configs/adding.py",
            "--workdir", workdir, "--config.steps=800", "--progress=false", *CLI_OVERRIDES]
    first = subprocess.Popen(args, cwd=ROOT, env=subprocess_env(), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while not runs.read_jsonl(os.path.join(workdir, runs.METRICS)):
        assert first.poll() is None and time.time() < deadline, first.communicate()[1][-2000:]
        time.sleep(0.05)
    second = subprocess.run(args, cwd=ROOT, env=subprocess_env(), capture_output=True,
                            text=True, timeout=300)
    assert first.poll() is None, "the first run ended before the second started; make it longer"
    assert second.returncode == 3, second.stderr[-2000:]
    lines = [line for line in second.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and f"pid {first.pid} on host" in lines[0], second.stderr
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err[-2000:]
    records = runs.read_jsonl(os.path.join(workdir, runs.METRICS))
    keys = [(r["step"], r["split"]) for r in records]
    assert len(keys) == len(set(keys))
    assert not os.path.exists(os.path.join(workdir, runs.LOCK))
