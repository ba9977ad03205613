"""The probes of issue 28 (and a few more), run as a user and a cluster would, as a table.

    .venv/bin/python scripts/probes.py              # run every probe, rewrite docs/probes.md
    .venv/bin/python scripts/probes.py --fast       # only those that need no trained run
    .venv/bin/python scripts/probes.py --check      # exit 1 when docs/probes.md differs
    .venv/bin/python scripts/probes.py --only ID --update   # rewrite one probe's row

Each probe is one command line (``python -m lstmjax ...``) in a fresh temporary folder;
the table records its exit code and its last line on stderr (the one-line message; temporary
paths written as ``<tmp>``). ``tests/test_probes.py`` runs the fast probes and fails when
their rows in docs/probes.md are out of date.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from typing import Callable

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC = os.path.join(ROOT, "docs", "probes.md")
TINY = "tests/configs/tiny_adding.py"

TEXT_CONFIG = '''from lstmjax.schema import default_config


def get_config(arg=None):
    c = default_config()
    c.data = dict(name="text_file", path={path!r}, max_length=8, holdout=0.2)
    c.steps = {steps}
    c.batch_size = 4
    c.log_every = 2
    c.eval_every = 0
    c.checkpoint_every = 2
    c.plot = False
    c.model.hidden_size = 8
    c.model.embed_dim = 8
    return c
'''


@dataclasses.dataclass
class Probe:
    id: str
    what: str
    args: list[str]                # after "python -m lstmjax"; {tmp}, {run}, {text} filled in
    expect: int                    # the documented exit code
    needs_run: bool = False        # a finished text run at {run} (copied per probe)
    setup: Callable | None = None  # f(tmp, run) before the command
    special: str | None = None     # "sigterm" | "lock": more than one process


def _edit_json(name, fn):
    def setup(tmp, run):
        import json
        path = os.path.join(run, name)
        value = json.load(open(path))
        json.dump(fn(value), open(path, "w"))
    return setup


def _write_inputs(tmp, run):
    with open(os.path.join(tmp, "inputs.csv"), "w") as f:
        f.write("text,label\nword1 good,pos\nword2 bad,neg\n")


def rewrite_latest_checkpoint(workdir, change):
    """Replace the run's latest checkpoint by the same state with ``change`` applied (same
    metadata, a fresh file list): what a user's own conversion script would leave."""
    import jax
    import numpy as np
    import orbax.checkpoint as ocp

    from lstmjax import checkpoint

    ckpts = os.path.join(workdir, "checkpoints")
    step = max(int(n) for n in os.listdir(ckpts) if n.isdigit())
    with open(os.path.join(ckpts, str(step), "meta", "metadata")) as f:
        meta = json.load(f)
    with checkpoint.Checkpointer(ckpts, meta["fingerprint"],
                                 data_fingerprint=meta["data_fingerprint"]) as ck:
        state = ck.manager.restore(step, args=ocp.args.Composite(
            state=ocp.args.StandardRestore()))["state"]
    shutil.rmtree(os.path.join(ckpts, str(step)))
    with checkpoint.Checkpointer(ckpts, meta["fingerprint"],
                                 data_fingerprint=meta["data_fingerprint"]) as ck:
        ck.save(step, change(jax.tree.map(np.asarray, state)),
                checkpoint._decode_data_state(meta["data_state"], "x"), extra=meta["extra"])
    return step


def _half_first_param(tmp, run):
    """The first float32 parameter stored as float16 (a user's conversion script)."""
    import numpy as np

    def change(state):
        leaves, tree = __import__("jax").tree.flatten(state["params"])
        leaves[0] = leaves[0].astype(np.float16)
        state["params"] = tree.unflatten(leaves)
        return state
    rewrite_latest_checkpoint(run, change)


def _make_file(tmp, run):
    open(os.path.join(tmp, "file"), "w").write("not a directory\n")


def _train(*extra):
    return ["train", "--config", TINY, "--workdir", "{tmp}/w", "--progress=false", *extra]


