"""What clusters do to a run: stop signals, saves cut short, and the rerun that follows.

* SIGTERM / SIGUSR1 / SIGINT to a real ``python -m lstmjax train``: a checkpoint at the
  next step boundary, exit 128 + signal, and a rerun that ends bitwise equal to an
  uninterrupted run (parameters and metrics.jsonl);
* a save cut short (orbax's temporary folder, a step without its completion marker or
  without an item, a deleted step folder, a full disk): set aside into
  ``<workdir>/incomplete/`` with one line, never counted; the rerun resumes from the last
  complete checkpoint and equals the uninterrupted run;
* a second signal: waits for a save in progress, else stops at once (one line).
"""

import errno
import os
import shutil
import signal
import subprocess
import sys

import pytest

from lstmjax import checkpoint, cli, runs, train

from train_helpers import CLI_OVERRIDES, ROOT, cli_as_dict, subprocess_env, tiny

CONFIG = "experiments/configs/adding.py"


def _lstmjax(args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "lstmjax", "train", *args], cwd=ROOT,
                            env=subprocess_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _signal_at_step(proc, workdir, step, signum, timeout=300):
    """Send ``signum`` once metrics.jsonl logs a step >= ``step``; (returncode, stderr)."""
    import time
    path = os.path.join(workdir, runs.METRICS)
    deadline = time.time() + timeout
    while time.time() < deadline:
        records = runs.read_jsonl(path)
        if records and records[-1]["step"] >= step:
            break
        if proc.poll() is not None:
            raise AssertionError(f"training ended before step {step}: "
                                 f"{proc.communicate()[1][-2000:]}")
        time.sleep(0.01)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    return proc.returncode, err


@pytest.mark.slow
def test_sigterm_and_sigusr1_save_and_rerun_equals_uninterrupted(tmp_path):
    steps = 1000
    workdir = str(tmp_path / "run")
    args = ["--config", CONFIG, "--workdir", workdir, f"--config.steps={steps}",
            "--progress=false", *CLI_OVERRIDES]
    stopped = []
    for signum, at in ((signal.SIGTERM, 100), (signal.SIGUSR1, 300)):
        code, err = _signal_at_step(_lstmjax(args), workdir, at, signum)
        assert code == 128 + signum, err[-2000:]
        name = signal.Signals(signum).name
        lines = [line for line in err.splitlines() if line.strip()]
        assert lines == [line for line in lines if "interrupted at step" in line], err[-2000:]
        assert f"({name})" in lines[0]
        summary = runs.read_json(os.path.join(workdir, runs.SUMMARY))
        assert summary["status"] == "interrupted" and at <= summary["step"] < steps
        # the checkpoint is at the step where the signal was seen (off the 40-step grid)
        assert os.path.isfile(os.path.join(workdir, "checkpoints", str(summary["step"]),
                                           checkpoint.COMMITTED))
        stopped.append(summary["step"])
    assert stopped[1] > stopped[0]
    proc = _lstmjax(args)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    assert f"done: step {steps}" in out
    summary = runs.read_json(os.path.join(workdir, runs.SUMMARY))
    reference = train.run(cli_as_dict(steps), str(tmp_path / "ref"), progress=False)
    assert summary["params_sha256"] == reference["params_sha256"]
    with open(os.path.join(workdir, runs.METRICS), "rb") as a, \
            open(str(tmp_path / "ref" / runs.METRICS), "rb") as b:
        assert a.read() == b.read()
    assert not os.path.exists(os.path.join(workdir, train.INCOMPLETE))


# --------------------------------------------------------------------------- saves cut short

STEPS = 30
CFG = dict(eval_every=5)  # validations (and best/ saves) between the checkpoints


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run: (summary, its workdir)."""
    workdir = str(tmp_path_factory.mktemp("ref") / "run")
    return train.run(tiny(steps=STEPS, **CFG), workdir, progress=False), workdir


def _cut_tmp_folder(step_dir):
    """orbax's own leftover: the save never reached its rename."""
    os.rename(step_dir, step_dir + checkpoint.TMP_MARKER)


def _cut_marker(step_dir):
    os.remove(os.path.join(step_dir, checkpoint.COMMITTED))
    os.remove(os.path.join(step_dir, checkpoint.FILES))


def _cut_item(step_dir):
    shutil.rmtree(os.path.join(step_dir, "state"))


def _delete(step_dir):
    shutil.rmtree(step_dir)


@pytest.mark.parametrize("cut", [_cut_tmp_folder, _cut_marker, _cut_item, _delete])
def test_a_save_cut_short_is_set_aside_and_the_rerun_resumes(tmp_path, reference, cut, capsys):
    workdir = str(tmp_path / "run")
    train.run(tiny(steps=20, **CFG), workdir, progress=False)
    ckdir = os.path.join(workdir, "checkpoints")
    cut(os.path.join(ckdir, "20"))
    # best/ may hold a step past checkpoint 10 (validation runs before the save): the
    # resumed run writes it again, so it must not be in the way ("already exists")
    os.makedirs(os.path.join(workdir, train.BEST), exist_ok=True)
    if not checkpoint.steps_after(os.path.join(workdir, train.BEST), 10):
        shutil.copytree(os.path.join(ckdir, "10"), os.path.join(workdir, train.BEST, "15"))
    capsys.readouterr()
    summary = train.run(tiny(steps=STEPS, **CFG), workdir, progress=False)
    out = capsys.readouterr().out
    ref, ref_dir = reference
    assert summary["params_sha256"] == ref["params_sha256"]
    assert summary["test_at_best"] == ref["test_at_best"]
    with open(os.path.join(workdir, runs.METRICS), "rb") as a, \
            open(os.path.join(ref_dir, runs.METRICS), "rb") as b:
        assert a.read() == b.read()
    notes = [line for line in out.splitlines() if line.startswith("note: set aside")]
    aside = os.path.join(workdir, train.INCOMPLETE)
    assert os.path.isdir(os.path.join(aside, train.BEST))  # the best/ step past 10
    if cut is not _delete:
        assert len(notes) == 2, out  # the cut save, then the best/ step past checkpoint 10
        assert os.listdir(os.path.join(aside, "checkpoints")) == [
            "20" + checkpoint.TMP_MARKER if cut is _cut_tmp_folder else "20"]
    assert checkpoint.incomplete_entries(ckdir) == []


