"""Ctrl-C stops a parallel sweep: the runs in flight end, the queued ones never start.

A real SIGINT goes to the whole process group of a sweep (``run_plan`` with 2 worker
processes over 6 runs), as a terminal's Ctrl-C does. Before the fix the pool's shutdown
started every queued run after the interrupt.
"""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from train_helpers import ROOT, subprocess_env

WORKER = '''
import os, time

def execute_one(run):
    open(os.path.join(os.environ["MARKS"], run.name), "w").close()  # this run started
    time.sleep(3)
    return {"run": run.name}
'''

MAIN = '''
import json, os, sys
sys.path.insert(0, os.environ["HELPERS"])
from experiments import sweep
import slow_worker

plan = [sweep.Run(f"r{k}", {}, {}) for k in range(6)]
saved = []
try:
    sweep.run_plan(plan, slow_worker.execute_one, done={}, jobs=2,
                   save=lambda recs: saved.append([r["run"] for r in recs]))
except KeyboardInterrupt:
    print("interrupted", json.dumps(saved[-1] if saved else []))
    sys.exit(130)
print("finished")
'''


@pytest.mark.slow
def test_ctrl_c_to_the_process_group_starts_no_queued_run(tmp_path):
    helpers, marks = tmp_path / "helpers", tmp_path / "marks"
    helpers.mkdir()
    marks.mkdir()
    (helpers / "slow_worker.py").write_text(textwrap.dedent(WORKER))
    env = {**subprocess_env(), "MARKS": str(marks), "HELPERS": str(helpers)}
    # SIGINT as a terminal leaves it: pytest-xdist workers ignore SIGINT, and an ignored
    # signal stays ignored across exec (Python then installs no KeyboardInterrupt handler)
    proc = subprocess.Popen([sys.executable, "-c", MAIN], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while len(os.listdir(marks)) < 2 and time.time() < deadline:  # both workers busy
        time.sleep(0.1)
    assert len(os.listdir(marks)) == 2, "the two workers never started"
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, (out, err[-2000:])
    assert "interrupted" in out
    time.sleep(4)  # a queued run that (wrongly) started now would have left its mark
    assert sorted(os.listdir(marks)) == ["r0", "r1"], (out, err[-3000:])
