"""A real 2-process job on localhost (gloo collectives, 1 CPU device per process), launched
the way a user launches one: ``JAX_COORDINATOR_ADDRESS`` / ``JAX_NUM_PROCESSES`` /
``JAX_PROCESS_ID`` and ``python -m lstmjax train``.

* it equals one process on 2 simulated devices, bit for bit (params_sha256, metrics.jsonl,
  whole-split numbers), and a rerun of the finished job agrees on every process;
* a SIGKILLed peer: the survivor exits within the bound with one line (exit 5); the rerun
  resumes from the last checkpoint and equals the uninterrupted job;
* a missing process id (exit 2) and an unreachable coordinator (exit 5) are one line,
  within ``initialization_timeout_s``.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from train_helpers import ROOT, subprocess_env

pytestmark = pytest.mark.slow

# Solved (validation accuracy >= 0.15) at the step-20 validation, so the job stops there
# (status solved_early); checkpoints at 10 and 20. 70 validation/test examples in batches
# of 16: the last batch holds 6 examples and 10 weight-0 fillers, 8 rows per process.
CONFIG = textwrap.dedent("""
    from lstmjax import schema

    def get_config():
        c = schema.default_config()
        c.data = dict(name="adding", length=20, num_examples=512, num_eval_examples=70)
        c.model.hidden_size = 8
        c.batch_size = 16
        c.steps = 40
        c.log_every = 5
        c.eval_every = 10
        c.eval_batches = 2
        c.checkpoint_every = 10
        c.solve_metric = "accuracy"
        c.solve_threshold = 0.15
        c.parallel = "sharding"
        c.plot = False
        c.distributed.heartbeat_timeout_s = 10
        return c
