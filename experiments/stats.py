"""The statistics every report uses, in one place: spreads over seeds and steps-to-solve.

* :func:`summarize` / :func:`fmt`: mean, **sample** standard deviation (ddof = 1: the
  seeds are a sample of the seeds one could have run, not the population), a 95%
  percentile-bootstrap interval of the mean (seeded, so a report regenerates to the same
  characters) and N. One value has no spread: it prints as ``x (n=1)``, never ``± 0.0``.
* :func:`kaplan_meier`: steps to solve as a survival curve. A run that did not solve is
  *censored* at the step it stopped (its budget): it says "not solved by step s", not
  "solved at step s", so averaging the solved runs alone (or counting unsolved ones at the
  budget) biases the estimate; the Kaplan-Meier product-limit estimator does not.

Pure functions of their inputs (no global RNG); every interval is computed here, never
typed into a report.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Iterable, Sequence

import numpy as np

LEVEL = 0.95          # the intervals' coverage
RESAMPLES = 10_000    # bootstrap resamples: the interval's ends move < 0.1 points between seeds
SEED = 0              # the bootstrap's seed (reports regenerate to the same characters)
SPREAD = ("mean ± sample sd (ddof = 1) [95% percentile-bootstrap interval of the mean, "
          f"{RESAMPLES:,} resamples, seed {SEED}] (n = values); with n = 1 no spread is shown")


@dataclasses.dataclass(frozen=True)
class Summary:
    """Mean, sample std (nan for n < 2), bootstrap interval (nan for n < 2) and n."""

    mean: float
    std: float
    lo: float
    hi: float
    n: int


def _values(values: Iterable[float | None]) -> np.ndarray:
    """The non-None values as float64 ``[n]``; ValueError on a non-finite one (a NaN
    accuracy is a bug upstream, not a number to average)."""
    vals = np.asarray([float(v) for v in values if v is not None], np.float64)
    if not np.all(np.isfinite(vals)):
        raise ValueError(f"values: non-finite entries in {vals.tolist()}")
    return vals


def sample_std(values: Iterable[float | None]) -> float:
    """Sample standard deviation (ddof = 1) of the non-None values; nan for fewer than 2."""
    vals = _values(values)
    return float(np.std(vals, ddof=1)) if vals.size >= 2 else math.nan


def bootstrap_ci(values: Iterable[float | None], *, level: float = LEVEL,
                 resamples: int = RESAMPLES, seed: int = SEED) -> tuple[float, float]:
    """Percentile-bootstrap interval of the mean: ``resamples`` means of n values drawn with
    replacement (``np.random.default_rng(seed)``), cut at (1 - level)/2 and (1 + level)/2.

    (nan, nan) for fewer than 2 values. With 3 seeds there are only 10 distinct resampled
    means, so the interval is coarse and too narrow (read it with N beside it).
    """
    if not 0 < level < 1:
        raise ValueError(f"level: expected 0 < level < 1, got {level!r}")
    if resamples < 1:
        raise ValueError(f"resamples: expected >= 1, got {resamples!r}")
    vals = _values(values)
    if vals.size < 2:
        return math.nan, math.nan
    idx = np.random.default_rng(seed).integers(0, vals.size, size=(resamples, vals.size))
    means = vals[idx].mean(axis=1)                                   # [resamples]
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def summarize(values: Iterable[float | None]) -> Summary:
    """:class:`Summary` of the non-None values (all nan and n = 0 when there are none)."""
    vals = _values(values)
    if vals.size == 0:
        return Summary(math.nan, math.nan, math.nan, math.nan, 0)
    lo, hi = bootstrap_ci(vals)
    return Summary(float(vals.mean()), sample_std(vals), lo, hi, int(vals.size))


def fmt(values: Iterable[float | None], scale: float = 1.0, digits: int = 1,
        empty: str = "–", unit: str = "") -> str:
    """``"mean ± sd<unit> [lo, hi] (n=k)"`` (sd: ddof = 1; [lo, hi]: 95% bootstrap
    interval of the mean), ``"x<unit> (n=1)"`` for one value, ``empty`` for none; values
    times ``scale``."""
    s = summarize(values)
    if s.n == 0:
        return empty
    if s.n == 1:
        return f"{s.mean * scale:.{digits}f}{unit} (n=1)"
    return (f"{s.mean * scale:.{digits}f} ± {s.std * scale:.{digits}f}{unit} "
            f"[{s.lo * scale:.{digits}f}, {s.hi * scale:.{digits}f}] (n={s.n})")


# --------------------------------------------------------------------------- survival


def kaplan_meier(times: Sequence[float], events: Sequence[bool]) -> tuple[np.ndarray, np.ndarray]:
    """Kaplan-Meier estimate of P(not solved by step t).

    Args:
      times: ``[n]`` per run, the step it solved at (``events[k]`` true) or the step it
        stopped at unsolved (censored: its budget).
      events: ``[n]`` whether run k solved.

    Returns:
      ``(steps [m + 1], survival [m + 1])``: a right-continuous step function starting at
      (0, 1); ``steps[j]`` (j >= 1) is the j-th distinct solve step and ``survival[j]`` the
      estimate from that step on: ``prod over solve steps s <= t of (1 - d_s / n_s)`` with
      d_s runs solving at s and n_s runs still at risk (neither solved nor censored before
      s; a run censored at s counts as at risk at s, the usual convention).
    """
    t = np.asarray(times, np.float64)
    e = np.asarray(events, bool)
    if t.shape != e.shape or t.ndim != 1:
        raise ValueError(f"times/events: expected two [n] arrays, got {t.shape} and {e.shape}")
    if t.size and (not np.all(np.isfinite(t)) or t.min() < 0):
        raise ValueError(f"times: expected finite steps >= 0, got {t.tolist()}")
    steps, surv, s = [0.0], [1.0], 1.0
    for step in np.unique(t[e]):
        at_risk = int(np.sum(t >= step))
        solved = int(np.sum((t == step) & e))
        s *= 1.0 - solved / at_risk
        steps.append(float(step))
        surv.append(s)
    return np.asarray(steps), np.asarray(surv)


def km_median(times: Sequence[float], events: Sequence[bool]) -> float | None:
    """The Kaplan-Meier median steps to solve: the first solve step where the estimate
    of P(not solved) falls to 0.5 or below; None when it never does within the budgets
    (fewer than half the runs solved: the median is "> budget")."""
    steps, surv = kaplan_meier(times, events)
    below = np.nonzero(surv <= 0.5)[0]
    return float(steps[below[0]]) if below.size else None
