"""A trained run in Python: load its parameters and classify new inputs.

    run = lstmjax.load_run("runs/tweets")                # which="best" (default) or "last"
    run.predict(["what a lovely day", "never again"])    # -> ["pos", "neg"]
    run.predict_proba(["what a lovely day"])             # -> float32 [1, num_classes]
    run.labels, run.config, run.params, run.checkpoint   # ["neg", "pos"], dict, pytree, "best@400"

Text runs (``text_file``, ``imdb``) take a list of strings, tokenised and encoded by the
run's vocabulary exactly as training encoded its files (:func:`lstmjax.tasks.encode_texts`);
feature runs (``npz_file``, ...) take float ``[N, T, D]`` arrays with optional ``lengths``.
``lstmjax predict`` is a command line over the same object, so both give the same
numbers.

Everything comes from the run directory alone (``config.json``, ``task.json``,
``labels.json``, ``vocab.json`` and the ``best/`` or ``checkpoints/`` parameters): the
training data need not be there.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Sequence

import jax
import numpy as np
from tqdm.auto import tqdm

from lstmjax import checkpoint, models, optim, runs, schema, step, tasks, train

WHICH = ("best", "last")


def read_config(workdir: str) -> dict:
    """The resolved config of a run directory (``RunDirError`` if there is none)."""
    path = os.path.join(workdir, runs.CONFIG)
    if not os.path.isfile(path):
        raise runs.RunDirError(f"{workdir} is not a run directory (no {runs.CONFIG}); "
                               "give the --workdir of a training run")
    return runs.read_json(path)


def load_params(workdir: str, cfg: dict, model: models.ModelConfig, which: str = "best",
                run_config: dict | None = None) -> tuple[Any, str]:
    """A run's parameters: the best validation's (``best/``, falling back to the latest
    checkpoint when there is none) or the latest checkpoint's (``which="last"``).

    Returns ``(params, "best@<step>" | "last@<step>")``. ``run_config`` is the config the
    run was trained with (default ``cfg``): the checkpoints must match its fingerprint.
    """
    if which not in WHICH:
        raise ValueError(f"which={which!r}; accepted: {WHICH}")
    tx, _ = optim.make_optimizer(cfg["optimizer"], cfg["steps"])
    like = jax.eval_shape(lambda: step.init_state(0, model, tx))
    fp = schema.fingerprint(schema.resolve_config(run_config or cfg))
    for name, tree_of in ((train.BEST, lambda s: {"params": s.params}),
                          ("checkpoints", train._tree)):
        if which == "last" and name == train.BEST:
            continue
        path = os.path.join(workdir, name)
        if not os.path.isdir(path):
            continue
        ck = checkpoint.Checkpointer(path, fp, keep=1 if name == train.BEST else 10**6)
        try:
            at = ck.latest_step()
            if at is None:
                continue
            abstract = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype),
                                    tree_of(like))
            tree, _, _ = ck.restore(at, abstract, check_data=False)  # not a resume
        finally:
            ck.close()
        params = jax.tree.unflatten(jax.tree.structure(like.params),
                                    jax.tree.leaves(tree["params"]))
        return params, f"{'best' if name == train.BEST else 'last'}@{at}"
    raise checkpoint.CheckpointError(f"{workdir} holds no checkpoint to read parameters from "
                                     "(train with checkpoint_every > 0)")


def read_labels(workdir: str, spec) -> list[str]:
    """Class id -> label name (``labels.json``), else the ids as strings."""
    path = os.path.join(workdir, train.LABELS)
    if os.path.isfile(path):
        return [str(v) for v in runs.read_json(path)]
    return [str(k) for k in range(spec.num_classes or 0)]


@dataclasses.dataclass
class Run:
    """A trained run's model, parameters and everything needed to encode its inputs.

    Attributes:
      workdir: the run directory.
      config: its resolved config (``config.json``).
      spec: its :class:`lstmjax.tasks.TaskSpec`.
      model: the :class:`lstmjax.models.ModelConfig` the parameters belong to.
      params: the parameters (plain pytree, on the host device).
      checkpoint: which parameters: ``"best@<step>"`` or ``"last@<step>"``.
      labels: class id -> label name (``[]`` for regression).
      vocabulary: the run's :class:`lstmjax.tasks.Vocabulary` (text runs), else ``None``.
    """

    workdir: str
    config: dict
    spec: Any
    model: models.ModelConfig
    params: Any
    checkpoint: str
    labels: list[str]
    vocabulary: Any = None

    def __post_init__(self):
        # one jitted function per Run: a batch shape compiles once and is reused
        self._apply = jax.jit(lambda p, x, n: models.apply(p, self.model, x, n))

    @property
    def step(self) -> int:
        """The training step the parameters come from."""
        return int(self.checkpoint.split("@")[1])

    def encode(self, inputs, lengths=None) -> tuple[np.ndarray, np.ndarray]:
        """``(x, lengths)`` ready for the model: texts -> int32 ``[N, max_length]`` ids
        (text runs); float ``[N, T, D]`` arrays with ``T <= max_length`` (feature runs,
        ``lengths`` default T)."""
        if self.spec.input_kind == "tokens":
            if isinstance(inputs, (str, bytes)) or not isinstance(inputs, Sequence) \
                    or not all(isinstance(t, str) for t in inputs):
                raise TypeError(f"a text run predicts from a list of strings, got "
                                f"{type(inputs).__name__}; e.g. run.predict(['some text'])")
            if lengths is not None:
                raise TypeError("lengths applies to feature runs; texts are measured by the "
                                "run's vocabulary")
            return tasks.encode_texts(self.vocabulary, list(inputs), int(self.spec.max_length))
        x = np.asarray(inputs, np.float32)
        if x.ndim != 3 or x.shape[2] != self.spec.input_dim or x.shape[1] > self.spec.max_length:
            raise ValueError(f"inputs have shape {x.shape}; this run expects float [N, T <= "
                             f"{self.spec.max_length}, {self.spec.input_dim}]")
        if not np.isfinite(x).all():
            raise ValueError("inputs hold NaN or Inf")
        if lengths is None:
            return x, np.full((len(x),), x.shape[1], np.int32)
        lengths = np.asarray(lengths)
        if lengths.shape != (len(x),) or lengths.dtype.kind not in "iu" \
                or (len(x) and (lengths.min() < 1 or lengths.max() > x.shape[1])):
            raise ValueError(f"lengths must be integers of shape [{len(x)}] in [1, "
                             f"{x.shape[1]}]; got shape {lengths.shape}, dtype {lengths.dtype}")
        return x, lengths.astype(np.int32)

    def outputs(self, inputs, lengths=None, *, batch_size: int = 256,
                progress: bool = False) -> np.ndarray:
        """The model's raw outputs: logits ``[N, C]`` (classify), ``[N, T, C]`` (per
        step) or predictions ``[N]`` (regress), in batches of ``batch_size``."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
                or batch_size < 1:
            raise ValueError(f"batch_size={batch_size!r} must be an int >= 1")
        x, n = self.encode(inputs, lengths)
        out = [np.asarray(self._apply(self.params, x[s:s + batch_size], n[s:s + batch_size]))
               for s in tqdm(range(0, len(n), batch_size), unit="batch", desc="predict",
                             disable=not progress or len(n) <= batch_size)]
        if not out:
            shape = {"regress": (0,), "classify": (0, self.model.num_outputs)}.get(
                self.spec.output_kind, (0, x.shape[1], self.model.num_outputs))
            return np.zeros(shape, np.float32)
        return np.concatenate(out)

    def predict_proba(self, inputs, lengths=None, *, batch_size: int = 256) -> np.ndarray:
        """Class probabilities: float32 ``[N, C]`` (``[N, T, C]`` per step), columns in
        the order of :attr:`labels`."""
        if self.spec.output_kind == "regress":
            raise ValueError("predict_proba needs a classification run; this run regresses "
                             "(use predict)")
        return probabilities(self.outputs(inputs, lengths, batch_size=batch_size))

    def predict(self, inputs, lengths=None, *, batch_size: int = 256):
        """Label names ``[N]`` (classify; a list of ``T`` names per input for per-step
        runs), or float32 predictions ``[N]`` (regress)."""
        out = self.outputs(inputs, lengths, batch_size=batch_size)
        if self.spec.output_kind == "regress":
            return out
        ids = np.argmax(out, -1)
        if self.spec.output_kind == "classify_per_step":
            return [[self.labels[k] for k in row] for row in ids]
        return [self.labels[k] for k in ids]

    def rows(self, outputs: np.ndarray) -> list[dict]:
        """One record per input from :meth:`outputs` (what ``lstmjax predict`` writes):
        ``{"label", "p_<label>": ...}``, ``{"labels": [...]}`` or ``{"prediction"}``."""
        if self.spec.output_kind == "regress":
            return [{"prediction": float(v)} for v in outputs.reshape(-1)]
        if self.spec.output_kind == "classify_per_step":
            return [{"labels": [self.labels[k] for k in np.argmax(o, -1)]} for o in outputs]
        return [{"label": self.labels[int(np.argmax(p))],
                 **{f"p_{name}": round(float(v), 6) for name, v in zip(self.labels, p)}}
                for p in probabilities(outputs)]


