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
