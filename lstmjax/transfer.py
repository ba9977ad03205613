"""What a new run takes from language-model runs (``model.init_from``): Dai & Le 2015.

A language model trained on the classifier's own text (``data.target="next_token"`` or
``"previous_token"``, :mod:`lstmjax.tasks.files`) starts the classifier instead of the
seeded init ("LM-LSTM", Dai & Le 2015, *Semi-supervised sequence learning*). Each run in
``init_from`` gives:

* its **recurrence**, layer by layer while the shapes agree, to the direction that reads
  the text the same way: a ``next_token`` run's LSTM reads forward, so it starts the
  forward direction (``fw``); a ``previous_token`` run's LSTM reads the text reversed,
  so it starts a BiLSTM's backward direction (``bw``), or the LSTM of another
  ``previous_token`` run. A run whose reading direction this model lacks gives no layer;
* its **embedding**, row by row for the words both vocabularies hold (``<unk>`` too;
  ``<pad>`` keeps its init): only the first run in ``init_from`` gives it. To start both
  directions of a BiLSTM from one embedding space, train the ``previous_token`` run with
  ``init_from=(<next_token run>,)`` and ``freeze_embeddings=True``
  (docs/text.md#language-model-pretraining).

The head and the n-gram bag keep their seeded init (the language model's head predicts
words). Everything else is the seeded init, so a run stays a pure function of its seed
and the runs it reads. The runs are read once, when a run initializes; a resume restores
its checkpoint and never reads them. :mod:`lstmjax.train` reads the runs (the best
checkpoint's parameters, ``config.json``, ``vocab.json``); this module maps them.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import jax
import numpy as np

# the direction a run's single-direction LSTM reads the text in, by its data.target
READS = {"next_token": "forward", "previous_token": "backward"}
# the fields that must agree for a layer to carry over (its shapes and its equations)
SAME_FIELDS = ("cell", "gates", "hidden_size", "embed_dim")


@dataclasses.dataclass(frozen=True)
class Source:
    """One language-model run as :mod:`lstmjax.train` read it.

    Attributes:
      workdir: the run directory as given.
      target: its ``data.target`` (``"next_token"`` or ``"previous_token"``).
      model: its resolved ``model`` config section.
      params: its parameters (``{"embed": [V', E], "rnn": [...], "head": ...}``, host arrays).
      at: which parameters, ``"best@<step>"`` or ``"last@<step>"``.
      words: its vocabulary (id -> word).
    """

    workdir: str
    target: str
    model: dict
    params: Any
    at: str
    words: Sequence[str]


@dataclasses.dataclass(frozen=True)
class Transfer:
    """What the new run's init takes: ``rows`` int32 ``[K]`` / ``vectors`` ``[K, E]``
    (embedding rows, see :func:`lstmjax.models.with_embedding_rows`), ``layers``
    (``{"<layer>/<direction>": cell params}``) and ``record`` (``init_from.json``)."""

    rows: np.ndarray
    vectors: np.ndarray
    layers: dict
    record: list


def check(init_from, *, tokens: bool) -> tuple[str, ...]:
    """``init_from`` as a tuple of run directories, or a one-line ``ValueError``."""
    if isinstance(init_from, str) or not isinstance(init_from, (tuple, list)) or not all(
            isinstance(p, str) and p for p in init_from):
        raise ValueError(f"model.init_from={init_from!r}; accepted: a tuple of language-model "
                         "run directories, e.g. \"('runs/lm_fw',)\" or \"('runs/lm_fw', "
                         "'runs/lm_bw')\" (() = off)")
    if init_from and not tokens:
        raise ValueError(f"model.init_from={tuple(init_from)!r} applies to token inputs (text "
                         "tasks): set it to ()")
    if len(set(init_from)) != len(init_from):
        raise ValueError(f"model.init_from={tuple(init_from)!r} names a run twice")
    return tuple(init_from)


def reads(target: str, bidirectional: bool) -> dict[str, str]:
    """``{direction: how it reads the text}`` of a model (``fw``/``bw`` -> forward/backward)."""
    if target in READS:  # a language model: one direction, reading as its target says
        return {"fw": READS[target]}
    return {"fw": "forward", "bw": "backward"} if bidirectional else {"fw": "forward"}


def plan(sources: Sequence[Source], model: dict, target: str, words: Sequence[str],
         like) -> Transfer:
    """Map ``sources`` onto a model (its resolved ``model`` section, its ``data.target``,
    its vocabulary ``words`` and ``like``, the shapes of its params).

    Raises a one-line ``ValueError`` naming the field when a run's model cannot start this
    one (another cell, gate set, hidden size or embedding size, or a target that is not a
    language model's), or when two runs would start the same direction.
    """
    ours = reads(target, model["bidirectional"])
    taken: dict[str, str] = {}
    layers: dict[str, Any] = {}
    record = []
    rows = np.zeros(0, np.int32)
    vectors = np.zeros((0, int(model["embed_dim"])), np.float32)
    for k, src in enumerate(sources):
        if src.target not in READS:
            raise ValueError(f"model.init_from: {src.workdir} was trained with data.target="
                             f"{src.target!r}; accepted: a language model's "
                             f"{tuple(READS)} (docs/text.md#language-model-pretraining)")
        for field in SAME_FIELDS:
            if src.model[field] != model[field]:
                raise ValueError(f"model.init_from: {src.workdir} has model.{field}="
                                 f"{src.model[field]!r}, this run {model[field]!r}; set "
                                 f"--config.model.{field}={src.model[field]!r}")
        direction = next((d for d, r in ours.items() if r == READS[src.target]), None)
        copied = 0
        if direction is not None:
            if direction in taken:
                raise ValueError(f"model.init_from: {taken[direction]} and {src.workdir} both "
                                 f"read the text {READS[src.target]}; name one run per direction")
            taken[direction] = src.workdir
            for layer, (theirs, mine) in enumerate(zip(src.params["rnn"], like["rnn"])):
                cell = theirs["fw"]  # a language model has one direction
                if _shapes(cell) != _shapes(mine[direction]):
                    break  # e.g. a BiLSTM's second layer reads 2H values, the LM's H
                layers[f"{layer}/{direction}"] = jax.tree.map(np.asarray, cell)
                copied += 1
        entry = {"workdir": src.workdir, "target": src.target, "params": src.at,
                 "direction": direction, "layers": copied}
        if k == 0:
            rows, vectors = _embedding_rows(src, words)
            entry["embedding_words"] = int(len(rows))
        record.append(entry)
    return Transfer(rows, vectors, layers, record)


def _shapes(tree) -> list:
    return [np.shape(x) for x in jax.tree.leaves(tree)]


def _embedding_rows(src: Source, words: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """The rows of ``words`` (ids >= 1: ``<unk>`` and the words) that ``src`` has, with
    ``src``'s embedding of the same word."""
    theirs = {w: i for i, w in enumerate(src.words)}
    pairs = [(i, theirs[w]) for i, w in enumerate(words) if i >= 1 and w in theirs]
    rows = np.array([i for i, _ in pairs], np.int32)
    table = np.asarray(src.params["embed"], np.float32)
    return rows, table[np.array([j for _, j in pairs], np.int64)].reshape(len(pairs), -1)


def line(record: list) -> str:
    """One line for the log: what each run gave."""
    parts = []
    for entry in record:
        what = [f"{entry['layers']} layer(s) -> {entry['direction']}" if entry["direction"]
                else "no layer (its reading direction is not in this model)"]
        if "embedding_words" in entry:
            what.append(f"the embedding of {entry['embedding_words']:,} words")
        parts.append(f"{entry['workdir']} ({entry['target']}, {entry['params']}): "
                     + ", ".join(what))
    return "init_from: " + "; ".join(parts)
