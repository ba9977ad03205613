"""The ablation vocabulary: which LSTM gates exist and how they are computed.

A :class:`GateConfig` is a frozen, hashable value, so it is static under ``jit``
and one cell function serves every variant (no copy of the cell per ablation).
The switches follow Greff et al. 2017, "LSTM: A Search Space Odyssey":

==========  ===========================================================
preset      meaning
==========  ===========================================================
standard    i, f, o gates, tanh activations, no peepholes: the LSTM of
            PyTorch ``nn.LSTM``, Keras ``LSTM`` and Flax ``LSTMCell``
            (the default).
vanilla     Greff's vanilla LSTM: ``standard`` plus peepholes.
nig         no input gate (i = 1).
nfg         no forget gate (f = 1).
nog         no output gate (o = 1).
niaf        no input activation: the candidate C~ is linear, not tanh.
noaf        no output activation: h = o * C, not o * tanh(C).
np          no peepholes (equal to ``standard``; named as in Greff).
cifg        coupled input and forget gate: f = 1 - i.
fgr         full gate recurrence: every gate also sees the previous
            step's activations of all gates.
lstm1997    Hochreiter & Schmidhuber 1997: no forget gate (= nfg
            without peepholes, as in the original paper).
==========  ===========================================================

Greff's ablations are single changes to *vanilla* (which has peepholes), so
``nig``, ``nfg``, ``nog``, ``niaf``, ``noaf``, ``cifg`` and ``fgr`` keep peepholes.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

Activation = Literal["tanh", "identity"]
_ACTIVATIONS = ("tanh", "identity")


@dataclasses.dataclass(frozen=True)
class GateConfig:
    """Which gates an LSTM cell has and how they are computed.

    Attributes:
      input_gate: compute i_t = σ(W_i·[h_{t-1}, x_t] + b_i); if False, i_t = 1 (NIG).
      forget_gate: compute f_t = σ(W_f·[h_{t-1}, x_t] + b_f); if False, f_t = 1 (NFG).
      output_gate: compute o_t = σ(W_o·[h_{t-1}, x_t] + b_o); if False, o_t = 1 (NOG).
      input_activation: activation of the candidate C~_t, "tanh" or "identity" (NIAF).
      output_activation: activation applied to C_t before the output gate (NOAF).
      peepholes: gates also see the cell state (i, f: C_{t-1}; o: C_t), diagonal weights.
      coupled: f_t = 1 - i_t (CIFG); the forget gate then has no weights of its own, and
        the cell's forget bias b_f is applied as b_i = -b_f, so that f = σ(b_f) at init.
      full_recurrence: every gate also sees all gates' activations of step t-1 (FGR).
    """

    input_gate: bool = True
    forget_gate: bool = True
    output_gate: bool = True
    input_activation: Activation = "tanh"
    output_activation: Activation = "tanh"
    peepholes: bool = False
    coupled: bool = False
    full_recurrence: bool = False

    def __post_init__(self):
        for name in ("input_activation", "output_activation"):
            value = getattr(self, name)
            if value not in _ACTIVATIONS:
                raise ValueError(
                    f"GateConfig.{name}={value!r} is not accepted; use one of {_ACTIVATIONS}"
                )
        for name in ("input_gate", "forget_gate", "output_gate", "peepholes", "coupled",
                     "full_recurrence"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"GateConfig.{name} must be a bool, got {getattr(self, name)!r}")
        if self.coupled and not self.input_gate:
            raise ValueError("GateConfig.coupled=True (CIFG, f = 1 - i) needs input_gate=True")
        if self.coupled and not self.forget_gate:
            raise ValueError(
                "GateConfig.coupled=True replaces the forget gate by 1 - i; "
                "leave forget_gate=True (it has no weights of its own under coupling)"
            )

    @property
    def sigmoid_gates(self) -> tuple[str, ...]:
        """Names of the gates that have weights, in canonical order ("i", "f", "o")."""
        names = []
        if self.input_gate:
            names.append("i")
        if self.forget_gate and not self.coupled:
            names.append("f")
        if self.output_gate:
            names.append("o")
        return tuple(names)

    @property
    def blocks(self) -> tuple[str, ...]:
        """Names of the blocks of the fused pre-activation, in order (i, f, g, o).

        "g" is the candidate C~_t. Absent gates have no block, so an ablated
        variant also has fewer parameters, as in Greff et al.
        """
        order = ("i", "f", "g", "o")
        present = set(self.sigmoid_gates) | {"g"}
        return tuple(name for name in order if name in present)

    @property
    def peephole_gates(self) -> tuple[str, ...]:
        return self.sigmoid_gates if self.peepholes else ()


PRESETS: dict[str, GateConfig] = {
    "standard": GateConfig(),
    "vanilla": GateConfig(peepholes=True),
    "nig": GateConfig(peepholes=True, input_gate=False),
    "nfg": GateConfig(peepholes=True, forget_gate=False),
    "nog": GateConfig(peepholes=True, output_gate=False),
    "niaf": GateConfig(peepholes=True, input_activation="identity"),
    "noaf": GateConfig(peepholes=True, output_activation="identity"),
    "np": GateConfig(peepholes=False),
    "cifg": GateConfig(peepholes=True, coupled=True),
    "fgr": GateConfig(peepholes=True, full_recurrence=True),
    "lstm1997": GateConfig(forget_gate=False),
}


def get_gates(gates: str | GateConfig) -> GateConfig:
    """Resolve a preset name (case-insensitive) or pass a GateConfig through."""
    if isinstance(gates, GateConfig):
        return gates
    if isinstance(gates, str) and gates.lower() in PRESETS:
        return PRESETS[gates.lower()]
    raise ValueError(
        f"gates={gates!r} is not a known preset; accepted: {sorted(PRESETS)} or a GateConfig"
    )
