"""The adding problem (Hochreiter & Schmidhuber 1997, experiment 4) and its simplified form.

``variant="original"`` (the 1997 paper): each step is a pair (value, marker); values are
uniform in [-1, 1]. One of the first 10 pairs is marked (X1) and one of the first
``T/2 - 1`` still-unmarked pairs (X2); markers are 1.0 there, -1.0 on the first and the last
pair (when unmarked), 0.0 elsewhere; if the first pair is the marked one, X1 is set to 0.
Length is uniform in ``[T, T + T/10]``; target ``0.5 + (X1 + X2) / 4`` in [0, 1]; correct
when ``|error| < 0.04``.

``variant="simplified"`` (Le et al. 2015, Arjovsky et al. 2016): values uniform in [0, 1],
one marker in the first half and one in the second, fixed length T, target ``X1 + X2``.

x: float32 ``[T, 2]``; y: float32 scalar, read at the last step.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from lstmjax.tasks.spec import TaskSpec, example_rng

VARIANTS = ("original", "simplified")
TOLERANCE = 0.04


@dataclasses.dataclass(frozen=True)
class AddingConfig:
    length: int = 100
    variant: str = "original"

    def __post_init__(self):
        if self.variant not in VARIANTS:
            raise ValueError(f"adding: variant={self.variant!r}; accepted: {VARIANTS}")
        if int(self.length) < 20:
            # the original needs a marked pair in the first 10 and one in the first T/2 - 1
            raise ValueError(f"adding: length={self.length!r}; must be >= 20")


def spec(cfg: AddingConfig) -> TaskSpec:
    t = cfg.length
    if cfg.variant == "original":
        # X1, X2 ~ U[-1, 1] (variance 1/3 each), target = 0.5 + (X1 + X2)/4:
        # predicting the mean 0.5 costs MSE 2/3/16 = 1/24.
        return TaskSpec("adding", "features", "regress", max_length=t + t // 10, input_dim=2,
                        tolerance=TOLERANCE, baseline_loss=1 / 24,
                        description=f"adding problem (1997), T in [{t}, {t + t // 10}]")
    # X1 + X2 with X ~ U[0, 1]: variance 2/12 = 1/6.
    return TaskSpec("adding", "features", "regress", max_length=t, input_dim=2,
                    tolerance=TOLERANCE, baseline_loss=1 / 6,
                    description=f"adding problem (simplified), T={t}")


def length(cfg: AddingConfig, seed: int, index: int) -> int:
    """T of example ``index`` without building it (drawn first from the same stream)."""
    if cfg.variant == "simplified":
        return cfg.length
    return int(example_rng(seed, index).integers(cfg.length, cfg.length + cfg.length // 10 + 1))


def example(cfg: AddingConfig, seed: int, index: int) -> dict:
    rng = example_rng(seed, index)
    t = cfg.length
    if cfg.variant == "simplified":
        values = rng.uniform(0.0, 1.0, t)
        i1 = rng.integers(0, t // 2)
        i2 = rng.integers(t // 2, t)
        markers = np.zeros(t)
        markers[[i1, i2]] = 1.0
        y = values[i1] + values[i2]
    else:
        n = int(rng.integers(t, t + t // 10 + 1))  # must stay the first draw: see length()
        values = rng.uniform(-1.0, 1.0, n)
        markers = np.zeros(n)
        markers[0] = markers[-1] = -1.0
        i1 = int(rng.integers(0, 10))
        # one of the first T/2 - 1 pairs that is still unmarked: draw from T/2 - 2 slots
        i2 = int(rng.integers(0, t // 2 - 2))
        i2 += i2 >= i1
        markers[[i1, i2]] = 1.0
        if i1 == 0:
            values[0] = 0.0  # the paper sets X1 to zero then; zero the input too so x implies y
        y = 0.5 + (values[i1] + values[i2]) / 4.0
    x = np.stack([values, markers], axis=-1).astype(np.float32)
    return {"x": x, "y": np.float32(y)}
