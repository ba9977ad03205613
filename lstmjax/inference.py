"""A trained run in Python: load its parameters, classify new inputs, score a split.

    run = lstmjax.load_run("runs/tweets")                # which="best" (default) or "last"
    run.predict(["what a lovely day", "never again"])    # -> ["pos", "neg"]
    run.predict_proba(["what a lovely day"])             # -> float32 [1, num_classes]
    run.predict(run.read("new.csv"))                     # a file, read as `predict --input`
    run.labels, run.config, run.params, run.checkpoint   # ["neg", "pos"], dict, pytree, "best@400"
    evaluate("runs/tweets", "test")                      # `lstmjax evaluate`'s JSON record

Text runs (``text_file``, ``imdb``) take a list of strings, tokenised and encoded by the
run's vocabulary exactly as training encoded its files (:func:`lstmjax.tasks.encode_texts`);
feature runs (``npz_file``, ...) take float ``[N, T, D]`` arrays with optional ``lengths``.
``lstmjax predict`` and ``lstmjax evaluate`` are command lines over :class:`Run` and
:func:`evaluate`, so both give the same numbers; the parameters are read one way,
:func:`lstmjax.train.load_params`.

Everything comes from the run directory alone (``config.json``, ``task.json``,
``labels.json``, ``vocab.json`` and the ``best/`` or ``checkpoints/`` parameters): the
training data need not be there.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Mapping, Sequence

import jax
import numpy as np
from tqdm.auto import tqdm

from lstmjax import checkpoint, data, evaluation, models, runs, schema, tasks, train
from lstmjax.tasks.spec import SPLITS

WHICH = train.PARAMS  # "best" | "last"

# model fields that choose how the same function is computed, not which function: the
# only model overrides evaluate accepts (pooling, cell, sizes... are refused)
EXECUTION_FIELDS = frozenset({"implementation", "form", "unroll", "remat", "chunk"})

# how a run reads a file of new inputs, as training read its files (Run.read)
READ_FIELDS = ("text_column", "encoding", "delimiter")

FILE_TASKS = ("text_file", "npz_file")  # tasks whose data fingerprint is {file: sha256}


def read_config(workdir: str) -> dict:
    """The resolved config of a run directory (``RunDirError`` if there is none)."""
    path = os.path.join(workdir, runs.CONFIG)
    if not os.path.isfile(path):
        raise runs.RunDirError(f"{workdir} is not a run directory (no {runs.CONFIG}); "
                               "give the --workdir of a training run")
    return runs.read_json(path)


def with_overrides(config: dict, overrides: Mapping[str, Any]) -> dict:
    """A run's config with ``{"data.test_path": "other.csv", ...}`` set (a copy).

    A field must exist, except a task field under ``data`` that the task accepts; a model
    field only among :data:`EXECUTION_FIELDS` (evaluate and predict use the model as
    trained). ``ValueError`` (one line, naming the field) otherwise.
    """
    out = runs.json_roundtrip(config)
    for name, value in overrides.items():
        *parents, leaf = name.split(".")
        node = out
        for p in parents:
            if not isinstance(node.get(p), dict):
                raise ValueError(f"--config.{name}: config has no section {p!r}")
            node = node[p]
        known = leaf in node or (parents == ["data"]
                                 and leaf in tasks.fields_of(out["data"]["name"]))
        if not known:
            raise ValueError(f"--config.{name} is not a field of this run's config")
        if parents == ["model"] and leaf not in EXECUTION_FIELDS and value != node[leaf]:
            raise ValueError(
                f"--config.{name}={value!r} would change the trained model (it was trained "
                f"with {leaf}={node[leaf]!r}); evaluate and predict use the run's model as "
                f"trained: retrain to change it. Accepted model overrides (how it runs, not "
                f"what it computes): {sorted(EXECUTION_FIELDS)}")
        node[leaf] = value
    return out


def evaluate(workdir: str, split: str = "test", which: str = "best", *,
             overrides: Mapping[str, Any] | None = None, data_dir: str | None = None) -> dict:
    """Score a run's ``best`` or ``last`` parameters on a whole split (``lstmjax evaluate``).

    ``overrides`` (:func:`with_overrides`) point it at other data (``data.test_path``) or
    another driver (``model.implementation``). Returns ``{"split", "params":
    "best@<step>", "loss", <metrics>, "examples", ...}`` as ``summary.json``'s records.

    Raises:
      lstmjax.runs.RunDirError, lstmjax.checkpoint.CheckpointError: see
        :func:`lstmjax.train.load_params`.
      lstmjax.tasks.DataError: the run's own data files changed since it trained (the
        numbers would not be the run's), or the data cannot be read.
      ValueError: a bad override, split or ``which``.
    """
    if split not in SPLITS:
        raise ValueError(f"split={split!r}; accepted: {SPLITS}")
    saved = read_config(workdir)
    cfg = with_overrides(saved, overrides or {})
    if cfg["data"] == saved["data"] and cfg["data"]["name"] in FILE_TASKS:  # its own files
        _check_data_unchanged(workdir, cfg["data"], data_dir)
    # the checkpoints were written under the run's own config, not the overridden one
    params, at = train.load_params(workdir, saved, which)
    job = train.build(cfg, data_dir)
    batches = evaluation.split_batches(job.sources[split], job.spec, job.cfg,
                                       job.eval_batch_size, len(job.devices))
    return {"split": split, "params": at,
            **evaluation.evaluate(job.compiled.evaluate, job.compiled.evaluate.put_state(params), batches,
                                  job.baseline, **job.report_kwargs())}


def _check_data_unchanged(workdir: str, data_config: dict, data_dir) -> None:
    """Refuse to score a run on its own data files when they changed since training (the
    sha256 its latest checkpoint recorded): the numbers would silently not be the run's."""
    at, recorded = checkpoint.recorded_data_fingerprint(os.path.join(workdir, "checkpoints"))
    if not recorded:
        return
    now = data.fingerprint(data_config, data_dir)
    changed = sorted(k for k in set(recorded) | set(now) if recorded.get(k) != now.get(k))
    if changed:
        raise tasks.DataError(
            f"{changed[0]} changed since the run trained on it (its sha256 differs from the "
            f"one checkpoint {at} recorded); evaluate would not give the run's numbers. Put "
            "back the original file, or evaluate on the new one on purpose under another "
            "name with --config.data.<field>=FILE")


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

    def read(self, path: str, **fields) -> list[str] | np.ndarray:
        """New inputs from a file, as ``lstmjax predict --input`` reads it: a text run's
        ``.txt`` (one text per non-blank line), ``.csv``/``.tsv``/``.jsonl`` (the column
        the run trained on, or ``text_column=``; also ``encoding=``, ``delimiter=``); a
        feature run's ``.npz`` (key ``x``, float ``[N, T <= max_length, D]``).

        Raises ``lstmjax.tasks.DataError`` (one line naming the file) for a file that
        cannot be read so, ``ValueError`` for a field other than :data:`READ_FIELDS`.
        """
        unknown = sorted(set(fields) - set(READ_FIELDS))
        if unknown:
            raise ValueError(f"Run.read: unknown field {unknown[0]!r}; accepted: "
                             f"{list(READ_FIELDS)} (how training read its files)")
        given = {k: fields.get(k, self.config["data"].get(k)) for k in READ_FIELDS}
        given = {k: v for k, v in given.items() if v is not None}
        return tasks.read_inputs(path, self.spec, **given)

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
        """Label names ``[N]`` (classify; for per-step runs a list of one name per step of
        each input, its length: padded steps are not predictions), or float32 predictions
        ``[N]`` (regress)."""
        out = self.outputs(inputs, lengths, batch_size=batch_size)
        if self.spec.output_kind == "regress":
            return out
        ids = np.argmax(out, -1)
        if self.spec.output_kind == "classify_per_step":
            n = self.encode(inputs, lengths)[1]
            return [[self.labels[k] for k in row[:m]] for row, m in zip(ids, n)]
        return [self.labels[k] for k in ids]

    def rows(self, outputs: np.ndarray, lengths=None) -> list[dict]:
        """One record per input from :meth:`outputs` (what ``lstmjax predict`` writes):
        ``{"label", "p_<label>": ...}``, ``{"labels": [...]}`` (per step: the first
        ``lengths[i]`` steps, when given) or ``{"prediction"}``."""
        if self.spec.output_kind == "regress":
            return [{"prediction": float(v)} for v in outputs.reshape(-1)]
        if self.spec.output_kind == "classify_per_step":
            n = [None] * len(outputs) if lengths is None else lengths
            return [{"labels": [self.labels[k] for k in np.argmax(o, -1)[:m]]}
                    for o, m in zip(outputs, n)]
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
    cfg = read_config(workdir)
    params, at = train.load_params(workdir, cfg, which)  # checks which and the run files
    spec = train.read_task(workdir)
    # defaults filled in: a run written before a model field existed still loads
    model = models.from_task(spec, **schema.resolve_config(cfg)["model"])
    vocab = None
    if spec.input_kind == "tokens":
        vocab_path = os.path.join(workdir, train.VOCAB)
        if not os.path.isfile(vocab_path):
            raise runs.RunDirError(f"{workdir} has no {train.VOCAB}: only runs trained on "
                                   "text (text_file, imdb) can read text")
        vocab = tasks.Vocabulary.load(vocab_path)
    labels = [] if spec.output_kind == "regress" else read_labels(workdir, spec)
    return Run(workdir, cfg, spec, model, params, at, labels, vocab)