PROBES = [
    # configs that allocate forever or crash (item 5)
    Probe("layers", "num_layers=10**6", _train("--config.model.num_layers=1000000"), 2),
    Probe("hidden", "hidden_size=10**9", _train("--config.model.hidden_size=1000000000"), 2),
    Probe("embed", "embed_dim=10**9 (text task)",
          ["train", "--config", "{text}", "--workdir", "{tmp}/w",
           "--config.model.embed_dim=1000000000"], 2),
    Probe("length", "data.length=10**9", _train("--config.data.length=1000000000"), 2),
    Probe("pad_multiple", "pad_multiple=10**9",
          _train("--config.pad_to=batch", "--config.pad_multiple=1000000000"), 2),
    Probe("host_devices", "--host_devices=-1", _train("--host_devices=-1"), 2),
    Probe("num_devices", "num_devices=5 on a 1-device host", _train("--config.num_devices=5"), 2),
    # own additions: bad values named in one line
    Probe("optimizer", "optimizer.name=bogus", _train("--config.optimizer.name=bogus"), 2),
    Probe("seed", "seed=-1", _train("--config.seed=-1"), 2),
    Probe("task", "data.name=nope", _train("--config.data.name=nope"), 2),
    Probe("schedule", "optimizer.schedule=step", _train("--config.optimizer.schedule=step"), 2),
    Probe("workdir_file", "--workdir is a file",
          ["train", "--config", TINY, "--workdir", "{tmp}/file"], 3, setup=_make_file),
    Probe("evaluate_empty", "evaluate a folder without a run",
          ["evaluate", "--workdir", "{tmp}"], 3),
    # a finished run's records and files (items 3, 4)
    Probe("log_every_0", "log_every=0 (off)", _train("--config.log_every=0"), 0),
    Probe("eval_onto_metrics", "evaluate --output RUN/metrics.jsonl",
          ["evaluate", "--workdir", "{run}", "--output", "{run}/metrics.jsonl"], 2, True),
    Probe("predict_onto_input", "predict --output equal to --input",
          ["predict", "--workdir", "{run}", "--input", "{tmp}/inputs.csv", "--output",
           "{tmp}/inputs.csv"], 2, True, _write_inputs),
    Probe("labels_longer", "labels.json edited (one label more)",
          ["evaluate", "--workdir", "{run}"], 3, True,
          _edit_json("labels.json", lambda v: v + ["extra"])),
    Probe("vocab_larger", "vocab.json edited (larger than the embedding)",
          ["evaluate", "--workdir", "{run}"], 3, True,
          _edit_json("vocab.json", lambda v: {**v, "words": v["words"] + ["w%d" % k
                                                                          for k in range(50)]})),
    Probe("task_max_length", "task.json max_length edited",
          ["evaluate", "--workdir", "{run}"], 3, True,
          _edit_json("task.json", lambda v: {**v, "max_length": v["max_length"] + 1})),
    Probe("checkpoint_float16", "a float16 checkpoint in a float32 run",
          ["evaluate", "--workdir", "{run}", "--params", "last"], 3, True, _half_first_param),
    Probe("pooling_override", "evaluate --config.model.pooling=mean on a 'last' run",
          ["evaluate", "--workdir", "{run}", "--config.model.pooling=mean"], 2, True),
    # two processes and a scheduler's signal (items 1, 2)
    Probe("second_writer", "a second train on a directory another one trains in",
          _train("--config.steps=400"), 3, special="lock"),
    Probe("sigterm", "SIGTERM mid-run, then the same command again",
          _train("--config.steps=400", "--config.checkpoint_every=100"), 143, special="sigterm"),
]


def _env():
    env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONUNBUFFERED="1")
    env.pop("XLA_FLAGS", None)
    return env


def _fill(args, tmp, run, text):
    return [a.format(tmp=tmp, run=run, text=text) for a in args]


def _last_line(stderr: str, tmp: str) -> str:
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    line = lines[-1] if lines else ""
    line = line.replace(os.path.realpath(tmp), "<tmp>").replace(tmp, "<tmp>")
    line = re.sub(r"pid \d+ on host \S+, since \S+\)", "pid <pid> on host <host>, since <time>)",
                  line)
    line = re.sub(r"interrupted at step \d+", "interrupted at step <n>", line)  # timing
    # what depends on the machine, not on lstmjax
    return re.sub(r"the [\d.]+ [KMGT]iB of host memory", "the <RAM> of host memory", line)


def _cmd(args):
    return [sys.executable, "-m", "lstmjax", *args]


def _text_setup(tmp, steps=4):
    csv = os.path.join(tmp, "texts.csv")
    with open(csv, "w") as f:
        f.write("text,label\n" + "".join(f"word{k} good,pos\nword{k} bad,neg\n"
                                          for k in range(20)))
    cfg = os.path.join(tmp, "text_config.py")
    open(cfg, "w").write(TEXT_CONFIG.format(path=csv, steps=steps))
    return cfg


def trained_run(base: str) -> str:
    """A finished text run (4 steps) to copy for each probe that reads one."""
    cfg = _text_setup(base)
    run = os.path.join(base, "run")
    r = subprocess.run(_cmd(["train", "--config", cfg, "--workdir", run, "--progress=false"]),
                       cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=600)
    if r.returncode:
        raise SystemExit(f"the probes' training run failed:\n{r.stderr[-2000:]}")
    return run


def _wait_for(path, proc, timeout=300):
    t = time.time()
    while not os.path.exists(path):
        if proc.poll() is not None or time.time() - t > timeout:
            return False
        time.sleep(0.05)
    return True