""")
HEARTBEAT_S = 10   # the bound on a survivor's exit (config.distributed.heartbeat_timeout_s)
TIMEOUT_S = 240    # per launched job: a hang fails the test instead of blocking the suite


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env_for(extra: dict) -> dict:
    env = subprocess_env(extra)
    env.pop("XLA_FLAGS", None)
    for name in ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID"):
        if name not in extra:
            env.pop(name, None)
    return env


def train_cmd(config: str, workdir: str, *overrides: str) -> list:
    return [sys.executable, "-m", "lstmjax", "train", "--config", config, "--workdir", workdir,
            "--progress=false", *overrides]


def start_job(config: str, workdir: str, *overrides: str, port: int | None = None):
    port = port or free_port()
    return [subprocess.Popen(
        train_cmd(config, workdir, *overrides), cwd=ROOT, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
        env=env_for({"JAX_COORDINATOR_ADDRESS": f"127.0.0.1:{port}", "JAX_NUM_PROCESSES": "2",
                     "JAX_PROCESS_ID": str(i)})) for i in range(2)]


def finish(procs) -> list:
    out = []
    try:
        for p in procs:
            stdout, stderr = p.communicate(timeout=TIMEOUT_S)
            out.append((p.returncode, stdout, stderr))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    return out


def done_line(stdout: str) -> str:
    lines = [line for line in stdout.splitlines() if line.startswith("done: ")]
    assert lines, stdout
    # the same numbers on every process; the wall time and workdir differ
    return lines[-1].rsplit(",", 1)[0]


def one_line_error(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    assert lines and lines[-1].startswith("error: "), stderr
    return lines[-1]


def read(workdir: str):
    with open(os.path.join(workdir, "summary.json")) as f:
        summary = json.load(f)
    with open(os.path.join(workdir, "metrics.jsonl"), "rb") as f:
        return summary, f.read()


REPORTED = ("status", "step", "final_eval", "test", "best", "test_at_best", "steps_to_solve",
            "last_validation", "final_train", "params_sha256")


@pytest.fixture(scope="module")
def jobs(tmp_path_factory):
    """A 1-process run on 2 simulated devices and the same config as a 2-process job."""
    root = tmp_path_factory.mktemp("multihost")
    config = str(root / "config.py")
    with open(config, "w") as f:
        f.write(CONFIG)
    one = str(root / "one_process")
    proc = subprocess.run(train_cmd(config, one, "--host_devices=2"), cwd=ROOT,
                          env=env_for({}), capture_output=True, text=True, timeout=TIMEOUT_S)
    assert proc.returncode == 0, proc.stderr[-3000:]
    two = str(root / "two_processes")
    results = finish(start_job(config, two))
    for code, _, err in results:
        assert code == 0, err[-3000:]
    return {"config": config, "root": root, "one": one, "two": two, "results": results,
            "one_stdout": proc.stdout}


def test_two_processes_equal_one_process_on_two_devices(jobs):
    one, one_metrics = read(jobs["one"])
    two, two_metrics = read(jobs["two"])
    assert len(one["devices"]) == len(two["devices"]) == 2
    assert two["status"] == "solved_early" and two["steps_to_solve"] == 20, two
    assert abs(two["final_eval"]["loss"] - one["final_eval"]["loss"]) < 1e-6
    assert two["params_sha256"] == one["params_sha256"]
    assert {k: two[k] for k in REPORTED} == {k: one[k] for k in REPORTED}
    assert two_metrics == one_metrics
    # whole splits: every example exactly once across the processes (fillers count nowhere)
    assert two["final_eval"]["examples"] == 70 and two["test"]["examples"] == 70
    # only process 0 writes the run directory and prints the done: line
    (_, out0, _), (_, out1, _) = jobs["results"]
    assert done_line(out0) == done_line(jobs["one_stdout"])
    assert "done: " not in out1, out1
    assert not [n for n in os.listdir(jobs["two"]) if n.endswith(".tmp")]


def test_rerun_of_a_finished_job_agrees_on_every_process(jobs):
    """Process 1 must know the history (steps_to_solve) that process 0 reads from
    metrics.jsonl: with stop_when_solved, a process that did not would train on alone."""
    before, metrics_before = read(jobs["two"])
    results = finish(start_job(jobs["config"], jobs["two"]))
    for code, _, err in results:
        assert code == 0, err[-3000:]
    after, metrics_after = read(jobs["two"])
    assert {k: after[k] for k in REPORTED} == {k: before[k] for k in REPORTED}
    assert metrics_after == metrics_before
    assert done_line(results[0][1]) == done_line(jobs["results"][0][1])
    assert "done: " not in results[1][1]


def test_killed_peer_stops_the_job_and_a_rerun_resumes_to_the_same_result(jobs):
    workdir = str(jobs["root"] / "killed")
    procs = start_job(jobs["config"], workdir)
    listing = os.path.join(workdir, "checkpoints", "10", "lstmjax_files.json")
    deadline = time.monotonic() + TIMEOUT_S
    while not os.path.exists(listing):
        assert time.monotonic() < deadline and all(p.poll() is None for p in procs), \
            [p.communicate() for p in procs if p.poll() is not None]
        time.sleep(0.02)
    procs[1].send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    while procs[0].poll() is None and time.monotonic() - killed_at < 3 * HEARTBEAT_S:
        time.sleep(0.01)
    exit_s = time.monotonic() - killed_at
    (code, _, err), (code1, _, _) = finish(procs)
    print(f"survivor exited {exit_s:.2f} s after its peer was killed")
    assert code1 == -signal.SIGKILL
    assert code == 5, err[-3000:]
    assert exit_s < HEARTBEAT_S, exit_s
    line = one_line_error(err)
    assert "process 0 of 2 lost process 1" in line and "rerun" in line, line
    assert not os.path.exists(os.path.join(workdir, "summary.json"))

    results = finish(start_job(jobs["config"], workdir))
    for code, _, err in results:
        assert code == 0, err[-3000:]
    resumed, resumed_metrics = read(workdir)
    uninterrupted, metrics = read(jobs["two"])
    assert {k: resumed[k] for k in REPORTED} == {k: uninterrupted[k] for k in REPORTED}
    assert resumed_metrics == metrics


def test_missing_process_id_is_one_line_exit_2(jobs, tmp_path):
    proc = subprocess.run(train_cmd(jobs["config"], str(tmp_path / "w")), cwd=ROOT,
                          env=env_for({"JAX_COORDINATOR_ADDRESS": "127.0.0.1:1",
                                       "JAX_NUM_PROCESSES": "2"}),
                          capture_output=True, text=True, timeout=TIMEOUT_S)
    assert proc.returncode == 2, proc.stderr
    line = one_line_error(proc.stderr)
    assert "JAX_PROCESS_ID" in line and "missing" in line, line


def test_unreachable_coordinator_is_one_line_exit_5_within_the_timeout(jobs, tmp_path):
    port = free_port()  # nothing listens there
    t0 = time.monotonic()
    proc = subprocess.run(
        train_cmd(jobs["config"], str(tmp_path / "w"),
                  "--config.distributed.initialization_timeout_s=3"), cwd=ROOT,
        env=env_for({"JAX_COORDINATOR_ADDRESS": f"127.0.0.1:{port}", "JAX_NUM_PROCESSES": "2",
                     "JAX_PROCESS_ID": "1"}),
        capture_output=True, text=True, timeout=TIMEOUT_S)
    elapsed = time.monotonic() - t0
    assert proc.returncode == 5, proc.stderr
    line = one_line_error(proc.stderr)
    assert f"process 1 of 2 could not join the job at coordinator 127.0.0.1:{port}" in line
    assert "nothing answers there" in line, line
    assert elapsed < 3 + 30, elapsed  # the timeout plus starting Python and importing jax