def test_full_disk_during_a_save_then_rerun_resumes(tmp_path, reference, monkeypatch):
    """ENOSPC in the middle of a save: the run fails (exit 3 on the command line), leaving
    what orbax left; after space is freed the rerun resumes from the last complete one."""
    workdir = str(tmp_path / "run")
    real_save = checkpoint.Checkpointer.save

    def full_disk(self, step, *a, **k):
        if step == 20 and self.directory.endswith("checkpoints"):
            real_save(self, step, *a, **k)  # what orbax wrote before the disk filled up
            _cut_tmp_folder(os.path.join(self.directory, str(step)))
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(self, step, *a, **k)

    monkeypatch.setattr(checkpoint.Checkpointer, "save", full_disk)
    with pytest.raises(OSError) as e:
        train.run(tiny(steps=STEPS, **CFG), workdir, progress=False)
    assert cli.exit_code(e.value) == 3
    monkeypatch.setattr(checkpoint.Checkpointer, "save", real_save)
    summary = train.run(tiny(steps=STEPS, **CFG), workdir, progress=False)
    assert summary["params_sha256"] == reference[0]["params_sha256"]
    assert os.listdir(os.path.join(workdir, train.INCOMPLETE, "checkpoints")) == [
        "20" + checkpoint.TMP_MARKER]


# --------------------------------------------------------------------------- a second signal


def test_second_signal_waits_for_a_save_and_stops_at_once_elsewhere():
    with train._Interrupt(True) as interrupt:
        os.kill(os.getpid(), signal.SIGTERM)
        assert interrupt.signum == signal.SIGTERM
        with interrupt.protect():  # a save in progress: the second signal waits
            os.kill(os.getpid(), signal.SIGINT)
        assert interrupt.signum == signal.SIGTERM
        with pytest.raises(train.Interrupted) as e:
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(1000):  # the handler runs between bytecodes
                pass
    assert cli.exit_code(e.value) == 130 and "stopped at once without saving" in str(e.value)
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handlers put back


def test_exit_codes_are_documented():
    for code in (130, 138, 143):
        assert code in cli.EXIT_CODES


def test_cluster_doc_slurm_script_requeues_on_the_signal_exit_codes():
    with open(os.path.join(ROOT, "docs", "cluster.md")) as f:
        text = f.read()
    section = text.split("## Preemption and requeue", 1)[1].split("\n## ", 1)[0]
    script = section.split("```bash", 1)[1].split("```", 1)[0]
    assert "#SBATCH --signal=USR1@" in script and "#SBATCH --requeue" in script
    assert "scontrol requeue" in script
    for signum in (signal.SIGUSR1, signal.SIGTERM):
        assert f'"$rc" -eq {128 + signum}' in script and 128 + signum in cli.EXIT_CODES


@pytest.mark.slow
def test_sigkill_at_random_moments_with_a_save_every_step_then_double_ctrl_c(tmp_path):
    """A save every step, so the kills land in saves as often as not; then two Ctrl-C in a
    row. Each rerun resumes; the last equals the uninterrupted run bitwise."""
    import random
    import time
    steps = 200
    workdir = str(tmp_path / "run")
    args = ["--config", CONFIG, "--workdir", workdir, f"--config.steps={steps}",
            "--progress=false", *CLI_OVERRIDES, "--config.checkpoint_every=1",
            "--config.keep_checkpoints=2"]
    rng = random.Random(0)
    for at in (20, 50, 80):
        proc = _lstmjax(args)
        path = os.path.join(workdir, runs.METRICS)
        while not (runs.read_jsonl(path) and runs.read_jsonl(path)[-1]["step"] >= at):
            assert proc.poll() is None, proc.communicate()[1][-2000:]
            time.sleep(0.01)
        time.sleep(rng.uniform(0, 0.05))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    proc = _lstmjax(args)
    path = os.path.join(workdir, runs.METRICS)
    while not (runs.read_jsonl(path) and runs.read_jsonl(path)[-1]["step"] >= 110):
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.002)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("note:")]
    assert len(lines) == 1 and "Traceback" not in err, err  # one line, whichever way it went
    assert checkpoint.incomplete_entries(os.path.join(workdir, "checkpoints")) == []
    proc = _lstmjax(args)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    summary = runs.read_json(os.path.join(workdir, runs.SUMMARY))
    cfg = cli_as_dict(steps)
    cfg.update(checkpoint_every=1, keep_checkpoints=2)
    reference = train.run(cfg, str(tmp_path / "ref"), progress=False)
    assert summary["params_sha256"] == reference["params_sha256"]
    with open(os.path.join(workdir, runs.METRICS), "rb") as a, \
            open(str(tmp_path / "ref" / runs.METRICS), "rb") as b:
        assert a.read() == b.read()
