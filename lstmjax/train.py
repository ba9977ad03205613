"""The one training loop: restore or init, train, evaluate, checkpoint, finish.

    summary = lstmjax.train.run(config, workdir="runs/adding")   # or workdir=None
    summary["final_eval"]["accuracy"], summary["test"]["accuracy"], summary["params_sha256"]

``config`` is an ``ml_collections.ConfigDict`` (see ``experiments/configs``) or a plain
nested dict; what it leaves out comes from :data:`lstmjax.schema.DEFAULTS`, and all of it
is validated before anything compiles. Every experiment of this repository trains through
:func:`run`; a sweep is a list of configs.

Reproducibility: ``seed`` derives every key by ``fold_in`` (see :mod:`lstmjax.device_step`); the
batch at step s is a pure function of (seed, s), so a resumed run sees exactly the
batches of an uninterrupted one. ``metrics.jsonl`` holds only deterministic values;
wall-clock values go to ``timing.jsonl``.

What a run reports (``summary.json``):

* ``final_eval``: the **whole** validation split at the last step
  (``{"split": "validation", "step", "loss", <metrics>, "examples"}``);
* ``test``: the whole test split at the last step;
* ``best`` / ``test_at_best``: the step whose periodic validation was best by
  ``select_metric``, and the whole test split scored with its parameters;
* ``steps_to_solve``: the first periodic validation with ``solve_metric >=
  solve_threshold`` (``solve_threshold > 0``); with ``stop_when_solved`` the run stops
  there (``status="solved_early"``);
* early stopping: with ``patience > 0`` the run stops after ``patience`` periodic
  validations in a row without a better ``select_metric`` (``status="stopped_early"``);
  the best parameters stay in ``best/`` (what ``evaluate``, ``predict`` and ``load_run``
  read by default) and ``test_at_best`` reports them.

The periodic validation (every ``eval_every`` steps) covers ``eval_batches`` batches of
a fixed shuffle of the validation split (all of it with ``eval_batches=0``); each record
says how many ``examples`` it covers.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import signal
import threading
import time
from typing import Any

import jax
import numpy as np
from tqdm.auto import tqdm

from lstmjax import checkpoint as ckpt_lib
from lstmjax.errors import NonFiniteLossError
from lstmjax import (budget, data, device_step, embeddings, evaluation, models, optim,
                     parallel, runs, schema, tasks, transfer)

VOCAB = "vocab.json"  # written into the run dir for token tasks built from text
BEST = "best"         # <workdir>/best: the parameters of the best periodic validation
TASK = "task.json"    # the TaskSpec, so that a run's model can be rebuilt without its data
LABELS = "labels.json"  # class id -> label, for tasks whose labels have names
# model.embeddings_path: the file's path, sha256 and coverage, written when the run
# initializes from it (a resume never reads the file; summary.json repeats this record)
EMBEDDINGS = "embeddings.json"
# model.init_from: what each language-model run gave (lstmjax.transfer), written when the
# run initializes from them (a resume never reads them; summary.json repeats it)
INIT_FROM = "init_from.json"
STEP0_RECORDS = {EMBEDDINGS: "embeddings", INIT_FROM: "init_from"}  # file -> _Progress field
# hashed at each start, verified on resume, evaluate and predict; the same bytes are
# written at every start (config.json is not: it is checked by its fingerprint instead)
RUN_FILES = (TASK, VOCAB, LABELS)
FINISHED = ("completed", "solved_early", "stopped_early")  # statuses with final evaluations
INCOMPLETE = "incomplete"  # <workdir>/incomplete: checkpoint folders set aside, never read


@dataclasses.dataclass
class Job:
    """Everything static about a run, built (and so validated) from its config."""

    cfg: dict
    spec: Any
    sources: dict           # split -> random-access source
    model: models.ModelConfig
    compiled: device_step.Compiled
    devices: list
    eval_batch_size: int

    @property
    def baseline(self):
        return getattr(self.spec, "baseline_loss", None)

    @property
    def labels(self) -> list[str] | None:
        """Class id -> name (the task's own names, else the ids); None unless classify."""
        if self.spec.output_kind != "classify":
            return None
        names = getattr(self.sources["train"], "labels", None)
        return [str(v) for v in names] if names is not None else [
            str(k) for k in range(int(self.spec.num_classes))]

    def report_kwargs(self) -> dict:
        """What a whole-split evaluation needs for its per-class report."""
        return {"labels": self.labels, "majority_class": self.spec.majority_class}

    @property
    def select(self) -> tuple[str, bool]:
        """(metric, higher is better) that picks the best checkpoint."""
        name = self.cfg["select_metric"]
        if name == "auto":
            name = "recall_accuracy" if self.spec.output_kind == "classify_per_step" else (
                "accuracy" if self.spec.output_kind == "classify" or self.spec.tolerance
                else "loss")
        return name, device_step.METRICS[name]


def build(config, data_dir: str | None = None) -> Job:
    """Resolve ``config`` and build the task, model and compiled steps (nothing runs)."""
    cfg = schema.resolve_config(config)
    parallel.maybe_initialize_distributed(cfg["distributed"])
    spec, train_src = data.make_source(cfg["data"], "train", data_dir=data_dir)
    sources = {"train": train_src}
    for split in ("validation", "test"):
        sources[split] = data.make_source(cfg["data"], split, data_dir=data_dir)[1]
    model = models.from_task(spec, **cfg["model"])
    for field, off in (("embeddings_path", "''"), ("init_from", "()")):
        if cfg["model"][field] and _vocabulary(sources) is None:
            raise ValueError(f"config.model.{field}={cfg['model'][field]!r} needs a task with "
                             f"a word vocabulary (text_file, reviews, imdb, ...); task "
                             f"{spec.name!r} has token ids without words: set it to {off}")
    devices = parallel.resolve_devices(cfg["parallel"], cfg["num_devices"])
    parallel.check_batch(cfg["batch_size"], len(devices), "config.batch_size")
    eval_bs = cfg["eval_batch_size"] or cfg["batch_size"]
    parallel.check_batch(eval_bs, len(devices), "config.eval_batch_size")
    # before anything is allocated: an oversized config is one line, not a hang
    budget.check(model, spec, cfg, devices)
    tolerance = spec.tolerance if spec.output_kind == "regress" else None
    total = cfg["steps"] if cfg["optimizer"]["schedule"] != "constant" else 0
    compiled = device_step.compiled(model, tuple(sorted(cfg["optimizer"].items())), total,
                                    tolerance, cfg["parallel"], tuple(devices))
    return Job(cfg, spec, sources, model, compiled, devices, eval_bs)


def _vocabulary(sources: dict):
    """The train split's word vocabulary (text tasks), else None."""
    return getattr(sources["train"], "vocabulary", None)


class Interrupted(KeyboardInterrupt):
    """A second stop signal arrived outside a save: the run stopped at once, unsaved.
    ``signum`` is the signal (the command line exits with 128 + signum)."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.signum = signum


# What a scheduler sends before it kills a job: Ctrl-C, SIGTERM (SLURM at the time limit
# or on preemption, Kubernetes, docker stop), SIGUSR1 (SLURM's --signal=USR1@<seconds>).
STOP_SIGNALS = tuple(s for s in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGUSR1", None))
                     if s is not None)


class _Interrupt:
    """A stop signal (:data:`STOP_SIGNALS`) -> a flag the loop checks at each step boundary,
    where it saves a checkpoint and returns ``"interrupted"``.

    A second signal while a checkpoint is being written waits for the save (a save cut
    short is what blocks a rerun); anywhere else it raises :class:`Interrupted` at once:
    the directory then holds the previous complete checkpoints only.
    """

    def __init__(self, enabled: bool):
        self.signum = None    # the first stop signal received
        self.saving = False   # inside protect(): a second signal waits for the save
        self._prev = {}
        self.enabled = enabled and threading.current_thread() is threading.main_thread()

    @property
    def flag(self) -> bool:
        return self.signum is not None

    def __enter__(self):
        if self.enabled:
            for s in STOP_SIGNALS:
                self._prev[s] = signal.signal(s, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.signum is None:
            self.signum = signum
        elif not self.saving:
            raise Interrupted(f"{signal.Signals(signum).name} again before the checkpoint "
                              "save began: stopped at once without saving; rerun the same "
                              "command to resume from the last complete checkpoint", signum)

    @contextlib.contextmanager
    def protect(self):
        """A section that a second signal must not cut (a checkpoint save)."""
        saving, self.saving = self.saving, True
        try:
            yield
        finally:
            self.saving = saving

    def __exit__(self, *exc):
        for s, prev in self._prev.items():
            signal.signal(s, prev)
        self._prev = {}


@dataclasses.dataclass
class _Progress:
    """What the loop carries between steps, and what a checkpoint's ``extra`` restores."""

    step: int = 0
    window: dict = dataclasses.field(default_factory=dict)  # train metric sums since last log
    window_n: int = 0
    history: list = dataclasses.field(default_factory=list)  # every metrics record
    best: dict | None = None          # {"step", "metric", "value"} of the best validation
    best_params: Any = None           # its parameters (host), when this process saw them
    solved_at: int | None = None
    final_eval: dict | None = None    # the reported numbers (whole splits), see run()
    test: dict | None = None
    test_at_best: dict | None = None
    embeddings: dict | None = None    # the pretrained embeddings' record (EMBEDDINGS)
    init_from: list | None = None     # what the language-model runs gave (INIT_FROM)

    def restore_from(self, extra: dict, history: list, solve) -> None:
        self.window, self.window_n = dict(extra.get("window", {})), int(extra.get("window_n", 0))
        self.best = extra.get("best")
        self.history = history
        metric, threshold = solve
        if threshold > 0:
            self.solved_at = next((r["step"] for r in history if r["split"] == "validation"
                                   and r.get(metric, -math.inf) >= threshold), None)
            if self.solved_at is None and extra.get("solve") == [metric, threshold]:
                self.solved_at = extra.get("solved_at")  # a process that cannot see the log


class _RunDir:
    """The run directory's files; ``None`` paths when training without a workdir (sweeps)."""

    def __init__(self, workdir: str | None, cfg: dict, is_main: bool):
        self.root = None if workdir is None else os.path.abspath(workdir)
        self.is_main = is_main
        # one writer: process 0 holds <workdir>/lstmjax.lock while the run lives (run())
        self.lock = (runs.RunLock(self.root) if self.root is not None and is_main
                     else contextlib.nullcontext())
        if self.root is not None:
            runs.check_workdir(self.root)
            _check_workdir_config(self.path(runs.CONFIG), cfg)
        writes = self.root is not None and is_main
        self.metrics = runs.JsonlLog(self.path(runs.METRICS) if writes else None)
        self.timing = runs.JsonlLog(self.path(runs.TIMING) if writes else None)
        self.events = runs.EventLog(self.path(runs.TENSORBOARD)
                                    if writes and cfg["tensorboard"] else None)
        self.announce = False  # print one line per validation (run(log_evals=...))

    def path(self, name: str) -> str | None:
        return None if self.root is None else os.path.join(self.root, name)

    def log(self, progress: _Progress, record: dict) -> None:
        # before the write: the last record kept by a resume, past which events are hidden
        self.events.write(record, purge_after=self.metrics.last_step)
        self.metrics.write(record)
        progress.history.append(runs.json_roundtrip(record))

    def close(self) -> None:
        self.metrics.close()
        self.timing.close()
        self.events.close()


def run(config, workdir: str | None = None, *, checkpoints: bool = True,
        plots: bool | None = None, progress: bool = True, handle_sigint: bool | None = None,
        data_dir: str | None = None, log_evals: bool | None = None) -> dict:
    """Train one model; returns the summary dict (also written to ``workdir``).

    Args:
      config: ConfigDict or nested dict (fields: :data:`lstmjax.schema.DEFAULTS`).
      workdir: run directory; an existing one with checkpoints is resumed from the latest.
        ``None`` writes nothing (sweeps).
      checkpoints: save orbax checkpoints every ``config.checkpoint_every`` steps.
      plots: write ``learning_curve.png`` (default ``config.plot``).
      progress: show a tqdm bar (steps/s, train loss, the last validation, ETA).
      log_evals: print one line per periodic validation (default: ``progress``).
      handle_sigint: a stop signal (Ctrl-C, SIGTERM, SIGUSR1: :data:`STOP_SIGNALS`) saves a
        checkpoint at the next step boundary and returns with ``status="interrupted"`` and
        ``signal`` (its name) in the returned summary (default: when checkpoints are
        written, in a job of one process). Checkpoint folders of a save cut short are moved
        to ``<workdir>/incomplete/`` first, with one line, and never counted.
    Returns:
      the summary (see the module docstring) plus ``history`` (every metrics record),
      ``params`` (the final parameters, on the host) and ``process_index`` (this
      process's index in a multi-process job, where every process returns the summary).
    Raises:
      NonFiniteLossError: the loss became NaN/Inf (the last good checkpoint is kept).
      lstmjax.checkpoint.CheckpointError: an unusable checkpoint or run directory.
      lstmjax.runs.RunDirError: another process trains in ``workdir`` (its
        ``lstmjax.lock`` names the host and pid); nothing was changed.
    """
    t_start = time.time()
    job = build(config, data_dir)
    cfg = job.cfg
    if cfg["model"]["embeddings_path"] and (
            workdir is None or not os.path.exists(os.path.join(workdir, runs.CONFIG))):
        # a new run reads the file at init: a missing one leaves no run directory behind
        # (a resume, which never reads it, is not asked for it)
        embeddings.check_path(cfg["model"]["embeddings_path"])
    if cfg["model"]["init_from"] and (
            workdir is None or not os.path.exists(os.path.join(workdir, runs.CONFIG))):
        for source in cfg["model"]["init_from"]:  # the same: refused before any directory
            read_task(source)
    rundir = _RunDir(workdir, cfg, jax.process_index() == 0)
    rundir.announce = rundir.is_main and (progress if log_evals is None else log_evals)
    with rundir.lock:  # a second writer stops here, before anything is written
        return _run(job, rundir, checkpoints, plots, progress, handle_sigint, data_dir,
                    t_start)


def _run(job: Job, rundir: _RunDir, checkpoints, plots, progress, handle_sigint, data_dir,
         t_start) -> dict:
    """:func:`run` in a locked run directory."""
    cfg = job.cfg
    if rundir.root is not None and rundir.is_main:
        _set_aside(rundir, {d: ckpt_lib.incomplete_entries(rundir.path(d))
                            for d in ("checkpoints", BEST)}, "an interrupted save")
    ckpt = None
    if checkpoints and rundir.root is not None and cfg["checkpoint_every"] > 0:
        # the data fingerprint (file hashes, or the generating fields) is stored with every
        # checkpoint: a resume onto changed data files is refused
        ckpt = ckpt_lib.Checkpointer(rundir.path("checkpoints"), schema.fingerprint(cfg),
                                     keep=cfg["keep_checkpoints"],
                                     data_fingerprint=data.fingerprint(cfg["data"], data_dir))
    # several processes would not stop at the same step: there, a signal stops at once and
    # a rerun resumes from the last complete checkpoint (docs/cluster.md)
    interrupt = _Interrupt(handle_sigint if handle_sigint is not None
                           else ckpt is not None and jax.process_count() == 1)
    try:
        state, train_iter, prog = _restore_or_init(job, rundir, ckpt)
        # only around the steps: before them nothing is half written (every write is
        # atomic) and a signal must stop a hang at once, as it would without lstmjax
        with interrupt:
            status, state = _train(job, rundir, ckpt, state, train_iter, prog, t_start,
                                   progress, interrupt)
        params = _evaluated(job.compiled.train.get_state(state))
        if interrupt.flag:  # arrived after the last step's save: skip the final numbers
            status = "interrupted"
        if status in FINISHED:
            _final_evaluations(job, rundir, prog, params, ckpt)
    except NonFiniteLossError:
        _finish(job, rundir, prog, None, "non_finite", t_start, plots)
        raise
    except BaseException as e:  # several processes: a lost peer, or this one leaving alone
        lost = parallel.peer_failure(e)
        if lost is None or lost is e:
            raise
        raise lost from e
    finally:
        rundir.close()
        if ckpt is not None:
            ckpt.close()
    summary = _finish(job, rundir, prog, params, status, t_start, plots)
    summary["signal"] = None if interrupt.signum is None else signal.Signals(interrupt.signum).name
    return summary


def _set_aside(rundir: _RunDir, names: dict, why: str) -> None:
    """Move checkpoint folders that must not be counted to ``<workdir>/incomplete/`` (never
    deleted) and say so in one line. ``names``: ``{subdirectory: [entry, ...]}``."""
    moved = []
    for sub, entries in names.items():
        aside = os.path.join(rundir.root, INCOMPLETE, sub)
        moved += [os.path.relpath(p, rundir.root)
                  for p in ckpt_lib.set_aside(rundir.path(sub), entries, aside)]
    if moved:
        print(f"note: set aside {len(moved)} checkpoint folder(s) left by {why}, never "
              f"counted: {', '.join(moved)}")


def _restore_or_init(job: Job, rundir: _RunDir, ckpt):
    """The step-0 state, or the latest checkpoint's state with the loop's progress."""
    cfg = job.cfg
    latest = ckpt.latest_step() if ckpt is not None else None
    prog = _Progress()
    pretrained = ()
    if latest is None and cfg["model"]["embeddings_path"]:
        # read once, here, before the init compiles: a resume restores the parameters from
        # the checkpoint and never needs the file
        found = embeddings.read_vectors(cfg["model"]["embeddings_path"],
                                        _vocabulary(job.sources).words,
                                        job.model.embed_dim)
        pretrained, prog.embeddings = (found.rows, found.vectors), found.record()
        if rundir.is_main:
            print(found.line())
    layers = None
    if latest is None and cfg["model"]["init_from"]:
        moved = _transfer(job)
        pretrained, layers, prog.init_from = (moved.rows, moved.vectors), moved.layers, moved.record
        if rundir.is_main:
            print(transfer.line(moved.record))
    host_state = jax.device_get(job.compiled.init(np.int32(cfg["seed"]), *pretrained,
                                                  **({"layers": layers} if layers else {})))
    pad_to = int(job.spec.max_length) if cfg["pad_to"] == "max_length" else None
    train_ds = data.batches(job.sources["train"], batch_size=cfg["batch_size"],
                            seed=device_step.derived_seed(cfg["seed"], device_step.DATA_STREAM),
                            pad_to=pad_to,
                            pad_multiple=cfg["pad_multiple"], bucket=cfg["bucket"])
    train_iter = data.iterator(train_ds)
    extra = {}
    if latest is not None:
        tree, data_state, extra = ckpt.restore(latest, ckpt_lib.abstract_of(_tree(host_state)),
                                               batches_consumed=latest)
        host_state = _from_tree(tree, host_state)
        prog.step = int(host_state.step)
        if data_state is not None:
            train_iter.set_state(data_state)
    if prog.step > cfg["steps"]:
        raise ValueError(f"config.steps={cfg['steps']} is below the step of the latest "
                         f"checkpoint ({prog.step}) in {rundir.root}; nothing was changed")
    if prog.step > 0 and rundir.root is not None:
        _check_run_files(job, rundir)  # before the logs are cut back: refused = untouched
    # The logs first, so that one that cannot be read refuses the resume before anything
    # is written. Every process needs the same history (steps_to_solve, stop_when_solved): process 0
    # cuts the file back to the checkpoint, the others read it (shared workdir), read-only
    history = (rundir.metrics.truncate_after(prog.step) if rundir.is_main or rundir.root is None
               else [r for r in runs.read_jsonl(rundir.path(runs.METRICS))
                     if r.get("step", math.inf) <= prog.step])
    rundir.timing.truncate_after(prog.step)
    if getattr(rundir.metrics, "backup", None):
        print(f"note: records after step {prog.step} were moved aside to "
              f"{rundir.metrics.backup}")
    if rundir.root is not None and rundir.is_main:
        # only now: a refused checkpoint or log leaves the run directory untouched.
        # best/ steps past the resumed one were written before a checkpoint that never came
        # (validation runs before the save): this run writes them again
        _set_aside(rundir, {BEST: ckpt_lib.steps_after(rundir.path(BEST), prog.step)},
                   f"a run stopped after checkpoint {prog.step}")
        runs.write_json(rundir.path(runs.CONFIG), cfg)
        runs.write_json(rundir.path(TASK), dataclasses.asdict(job.spec))
        vocab = getattr(job.sources["train"], "vocabulary", None)
        if vocab is not None:  # text tasks: the tokenizer's vocabulary travels with the run
            vocab.save(rundir.path(VOCAB) + ".tmp")  # atomic: a torn file would be refused
            os.replace(rundir.path(VOCAB) + ".tmp", rundir.path(VOCAB))
        labels = getattr(job.sources["train"], "labels", None)
        if labels is not None:
            runs.write_json(rundir.path(LABELS), list(labels))
        runs.record_run_files(rundir.root, RUN_FILES)
        for name, attr in STEP0_RECORDS.items():
            if getattr(prog, attr) is not None:
                runs.write_json(rundir.path(name), getattr(prog, attr))
    for name, attr in STEP0_RECORDS.items():  # a resume: what step 0 read
        if latest is not None and rundir.root is not None and os.path.exists(rundir.path(name)):
            setattr(prog, attr, runs.read_json(rundir.path(name)))
    prog.restore_from(extra, history, (cfg["solve_metric"], cfg["solve_threshold"]))
    return job.compiled.train.put_state(host_state), train_iter, prog


def _check_run_files(job: Job, rundir: _RunDir) -> None:
    """A resume must find the run's files as it wrote them, and the data must still give
    the same task, vocabulary and labels (a reordered vocabulary re-maps every token).
    Runs written before ``run_files.json`` existed are not checked (their task.json may
    lack fields added since)."""
    if not os.path.exists(rundir.path(runs.RUN_FILES)):
        return
    runs.verify_run_files(rundir.root)
    now = {TASK: runs.json_roundtrip(dataclasses.asdict(job.spec))}
    vocab = getattr(job.sources["train"], "vocabulary", None)
    if vocab is not None:
        now[VOCAB] = list(vocab.words)
    labels = getattr(job.sources["train"], "labels", None)
    if labels is not None:
        now[LABELS] = runs.json_roundtrip({"labels": list(labels)})["labels"]
    for name, value in now.items():
        path = rundir.path(name)
        if not os.path.exists(path):
            continue
        try:
            old = runs.read_json(path)
        except (OSError, ValueError) as e:
            raise runs.RunDirError(f"{path} is unreadable ({e}); nothing was changed") from e
        if name == VOCAB:
            old = old.get("words") if isinstance(old, dict) else None
        if name == TASK and isinstance(old, dict):
            # a TaskSpec field added after the run wrote its task.json reads as its default
            fields = {f.name: f.default for f in dataclasses.fields(tasks.TaskSpec)}
            value = {k: v for k, v in value.items()
                     if k in old or k not in fields or v != fields[k]}
        if old != value:
            raise runs.RunDirError(
                f"the data now gives another {name.split('.')[0]} than {path}, which this run "
                "was trained with (a data or vocabulary file changed since); resuming would "
                "change what the model reads. Put back the original files, or use another "
                "--workdir; nothing was changed.")


def _train(job: Job, rundir: _RunDir, ckpt, state, train_iter, prog: _Progress, t_start,
           show_progress: bool, interrupt: _Interrupt):
    """Steps until ``steps``, a solve (with ``stop_when_solved``) or a stop signal (then a
    checkpoint at that step boundary and ``"interrupted"``)."""
    cfg, fns = job.cfg, job.compiled
    eval_seed = device_step.derived_seed(cfg["seed"], device_step.EVAL_STREAM)
    val = None  # the periodic validation batches, built at the first evaluation
    stop_early = (cfg["stop_when_solved"] and prog.solved_at is not None) \
        or _out_of_patience(cfg, prog)  # a resumed run that had already stopped
    status = _early_status(cfg, prog) if stop_early and prog.step < cfg["steps"] else "completed"
    bar = _progress_bar(show_progress and rundir.is_main, cfg["steps"], prog.step, job.spec.name)
    clock_started = val_seen = False
    t_window = time.time()
    try:
        while prog.step < cfg["steps"] and not stop_early:
            batch = data.prepare_batch(next(train_iter), job.spec, cfg["pad_to"])
            batch = {k: v[parallel.process_rows(v.shape[0])] for k, v in batch.items()}
            state, m = fns.train(state, fns.train.put_batch(batch))
            m = {k: float(v) for k, v in jax.device_get(fns.train.unreplicate(m)).items()}
            prog.step += 1
            if clock_started:
                bar.update(1)
            else:  # the first step compiled: the rate and ETA count from its end
                clock_started = _restart_clock(bar, prog.step)
            if not math.isfinite(m["loss"]):
                raise _non_finite(m["loss"], prog.step, ckpt)
            _accumulate(prog, m)
            if cfg["log_every"] and (prog.step % cfg["log_every"] == 0
                                     or prog.step == cfg["steps"]):  # 0 = off
                t_window = _log_train(job, rundir, prog, bar, t_start, t_window)
            if cfg["eval_every"] and (prog.step % cfg["eval_every"] == 0
                                      or prog.step == cfg["steps"]):
                if val is None:
                    val = _periodic_batches(job, eval_seed)
                with interrupt.protect():  # it may save best/
                    stop_early = _validate(job, rundir, prog, state, val, ckpt)
                _show_validation(job, rundir, prog, bar)
                if not val_seen:  # the eval step compiled in that window: not a rate
                    val_seen = _restart_clock(bar, prog.step)
            if ckpt is not None and (prog.step % cfg["checkpoint_every"] == 0 or stop_early
                                     or prog.step == cfg["steps"] or interrupt.flag):
                with interrupt.protect():
                    ckpt.save(prog.step, _tree(fns.train.get_state(state)),
                              train_iter.get_state(), force=True,
                              extra={"window": prog.window, "window_n": prog.window_n,
                                     "best": prog.best, "solved_at": prog.solved_at,
                                     "solve": [cfg["solve_metric"], cfg["solve_threshold"]]})
            if interrupt.flag and prog.step < cfg["steps"]:
                return "interrupted", state
    finally:
        bar.close()
    if stop_early and prog.step < cfg["steps"]:
        status = _early_status(cfg, prog)
    return status, state


def _early_status(cfg: dict, prog: _Progress) -> str:
    return ("solved_early" if cfg["stop_when_solved"] and prog.solved_at is not None
            else "stopped_early")


def _out_of_patience(cfg: dict, prog: _Progress) -> bool:
    """``patience`` periodic validations since the best one (derived from the history, so
    a resumed run counts exactly as an uninterrupted one)."""
    if not cfg["patience"] or prog.best is None:
        return False
    since = sum(r["split"] == "validation" and r["step"] > prog.best["step"]
                for r in prog.history)
    return since >= cfg["patience"]


def _accumulate(prog: _Progress, m: dict) -> None:
    for k, v in m.items():
        prog.window[k] = prog.window.get(k, 0.0) + v
    prog.window_n += 1


def _log_train(job, rundir, prog, bar, t_start, t_window) -> float:
    rec = {"step": prog.step, "split": "train",
           **{k: v / prog.window_n for k, v in prog.window.items()},
           "learning_rate": float(job.compiled.schedule(prog.step - 1))}
    rundir.log(prog, rec)
    now = time.time()
    # started_at (the process's start, unix seconds) tells a resumed run's segments apart
    rundir.timing.write({"step": prog.step, "elapsed_s": now - t_start,
                         "steps_per_s": prog.window_n / max(now - t_window, 1e-9),
                         "started_at": round(t_start, 3)})
    bar.set_postfix(_postfix(job, prog), refresh=False)
    prog.window, prog.window_n = {}, 0
    return now


def _periodic_batches(job: Job, eval_seed: int) -> list[dict]:
    if job.cfg["eval_batches"] == 0:
        return evaluation.split_batches(job.sources["validation"], job.spec, job.cfg,
                                        job.eval_batch_size, _row_multiple(job))
    return evaluation.sample_batches(job.sources["validation"], job.spec, job.cfg,
                                     job.eval_batch_size, eval_seed)


def _row_multiple(job: Job) -> int:
    return len(job.devices) * (jax.process_count() if job.cfg["parallel"] != "sharding" else 1)


def _validate(job: Job, rundir: _RunDir, prog: _Progress, state, batches, ckpt) -> bool:
    """One periodic validation: log it, keep the best parameters, check the solve.
    Returns True when the run should stop here (solved, with ``stop_when_solved``, or
    ``patience`` validations without a better one)."""
    cfg = job.cfg
    # the train state's parameters are already in the eval step's layout
    rec = {"step": prog.step, "split": "validation",
           **evaluation.evaluate(job.compiled.evaluate, _evaluated(state), batches,
                                 job.baseline)}
    rundir.log(prog, rec)
    metric, higher = job.select
    value = rec.get(metric)
    if value is not None and _better(value, rec["loss"], prog.best, higher):
        prog.best = {"step": prog.step, "metric": metric, "value": value, "loss": rec["loss"]}
        _keep_best(job, rundir, prog, state)
    if cfg["solve_threshold"] > 0 and prog.solved_at is None \
            and rec.get(cfg["solve_metric"], -math.inf) >= cfg["solve_threshold"]:
        prog.solved_at = prog.step
        if cfg["stop_when_solved"]:
            return True
    return _out_of_patience(cfg, prog)


def _evaluated(state: device_step.TrainState):
    """The parameters a run evaluates, keeps as best and reports: the moving average with
    ``optimizer.ema_decay`` (it lives in the optimizer state), else the trained ones."""
    return optim.averaged_params(state.params, state.opt_state)


def _better(value: float, loss: float, best: dict | None, higher: bool) -> bool:
    """A better validation than ``best``; a tie on an accuracy-like metric goes to the lower
    loss (on a small or easy validation split many checks tie: the first must not win by
    default)."""
    if best is None:
        return True
    if value != best["value"]:
        return value > best["value"] if higher else value < best["value"]
    return loss < best.get("loss", -math.inf)


def _keep_best(job: Job, rundir: _RunDir, prog: _Progress, state) -> None:
    """The best parameters so far: in memory, and in ``<workdir>/best`` when there is one."""
    params = _evaluated(job.compiled.train.get_state(state))
    prog.best_params = params
    if rundir.root is not None:
        best = ckpt_lib.Checkpointer(rundir.path(BEST), schema.fingerprint(job.cfg), keep=1)
        try:
            best.save(prog.step, {"params": params}, None, force=True, extra=dict(prog.best))
        finally:
            best.close()


def _best_params(job: Job, rundir: _RunDir, prog: _Progress, like):
    """The best parameters: kept in memory by this process, else read from ``best/``."""
    if prog.best_params is not None:
        return prog.best_params
    if rundir.root is None or prog.best is None:
        return None
    found = _read_params(rundir.path(BEST), schema.fingerprint(job.cfg), like)
    return None if found is None else found[0]


def _read_params(directory: str, fingerprint: dict, like, *, check_data: bool = True,
                 key: str = "params"):
    """``(params, step)`` of the latest checkpoint in ``directory`` (``checkpoints/`` or
    ``best/``), shaped like ``like`` (arrays or ``jax.eval_shape``'s structs); None when
    it holds none. Only ``key`` of the saved state is read (``"opt_state"``: the
    optimizer state, shaped like ``like``, where a moving average lives)."""
    if not os.path.isdir(directory):
        return None
    # keep: never reached (nothing is saved here), large so that opening deletes nothing
    ck = ckpt_lib.Checkpointer(directory, fingerprint, keep=10**6)
    try:
        at = ck.latest_step()
        if at is None:
            return None
        tree, _, _ = ck.restore(at, ckpt_lib.abstract_of({key: like}),
                                check_data=check_data, partial=True)
    finally:
        ck.close()
    # orbax returns containers of its own; rebuild the model's structure from the leaves
    return jax.tree.unflatten(jax.tree.structure(like), jax.tree.leaves(tree[key])), at


def load_params(workdir: str, config: dict, which: str = "best") -> tuple[Any, str]:
    """A finished (or running) run's parameters, the one way ``lstmjax evaluate``,
    ``lstmjax predict`` and :func:`lstmjax.load_run` read them.

    Args:
      workdir: the run directory.
      config: the config the run was trained with (its ``config.json``): the checkpoints
        must match its fingerprint, and its model section gives the shapes.
      which: ``"best"``: the best periodic validation's parameters (``best/``), or the
        latest checkpoint's when there is no ``best/``; ``"last"``: the latest checkpoint's.
        With ``optimizer.ema_decay`` both are the moving average, the parameters the run
        evaluated (``best/`` holds it; a checkpoint holds it in its optimizer state).

    Returns:
      ``(params, "best@<step>" | "last@<step>")``: a plain pytree of host arrays.

    Raises:
      ValueError: ``which`` is not ``"best"`` or ``"last"``.
      lstmjax.runs.RunDirError: ``workdir`` has no ``task.json`` (not a run directory),
        or its task, vocabulary or labels file changed since the run wrote it.
      lstmjax.checkpoint.CheckpointError: no checkpoint, or one that does not fit.
    """
    if which not in PARAMS:
        raise ValueError(f"which={which!r}; accepted: {PARAMS}")
    runs.verify_run_files(workdir)  # task, vocabulary, labels as the run wrote them
    cfg = schema.resolve_config(config)  # defaults filled in, as the run resolved them
    model = models.from_task(read_task(workdir), **cfg["model"])
    like = jax.eval_shape(lambda: models.init(jax.random.key(0), model))
    fp = schema.fingerprint(cfg)
    for name in ((BEST, "checkpoints") if which == "best" else ("checkpoints",)):
        # not a resume: the data may have moved or be another set (evaluate's overrides)
        if name == BEST or not cfg["optimizer"]["ema_decay"]:
            found = _read_params(os.path.join(workdir, name), fp, like, check_data=False)
        else:  # the average the run evaluated lives in the optimizer state
            tx, _ = device_step.make_optimizer(model, cfg["optimizer"], cfg["steps"])
            found = _read_params(os.path.join(workdir, name), fp, jax.eval_shape(tx.init, like),
                                 check_data=False, key="opt_state")
            found = found and (optim.averaged_params(None, found[0]), found[1])
        if found is not None:
            return found[0], f"{'best' if name == BEST else 'last'}@{found[1]}"
    raise ckpt_lib.CheckpointError(f"{workdir} holds no checkpoint to read parameters from "
                                   "(train with checkpoint_every > 0)")


PARAMS = ("best", "last")  # which parameters of a run: load_params(which=...)


def _transfer(job: Job) -> transfer.Transfer:
    """Read ``model.init_from``'s runs (best parameters, config, vocabulary) and map them
    onto this run's model (:mod:`lstmjax.transfer`)."""
    sources = []
    for workdir in job.cfg["model"]["init_from"]:
        config = runs.read_json(os.path.join(workdir, runs.CONFIG))
        params, at = load_params(workdir, config, "best")
        vocab_path = os.path.join(workdir, VOCAB)
        if not os.path.isfile(vocab_path):
            raise runs.RunDirError(f"model.init_from: {workdir} has no {VOCAB}: it is not a "
                                   "text run")
        resolved = schema.resolve_config(config)
        sources.append(transfer.Source(workdir, resolved["data"].get("target", "label"),
                                       resolved["model"], params, at,
                                       tasks.Vocabulary.load(vocab_path).words))
    like = jax.eval_shape(lambda: models.init(jax.random.key(0), job.model))
    return transfer.plan(sources, job.cfg["model"], job.cfg["data"].get("target", "label"),
                         _vocabulary(job.sources).words, like)


def read_task(workdir: str):
    """The run's :class:`lstmjax.tasks.TaskSpec` (``task.json``), enough to rebuild its
    model without its data."""
    path = os.path.join(workdir, TASK)
    if not os.path.isfile(path):
        raise runs.RunDirError(f"{workdir} has no {TASK}: it is not a finished run "
                               "directory of this lstmjax version")
    return tasks.TaskSpec(**runs.read_json(path))


def _final_evaluations(job: Job, rundir: _RunDir, prog: _Progress, params, ckpt) -> None:
    """The reported numbers: whole validation and test splits at the last step, and the
    whole test split with the best validation's parameters. They go to ``summary.json``;
    ``metrics.jsonl`` holds the trajectory only (train windows, periodic validations), so
    a resumed run's file equals an uninterrupted one's."""
    ev, multiple = job.compiled.evaluate, _row_multiple(job)

    def score(split, p):
        batches = evaluation.split_batches(job.sources[split], job.spec, job.cfg,
                                           job.eval_batch_size, multiple)
        return evaluation.evaluate(ev, ev.put_state(p), batches, job.baseline,
                                   **job.report_kwargs())

    # "params" says which parameters each number comes from (as `lstmjax evaluate` does)
    last = f"last@{prog.step}"
    prog.final_eval = {"step": prog.step, "split": "validation", "params": last,
                       **score("validation", params)}
    prog.test = {"step": prog.step, "split": "test", "params": last, **score("test", params)}
    if prog.best is not None:
        at_best = {"step": prog.best["step"], "split": "test",
                   "params": f"best@{prog.best['step']}"}
        if prog.best["step"] == prog.step:
            prog.test_at_best = {**prog.test, **at_best}
        else:
            best = _best_params(job, rundir, prog, params)
            if best is not None:
                prog.test_at_best = {**at_best, **score("test", best)}
    # TensorBoard: the reported numbers beside the curves (test/..., test_at_best/...)
    for name, rec in (("final_validation", prog.final_eval), ("test", prog.test),
                      ("test_at_best", prog.test_at_best)):
        if rec is not None:
            rundir.events.write({**rec, "split": name})


def _non_finite(loss: float, at: int, ckpt) -> NonFiniteLossError:
    last = ckpt.latest_step() if ckpt is not None else None
    kept = (f"the last good checkpoint (step {last}) is kept in {ckpt.directory}"
            if last is not None else "no checkpoint had been saved yet")
    return NonFiniteLossError(
        f"loss is {loss} at step {at} (the update from step {at - 1}); the run stopped; "
        f"{kept}. Try a lower learning rate or config.optimizer.grad_clip.", at)


def _tree(state: device_step.TrainState) -> dict:
    return {"step": state.step, "params": state.params, "opt_state": state.opt_state,
            "rng": state.rng}


def _from_tree(tree: dict, like: device_step.TrainState) -> device_step.TrainState:
    # orbax returns containers of its own; rebuild our structure from the leaves
    rebuilt = jax.tree.unflatten(jax.tree.structure(_tree(like)), jax.tree.leaves(tree))
    return device_step.TrainState(rebuilt["step"], rebuilt["params"], rebuilt["opt_state"],
                           rebuilt["rng"])


def _progress_bar(enabled: bool, total: int, initial: int, name: str):
    return tqdm(total=total, initial=initial, unit="step", desc=name, disable=not enabled,
                dynamic_ncols=True, mininterval=0.5, smoothing=0.1)


def _restart_clock(bar, step_: int) -> bool:
    """Forget the time so far in the bar's rate and ETA (a compile, not a step: the first
    ETA of a run read hours while it compiled); the count stays at ``step_``."""
    if not bar.disable:
        # tqdm.reset() would also zero the count (and draw it once): restart its clock and
        # its smoothed rate in place instead
        bar.start_t = bar.last_print_t = bar._time()
        bar.n = bar.last_print_n = bar.initial = step_
        for name in ("_ema_dn", "_ema_dt"):
            if hasattr(bar, name):
                setattr(bar, name, type(getattr(bar, name))(bar.smoothing))
        bar.refresh()
    return True


def _postfix(job: Job, prog: _Progress) -> dict:
    """The bar's numbers: the last train window's loss, the last validation's loss and
    selection metric (``loss=0.21, val_loss=0.35, val_accuracy=0.91``)."""
    out = {}
    for split, prefix in (("train", ""), ("validation", "val_")):
        rec = next((r for r in reversed(prog.history) if r["split"] == split), None)
        if rec is not None:
            out[f"{prefix}loss"] = f"{rec['loss']:.4g}"
            metric = job.select[0]
            if split == "validation" and metric != "loss" and metric in rec:
                out[f"val_{metric}"] = f"{rec[metric]:.4g}"
    return out


def _show_validation(job: Job, rundir: _RunDir, prog: _Progress, bar) -> None:
    """The last validation in the progress bar and, with ``rundir.announce``, as one line:
    ``step 400/2000 validation (500 examples): loss=0.31 accuracy=0.91 | best accuracy=0.92
    @ 200``."""
    rec = prog.history[-1]
    bar.set_postfix(_postfix(job, prog), refresh=False)
    if rundir.announce:
        metrics = " ".join(f"{k}={v:.4g}" for k, v in rec.items()
                           if isinstance(v, float) and k != "step")
        best = prog.best
        tail = f" | best {best['metric']}={best['value']:.4g} @ {best['step']}" if best else ""
        tqdm.write(f"step {prog.step}/{job.cfg['steps']} validation ({rec['examples']} "
                   f"examples): {metrics}{tail}")


def _check_workdir_config(path: str, cfg: dict) -> None:
    """An existing run directory must hold a run of the same config (or none)."""
    if not os.path.exists(path):
        return
    try:
        old = runs.read_json(path)
    except (OSError, ValueError) as e:
        raise ckpt_lib.CheckpointError(f"{path} is unreadable ({e}); the workdir holds a "
                                       "damaged run. Left untouched; use another workdir.") from e
    try:
        diffs = ckpt_lib.diff_fingerprints(schema.fingerprint(old), schema.fingerprint(cfg))
    except (KeyError, TypeError, AttributeError):
        diffs = ["(not an lstmjax config of this version)"]
    if diffs:
        raise ckpt_lib.CheckpointError(
            f"workdir {os.path.dirname(path)} holds a run with another config; differences "
            f"(workdir -> now): {'; '.join(diffs[:8])}. Use another --workdir, or the same "
            "config to resume. Nothing was changed.")


def _finish(job: Job, rundir: _RunDir, prog: _Progress, params, status: str, t_start,
            plots) -> dict:
    cfg, spec = job.cfg, job.spec
    summary = {
        "status": status,
        "step": prog.step,
        "steps": cfg["steps"],
        "task": spec.name,
        "final_eval": prog.final_eval,
        "test": prog.test,
        "best": prog.best,
        "test_at_best": prog.test_at_best,
        "steps_to_solve": prog.solved_at,
        "solved": prog.solved_at is not None,
        "last_validation": next((r for r in reversed(prog.history)
                                 if r["split"] == "validation"), None),
        "final_train": next((r for r in reversed(prog.history) if r["split"] == "train"), None),
        "params_sha256": None if params is None else runs.params_sha256(params),
        "num_params": None if params is None else models.num_params(params),
        "wall_time_s": time.time() - t_start,
        "parallel": cfg["parallel"],
        "devices": [str(d) for d in job.devices],
        "device_info": runs.device_info(),
        "versions": runs.versions(),
        "git_commit": runs.git_commit(),
        "baseline_loss": job.baseline,
        "chance": spec.chance,
        # the input-blind baseline by name: always answer the train split's majority class
        "majority_class": None if spec.majority_class is None or job.labels is None else {
            "label": job.labels[spec.majority_class], "train_rate": spec.chance},
        "seed": cfg["seed"],
        # model.embeddings_path: {"path", "sha256", "format", "dim", "found",
        # "vocabulary_words"} as read at step 0 (None without a file)
        "embeddings": prog.embeddings,
        # model.init_from: [{"workdir", "target", "params", "direction", "layers"
        # (, "embedding_words")}] as read at step 0 (None without it)
        "init_from": prog.init_from,
    }
    if rundir.root is not None and rundir.is_main:
        runs.write_json(rundir.path(runs.SUMMARY), summary)
        if (cfg["plot"] if plots is None else plots) and prog.history:
            try:
                runs.plot_learning_curve(prog.history, rundir.path(runs.CURVE),
                                         title=f"{spec.name}: "
                                               f"{'bi' * job.model.rnn.bidirectional}"
                                               f"{job.model.rnn.cell}, seed {cfg['seed']}")
            except Exception as e:  # noqa: BLE001 - a plot must never lose a run
                print(f"warning: could not draw the learning curve: {e}")
        shown = prog.test_at_best or prog.test  # the parameters `evaluate` uses by default
        if (cfg["plot"] if plots is None else plots) and shown and "confusion" in shown:
            try:
                runs.plot_confusion(shown["confusion"], rundir.path(runs.CONFUSION),
                                    title=f"{spec.name}: {shown['split']} split, "
                                          f"{shown['params']} parameters")
            except Exception as e:  # noqa: BLE001 - a plot must never lose a run
                print(f"warning: could not draw the confusion matrix: {e}")
    summary["history"] = prog.history
    summary["params"] = params
    summary["process_index"] = jax.process_index()  # which process of a job returns it
    return summary