def probabilities(logits: np.ndarray) -> np.ndarray:
    """Softmax over the last axis (float32), the one conversion ``predict`` and
    :meth:`Run.predict_proba` share."""
    return np.asarray(jax.nn.softmax(np.asarray(logits, np.float32), axis=-1))


def load_run(workdir: str, which: str = "best") -> Run:
    """The trained run in ``workdir`` with its ``best`` (the best validation's; the last
    checkpoint's when there was no validation) or ``last`` parameters.

    Raises:
      lstmjax.runs.RunDirError: ``workdir`` is not a run directory.
      lstmjax.checkpoint.CheckpointError: it holds no readable checkpoint.
      ValueError: ``which`` is not ``"best"`` or ``"last"``.
    """
    if which not in WHICH:
        raise ValueError(f"which={which!r}; accepted: {WHICH}")
    cfg = read_config(workdir)
    task_path = os.path.join(workdir, train.TASK)
    if not os.path.isfile(task_path):
        raise runs.RunDirError(f"{workdir} has no {train.TASK}: it is not a finished run "
                               "directory of this lstmjax version")
    spec = tasks.TaskSpec(**runs.read_json(task_path))
    # defaults filled in: a run written before a model field existed still loads
    model = models.from_task(spec, **schema.resolve_config(cfg)["model"])
    params, at = load_params(workdir, cfg, model, which)
    vocab = None
    if spec.input_kind == "tokens":
        vocab_path = os.path.join(workdir, train.VOCAB)
        if not os.path.isfile(vocab_path):
            raise runs.RunDirError(f"{workdir} has no {train.VOCAB}: only runs trained on "
                                   "text (text_file, imdb) can read text")
        vocab = tasks.Vocabulary.load(vocab_path)
    labels = [] if spec.output_kind == "regress" else read_labels(workdir, spec)
    return Run(workdir, cfg, spec, model, params, at, labels, vocab)
