"""The loop's bookkeeping as documented (docs/training.md), on plain values: which periodic
validation is the best one, and when patience runs out."""

import math

from lstmjax import train


def test_an_exact_tie_keeps_the_earlier_best():
    """Same selection value and same loss: nothing is better, the earlier checkpoint stays
    (a later one must not replace it on noise-free ties)."""
    best = {"step": 10, "value": 0.9, "loss": 0.3}
    assert not train._better(0.9, 0.3, best, higher=True)
    assert not train._better(0.3, 0.3, {"step": 4, "value": 0.3, "loss": 0.3}, higher=False)
    assert train._better(0.3, 0.3, {"step": 4, "value": 0.31, "loss": 0.3}, higher=False)
    assert train._better(0.5, math.inf, None, higher=True)


def _history(values):
    return [{"split": "validation", "step": 10 * (k + 1), "accuracy": v}
            for k, v in enumerate(values)]


def test_patience_counts_validations_after_the_best():
    prog = train._Progress(history=_history([0.5, 0.7, 0.6, 0.65]),
                           best={"step": 20, "metric": "accuracy", "value": 0.7})
    assert not train._out_of_patience({"patience": 3}, prog)
    assert train._out_of_patience({"patience": 2}, prog)
    assert not train._out_of_patience({"patience": 0}, prog)  # 0 = off
    prog.best = None
    assert not train._out_of_patience({"patience": 1}, prog)


def test_a_run_out_of_patience_resumes_as_stopped(tmp_path):
    """The same command again on a run that stopped for patience: it resumes stopped (no
    further step, the same status and validations); the patience count is derived from the
    history, so a resumed run counts as the uninterrupted one did."""
    from train_helpers import tiny
    workdir = str(tmp_path / "run")
    cfg = tiny(steps=400, eval_every=2, eval_batches=0, checkpoint_every=50, patience=2,
               data={"num_examples": 128}, optimizer={"learning_rate": 0.05})
    first = train.run(cfg, workdir, progress=False)
    assert first["status"] == "stopped_early" and first["step"] < 400
    again = train.run(cfg, workdir, progress=False)
    assert again["status"] == "stopped_early" and again["step"] == first["step"]

    def vals(s):
        return [r for r in s["history"] if r["split"] == "validation"]
    assert vals(again) == vals(first)


def test_logged_train_metrics_are_means_over_the_window(tmp_path):
    """A train record every ``log_every`` steps holds the mean over those steps of each
    step's metrics (the per-step values read from the same run logged every step);
    timing.jsonl's ``steps_per_s`` is the window's steps over its seconds (the difference
    of consecutive ``elapsed_s``), however short the window."""
    import json

    import numpy as np
    from train_helpers import tiny

    def train_records(log_every, workdir=None):
        s = train.run(tiny(steps=6, log_every=log_every, eval_every=0), workdir,
                      progress=False)
        return [r for r in s["history"] if r["split"] == "train"]

    each, windows = train_records(1), train_records(3, str(tmp_path / "w"))
    assert [r["step"] for r in windows] == [3, 6]
    for r in windows:
        steps = [e for e in each if r["step"] - 3 < e["step"] <= r["step"]]
        for k in ("loss", "grad_norm"):
            np.testing.assert_allclose(r[k], np.mean([e[k] for e in steps]), rtol=1e-9,
                                       err_msg=f"{k} at step {r['step']}")
    timing = [json.loads(ln) for ln in open(tmp_path / "w" / "timing.jsonl")]
    assert [t["step"] for t in timing] == [3, 6]
    seconds = timing[1]["elapsed_s"] - timing[0]["elapsed_s"]
    np.testing.assert_allclose(timing[1]["steps_per_s"], 3 / seconds, rtol=1e-6)


def test_solve_is_logged_at_the_first_validation_over_the_threshold():
    """steps_to_solve: the first periodic validation with solve_metric >= solve_threshold;
    with stop_when_solved the run stops there ("solved_early"), without it runs on."""
    from train_helpers import tiny
    for stop in (True, False):
        s = train.run(tiny(steps=10, eval_every=5, solve_metric="loss", solve_threshold=1e-9,
                           stop_when_solved=stop), None, progress=False)
        first = next(r["step"] for r in s["history"]
                     if r["split"] == "validation" and r["loss"] >= 1e-9)
        assert first == 5 and s["steps_to_solve"] == first and s["solved"]
        assert (s["status"], s["step"]) == (("solved_early", 5) if stop else ("completed", 10))