def run_probe(p: Probe, base_run: str | None) -> tuple[int, str]:
    tmp = tempfile.mkdtemp(prefix="lstmjax-probe-")
    try:
        text = _text_setup(tmp)
        run = os.path.join(tmp, "run")
        if p.needs_run:
            shutil.copytree(base_run, run)
        if p.setup:
            p.setup(tmp, run)
        args = _fill(p.args, tmp, run, text)
        if p.special is None:
            r = subprocess.run(_cmd(args), cwd=ROOT, env=_env(), capture_output=True, text=True,
                               timeout=600, stdin=subprocess.DEVNULL)
            # a run that succeeds says so on stdout; its stderr holds only progress
            if r.returncode == 0:  # the status, not the numbers (float rounding, wall time)
                return 0, _last_line(r.stdout, tmp).split(";")[0]
            return r.returncode, _last_line(r.stderr, tmp)
        first = subprocess.Popen(_cmd(args), cwd=ROOT, env=_env(), stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
        if p.special == "lock":
            _wait_for(os.path.join(tmp, "w", "metrics.jsonl"), first)
            r = subprocess.run(_cmd(args), cwd=ROOT, env=_env(), capture_output=True,
                               text=True, timeout=600, stdin=subprocess.DEVNULL)
            first.communicate(timeout=600)
            return r.returncode, _last_line(r.stderr, tmp)
        # sigterm: stop at the first record, then the same command resumes to the end
        _wait_for(os.path.join(tmp, "w", "metrics.jsonl"), first)
        first.send_signal(signal.SIGTERM)
        _, err = first.communicate(timeout=600)
        again = subprocess.run(_cmd(args), cwd=ROOT, env=_env(), capture_output=True,
                               text=True, timeout=600, stdin=subprocess.DEVNULL)
        return first.returncode, (_last_line(err, tmp) + f" — rerun: exit {again.returncode}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def table(rows) -> str:
    out = ["| probe | command (`python -m lstmjax ...`) | expected | exit | one-line message |",
           "|---|---|---|---|---|"]
    for p, (code, line) in rows:
        cmd = " ".join(p.args).replace("|", "\\|")
        msg = line.replace("|", "\\|")
        out.append(f"| `{p.id}`: {p.what} | `{cmd}` | {p.expect} | {code} | {msg} |")
    return "\n".join(out)


HEADER = """# Probes: what a user and a cluster see

Generated by `scripts/probes.py` (do not edit by hand): every probe of issue 28 (and a few
more), each one command line run in a fresh temporary folder (`{tmp}`; a copy of a
finished 4-step text run at `{run}`; `{text}` its config). The table gives the documented
exit code, the exit code seen and the last line on stderr (temporary paths as `<tmp>`).
`tests/test_probes.py` reruns the probes that need no trained run and fails when their rows
here are out of date. Regenerate with:

```bash
.venv/bin/python scripts/probes.py
```

"""


def parse_rows(doc: str) -> dict[str, tuple[int, str]]:
    rows = {}
    for line in doc.splitlines():
        m = re.match(r"\| `([^`]+)`: .*\| (-?\d+) \| (-?\d+) \| (.*) \|$", line)
        if m:
            rows[m.group(1)] = (int(m.group(3)), m.group(4).replace("\\|", "|"))
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fast", action="store_true", help="only the probes without a trained run")
    ap.add_argument("--check", action="store_true", help="compare with docs/probes.md")
    ap.add_argument("--only", nargs="*", help="probe ids")
    ap.add_argument("--update", action="store_true",
                    help="with --only: rewrite those probes' rows in docs/probes.md")
    args = ap.parse_args(argv)
    probes = [p for p in PROBES if not args.fast or (not p.needs_run and p.special is None)]
    if args.only:
        probes = [p for p in probes if p.id in args.only]
    base = tempfile.mkdtemp(prefix="lstmjax-probes-run-")
    try:
        base_run = trained_run(base) if any(p.needs_run for p in probes) else None
        rows = []
        for p in probes:
            code, line = run_probe(p, base_run)
            print(f"{p.id}: exit {code}: {line}", flush=True)
            rows.append((p, (code, line)))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    if args.update and args.only:
        lines = open(DOC).read().splitlines()
        new_rows = dict(zip([p.id for p, _ in rows], table(rows).splitlines()[2:]))
        lines = [new_rows.pop(re.match(r"\| `([^`]+)`", ln).group(1), ln)
                 if re.match(r"\| `([^`]+)`", ln) else ln for ln in lines]
        order = [p.id for p in PROBES]
        for pid, row_text in new_rows.items():  # a probe new to the table: after the row of
            ids = [m.group(1) if (m := re.match(r"\| `([^`]+)`", ln)) else None
                   for ln in lines]             # the probe before it in PROBES
            before = [q for q in order[:order.index(pid)] if q in ids]
            at = ids.index(before[-1]) + 1 if before else max(
                i for i, q in enumerate(ids) if q is not None) + 1
            lines.insert(at, row_text)
        open(DOC, "w").write("\n".join(lines) + "\n")
        print(f"rewrote the rows of {args.only} in {DOC}")
        return 0
    if args.check or args.fast or args.only:
        doc = parse_rows(open(DOC).read()) if os.path.exists(DOC) else {}
        stale = [p.id for p, got in rows if doc.get(p.id) != got]
        if stale:
            print(f"docs/probes.md is out of date for {stale}; run scripts/probes.py")
            return 1
        return 0
    with open(DOC, "w") as f:
        f.write(HEADER + table(rows) + "\n")
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
