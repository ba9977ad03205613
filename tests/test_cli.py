"""experiments.train end to end: bad configs, SIGKILL and Ctrl-C mid-run, exact resume."""

import os
import signal
import time

import pytest

from lstmjax import runs, train

from train_helpers import CLI_OVERRIDES, cli, cli_as_dict

CONFIG = "experiments/configs/adding.py"


@pytest.mark.parametrize("override,expected", [
    ("--config.model.cell=lstmx", "config.model: LSTMConfig.cell='lstmx' is not accepted"),
    ("--config.model.widht=3", "--config.model.widht=3"),
])
def test_invalid_config_exits_before_compiling(tmp_path, override, expected):
    t = time.time()
    proc = cli(["--config", CONFIG, "--workdir", str(tmp_path / "w"), override])
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, err
    assert expected in err
    assert "Traceback" not in err
    assert not (tmp_path / "w" / "checkpoints").exists()
    assert time.time() - t < 60


def _wait_for_step(workdir, step, proc, timeout=300):
    """Poll metrics.jsonl until a logged step >= ``step`` (the process is still running)."""
    path = os.path.join(workdir, "metrics.jsonl")
    deadline = time.time() + timeout
    while time.time() < deadline:
        records = runs.read_jsonl(path)
        if records and records[-1]["step"] >= step:
            return records[-1]["step"]
        if proc.poll() is not None:
            raise AssertionError(f"training ended before step {step}: {proc.communicate()[1][-2000:]}")
        time.sleep(0.01)
    raise AssertionError(f"no step {step} within {timeout} s")


@pytest.mark.slow
def test_sigkill_and_ctrl_c_then_resume_equal_uninterrupted_run(tmp_path):
    steps = 400
    workdir = str(tmp_path / "run")
    args = ["--config", CONFIG, "--workdir", workdir, f"--config.steps={steps}", *CLI_OVERRIDES]

    # 1. SIGKILL mid-run (after at least one checkpoint, every 40 steps)
    proc = cli(args)
    _wait_for_step(workdir, 90, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    logged = runs.read_jsonl(os.path.join(workdir, "metrics.jsonl"))[-1]["step"]
    assert logged < steps, "the run finished before it was killed; the test needs a slower run"

    # 2. restart: resumes from the latest checkpoint; Ctrl-C mid-run saves and exits 130
    proc = cli(args)
    _wait_for_step(workdir, 250, proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "interrupted at step" in err and "Traceback" not in err
    assert "step/s" in err and "loss=" in err  # the tqdm bar: rate, loss (and ETA)
    interrupted = runs.read_json(os.path.join(workdir, "summary.json"))
    assert interrupted["status"] == "interrupted" and interrupted["step"] < steps
    ckpts = sorted(int(d) for d in os.listdir(os.path.join(workdir, "checkpoints")) if d.isdigit())
    assert interrupted["step"] in ckpts  # saved at the interrupted step, off the 40-step grid or on it

    # 3. restart again: runs to the end
    proc = cli(args + ["--progress=false"])
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    assert "done: step 400" in out
    summary = runs.read_json(os.path.join(workdir, "summary.json"))

    # the uninterrupted run of the same config, in this process
    reference = train.run(cli_as_dict(steps), str(tmp_path / "ref"), progress=False)
    assert summary["params_sha256"] == reference["params_sha256"]
    with open(os.path.join(workdir, "metrics.jsonl"), "rb") as a, \
            open(str(tmp_path / "ref" / "metrics.jsonl"), "rb") as b:
        assert a.read() == b.read()
    assert os.path.exists(os.path.join(workdir, "learning_curve.png")) is False  # plot=False
