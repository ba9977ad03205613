"""The command line: ``python -m lstmjax train | evaluate | predict`` (also installed as
``lstmjax-train``, ``lstmjax-evaluate``, ``lstmjax-predict``).

    python -m lstmjax train --config experiments/configs/adding.py --workdir runs/adding \\
        [--config.seed=1 --config.model.hidden_size=64 ...]
    python -m lstmjax evaluate --workdir runs/tweets --config.data.test_path=other.csv
    python -m lstmjax predict --workdir runs/tweets --text "loved it" [--output out.csv]

One error contract for every command: an expected failure prints ONE line on stderr
(``error: ...``) and exits with a code from :data:`lstmjax.errors.EXIT_CODES` (the one
table from exception type to code, which a multi-process job's processes use too);
``--verbose`` adds the traceback.
"""

from __future__ import annotations

import argparse
import ast
import csv
import io
import json
import os
import signal
import sys
import traceback
from typing import Callable, Sequence

import numpy as np

from lstmjax import checkpoint, data, errors, evaluation, inference, parallel, runs, schema, tasks, train
from lstmjax.errors import EXIT_CODES

class UsageError(ValueError):
    """A bad command line (exit 2)."""


def exit_code(e: BaseException) -> int:
    """The documented exit code of an exception (:func:`lstmjax.errors.exit_code`, the one
    table); an exception it does not know is a bug and is raised again (Python prints its
    traceback and exits with :data:`lstmjax.errors.UNEXPECTED`)."""
    code = errors.exit_code(e)
    if code is None:
        raise e
    return code


def guarded(fn: Callable[[], int | None], verbose: bool) -> int:
    """Run ``fn``; an expected failure becomes one line on stderr and its exit code."""
    try:
        return fn() or 0
    except (Exception, KeyboardInterrupt) as e:  # noqa: BLE001 - mapped or re-raised
        code = exit_code(e)
        parallel.set_exit_code(code)  # the status of a multi-process job's early exit
        if verbose:
            traceback.print_exc()
        message = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        print(f"error: {message}", file=sys.stderr)
        return code


# --------------------------------------------------------------------------- run dirs


def check_workdir(path: str) -> str:
    """Create the run directory; a path that is a file, under a file or not writable is a
    one-line ``RunDirError`` (exit 3)."""
    return runs.check_workdir(path)


def read_run(workdir: str) -> dict:
    """The resolved config of a finished (or running) run directory."""
    return inference.read_config(workdir)


def check_output(path: str | None, reads: Sequence[str] = (), flag: str = "--output") -> None:
    """Refuse an output file that would replace a run's record (:func:`lstmjax.runs.is_record`:
    config, logs, summary, run files, checkpoints) or a file this command reads; checked
    before any work, so a refused command writes nothing."""
    if not path:
        return
    target = os.path.realpath(path)
    for read in reads:
        if read and os.path.realpath(os.path.expanduser(read)) == target:
            raise UsageError(f"{flag}={path} is a file this command reads ({read}); refused "
                             "so that it is not overwritten (nothing was written). Choose "
                             "another output file.")
    run_dir = runs.is_record(path)
    if run_dir is not None:
        raise UsageError(f"{flag}={path} is a record of the run directory {run_dir}; refused "
                         "so that it is not overwritten (nothing was written). Choose another "
                         "file (a new name in the run directory is fine).")
    if os.path.isdir(target):
        raise UsageError(f"{flag}={path} is a directory; give a file name")


def _data_files(data: dict) -> list[str]:
    """The files a data config names (``{split}`` patterns expanded): what a command reads."""
    out = []
    for value in data.values():
        if isinstance(value, str) and value:
            out += [value.replace("{split}", s) for s in ("train", "validation", "test")]
    return sorted(set(out))


def apply_overrides(cfg: dict, overrides: Sequence[str]) -> dict:
    """``--config.a.b=value`` on a resolved config dict: the value is parsed as JSON when
    it parses (numbers, true/false, null), else taken as a string; the field must exist,
    except task fields under ``data`` that the task accepts."""
    out = json.loads(json.dumps(cfg))
    for item in overrides:
        if not item.startswith("--config.") or "=" not in item:
            raise UsageError(f"unexpected argument {item!r}; overrides look like "
                             "--config.data.test_path=FILE")
        name, text = item[len("--config."):].split("=", 1)
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        *parents, leaf = name.split(".")
        node = out
        for p in parents:
            if not isinstance(node.get(p), dict):
                raise UsageError(f"--config.{name}: config has no section {p!r}")
            node = node[p]
        known = leaf in node or (parents == ["data"] and leaf in tasks.fields_of(out["data"]["name"]))
        if not known:
            raise UsageError(f"--config.{name} is not a field of this run's config")
        if parents == ["model"] and leaf not in EXECUTION_FIELDS and value != node[leaf]:
            raise UsageError(
                f"--config.{name}={value!r} would change the trained model (it was trained "
                f"with {leaf}={node[leaf]!r}); evaluate and predict use the run's model as "
                f"trained: retrain to change it. Accepted model overrides (how it runs, not "
                f"what it computes): {sorted(EXECUTION_FIELDS)}")
        node[leaf] = value
    return out


# model fields that choose how the same function is computed, not which function: the
# only model overrides evaluate and predict accept (pooling, cell, sizes... are refused)
EXECUTION_FIELDS = frozenset({"implementation", "form", "unroll", "remat", "chunk"})


# --------------------------------------------------------------------------- train


def train_main(argv: Sequence[str] | None = None) -> int:
    """``lstmjax train``: absl flags with ``--config`` (a config file) and overrides."""
    from absl import app, flags
    from ml_collections import config_flags

    config = config_flags.DEFINE_config_file(
        "config", None, "Path to a config file (experiments/configs/*.py[:arg]).",
        lock_config=True)
    workdir = flags.DEFINE_string("workdir", None, "Run directory (created; resumed if it "
                                  "holds checkpoints of the same config).")
    host_devices = flags.DEFINE_integer(
        "host_devices", 0, "Simulate this many CPU devices (XLA_FLAGS="
        "--xla_force_host_platform_device_count); 0 = leave as is.")
    progress = flags.DEFINE_bool("progress", True, "Show the tqdm progress bar.")
    data_dir = flags.DEFINE_string("data_dir", None, "TFDS data dir for dataset tasks.")
    no_ckpt = flags.DEFINE_bool("no_checkpoints", False, "Do not write checkpoints.")
    verbose = flags.DEFINE_bool("verbose", False, "Print tracebacks of expected failures.")
    result = {"code": 0}

    def main(args):
        if len(args) > 1:
            _fail(f"unexpected arguments: {args[1:]}", 2)
        if not workdir.value:
            _fail("--workdir is required (e.g. --workdir runs/adding)", 2)
        if host_devices.value < 0:
            _fail(f"--host_devices={host_devices.value} is not accepted; accepted: an int >= 0 "
                  "(0 = leave the devices as they are)", 2)
        if host_devices.value:  # before jax initializes its backend
            os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_"
                                       f"platform_device_count={host_devices.value}")
            os.environ.setdefault("JAX_PLATFORMS", "cpu")
        result["code"] = guarded(lambda: _train(config.value, workdir.value, progress.value,
                                                not no_ckpt.value, data_dir.value),
                                 verbose.value or "--verbose" in sys.argv)

    def parse(args):
        try:
            rest = flags.FLAGS(args)
        except Exception as e:  # noqa: BLE001 - absl/config_flags raise many kinds
            msg = _plain_message(e) or type(e).__name__
            if "--verbose" in args:
                traceback.print_exc()
            overrides = [a for a in args[1:] if a.startswith("--config.")]
            if isinstance(e, (KeyError, AttributeError, TypeError, ValueError)) and overrides:
                _fail(f"invalid config override among {overrides}: {type(e).__name__}: {msg}. "
                      "A field must exist in the config file (see docs/training.md) and keep "
                      "its type.", 2)
            _fail(f"invalid command line or config file: {msg}", 2)
        value = config.value
        error = getattr(value, "_error", None)  # config_flags defers a load failure
        if error is not None:
            cause = error.__cause__ or error
            _fail(f"cannot load config file {flags.FLAGS['config'].config_filename}: "
                  f"{type(cause).__name__}: {' '.join(str(cause).split())}", 2)
        if value is None:
            _fail("--config is required (e.g. --config experiments/configs/adding.py)", 2)
        return rest

    argv = list(sys.argv if argv is None else argv)
    if any(a in ("--help", "-h", "-?", "--helpshort") for a in argv[1:]):
        # ours, not absl's: its --help lists none of these flags, --helpfull all of absl's
        print(_train_help(flags.FLAGS, ("config", "workdir", "progress", "no_checkpoints",
                                        "host_devices", "data_dir", "verbose")))
        return 0
    try:
        app.run(main, argv=argv, flags_parser=parse)
    except SystemExit as e:
        if e.code not in (None, 0):
            return int(e.code)
    return result["code"]


def _plain_message(e: BaseException) -> str:
    """An exception's message on one line; ml_collections puts a KeyError's repr (quotes,
    escaped newlines) into its AttributeError: unwrap it."""
    text = str(e)
    try:
        inner = ast.literal_eval(text)
        if isinstance(inner, str):
            text = inner
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        pass
    return " ".join(text.split())


def _train_help(flag_values, names: Sequence[str]) -> str:
    """``lstmjax train --help``: the command, its flags and the config's top-level fields
    (with lstmjax.schema's defaults; a config file may set others)."""
    lines = ["usage: python -m lstmjax train --config FILE.py[:arg] --workdir DIR "
             "[--config.<field>=<value> ...] [flags]", "", "flags:"]
    for name in names:
        flag = flag_values[name]
        default = "" if flag.default is None else f" (default: {flag.default})"
        lines.append(f"  --{name}: {flag.help}{default}")
    lines += ["", "config fields, set as --config.<field>=<value> (defaults of "
              "lstmjax.schema.DEFAULTS; a config file may set others):"]
    for key, value in schema.DEFAULTS.items():
        if key == "data":
            lines.append("  data.<field>: the task's fields, e.g. --config.data.path=FILE "
                         "--config.data.label_column=category (docs/data.md)")
        elif isinstance(value, dict):
            lines.append(f"  {key}.<field>: {', '.join(value)}")
        else:
            lines.append(f"  {key}={value!r}")
    lines += ["", "Each field's meaning and accepted values: docs/training.md. absl's own "
              "flags: --helpfull."]
    return "\n".join(lines)


def _train(config, workdir, progress, checkpoints, data_dir) -> int:
    from absl import logging
    logging.set_verbosity(logging.WARNING)  # orbax logs every save at INFO
    schema.resolve_config(config)  # reject bad values before touching the workdir
    # checked, not created: train.run creates it once the data has loaded, so a missing
    # file or column leaves no empty run directory behind
    runs.check_workdir(workdir, create=False)
    # one line per validation even with --progress=false: never minutes of silence
    summary = train.run(config, workdir, progress=progress, checkpoints=checkpoints,
                        data_dir=data_dir, log_evals=True)
    if summary["status"] == "interrupted":
        name = summary.get("signal") or "SIGINT"
        print(f"interrupted at step {summary['step']} ({name}); checkpoint saved in "
              f"{os.path.join(workdir, 'checkpoints')}. Rerun the same command to resume.",
              file=sys.stderr)
        return 128 + int(signal.Signals[name])
    at_best = summary.get("test_at_best")
    best = (f"; {_describe(at_best)}" if at_best and at_best["step"] != summary["step"]
            else "")
    print(f"done: step {summary['step']} ({summary['status']}); "
          f"{_describe(summary['final_eval'])}; {_describe(summary['test'])}{best}"
          f"{_baseline(summary['test'])}; params_sha256 {summary['params_sha256']}, {summary['wall_time_s']:.1f} s "
          f"-> {workdir}")
    return 0


def _describe(rec: dict | None) -> str:
    """``"last@2000 validation (500 examples): loss=..., accuracy=..."``: which
    parameters, which split, how many examples, the metrics."""
    if not rec:
        return "no evaluation"
    metrics = ", ".join(f"{k}={v:.4g}" for k, v in rec.items()
                        if isinstance(v, float) and k != "step")
    at = f"{rec['params']} " if "params" in rec else ""
    return f"{at}{rec['split']} ({rec['examples']} examples): {metrics}"


def _baseline(rec: dict | None) -> str:
    """``"; majority-class baseline 'ham': accuracy=0.868 on test"`` (classification)."""
    base = (rec or {}).get("majority_baseline")
    if not base:
        return ""
    return (f"; majority-class baseline {base['label']!r}: accuracy={base['accuracy']:.4g} "
            f"on {rec['split']}")


def class_table(rec: dict) -> str:
    """Per-class precision / recall / F1 / support and the confusion matrix, as text."""
    per = rec.get("per_class")
    if not per:
        return ""
    width = max(8, *(len(k) for k in per))
    lines = [f"{'class':<{width}}  precision  recall     f1  support"]
    lines += [f"{name:<{width}}  {m['precision']:9.4f}  {m['recall']:6.4f}  {m['f1']:5.4f}  "
              f"{m['support']:7d}" for name, m in per.items()]
    lines.append(f"{'macro':<{width}}  {'':9}  {'':6}  {rec['macro_f1']:5.4f}  "
                 f"{rec['examples']:7d}")
    conf = rec.get("confusion")
    if conf:
        cell = max(5, *(len(str(v)) for row in conf["matrix"] for v in row),
                   *(len(k) for k in conf["labels"]))
        lines.append(f"confusion (rows: true, columns: predicted)")
        lines.append(" " * width + "  " + " ".join(f"{k:>{cell}}" for k in conf["labels"]))
        lines += [f"{k:<{width}}  " + " ".join(f"{v:>{cell}}" for v in row)
                  for k, row in zip(conf["labels"], conf["matrix"])]
    return "\n".join(lines)


def _fail(message: str, code: int):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(code)


# --------------------------------------------------------------------------- evaluate


def evaluate_main(argv: Sequence[str] | None = None) -> int:
    """``lstmjax evaluate``: score a run's parameters on a whole split."""
    p = argparse.ArgumentParser(prog="lstmjax evaluate", description=evaluate_main.__doc__)
    p.add_argument("--workdir", required=True, help="a training run's directory")
    p.add_argument("--split", default="test", choices=("train", "validation", "test"))
    p.add_argument("--params", default="best", choices=("best", "last"),
                   help="best: the best periodic validation's parameters (else last)")
    p.add_argument("--output", help="also write the metrics as JSON to this file")
    p.add_argument("--data_dir", default=None)
    p.add_argument("--verbose", action="store_true")
    args, overrides = _parse(p, argv)
    return guarded(lambda: _evaluate(args, overrides), args.verbose)


def _evaluate(args, overrides) -> int:
    saved = read_run(args.workdir)
    runs.verify_run_files(args.workdir)  # task, vocabulary, labels as the run wrote them
    cfg = apply_overrides(saved, overrides)
    check_output(args.output, _data_files(cfg["data"]))
    if cfg["data"] == saved["data"] and cfg["data"]["name"] in FILE_TASKS:  # its own files
        _check_data_unchanged(args.workdir, cfg["data"], args.data_dir)
    job = train.build(cfg, args.data_dir)
    # the checkpoints were written under the run's own config, not the overridden one
    params, which = inference.load_params(args.workdir, job.cfg, job.model, args.params,
                                          run_config=saved)
    batches = evaluation.split_batches(job.sources[args.split], job.spec, job.cfg,
                                       job.eval_batch_size, len(job.devices))
    rec = {"split": args.split, "params": which,
           **evaluation.evaluate(job.fns.evaluate, job.fns.evaluate.put_state(params), batches,
                                 job.baseline, **job.report_kwargs())}
    line = json.dumps(rec)
    print(line)
    # for a reader: which parameters and split, then the per-class table (stdout stays
    # the one JSON line that scripts parse)
    table = class_table(rec)
    print(f"{_describe(rec)}{_baseline(rec)}" + (f"\n{table}" if table else ""),
          file=sys.stderr)
    if args.output:
        runs.write_text(args.output, line + "\n")
    return 0


FILE_TASKS = ("text_file", "npz_file")  # tasks whose data fingerprint is {file: sha256}


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


# --------------------------------------------------------------------------- predict


def predict_main(argv: Sequence[str] | None = None) -> int:
    """``lstmjax predict``: labels and class probabilities for new inputs."""
    p = argparse.ArgumentParser(prog="lstmjax predict", description=predict_main.__doc__)
    p.add_argument("--workdir", required=True, help="a training run's directory")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--text", action="append", help="a text to classify (repeatable)")
    src.add_argument("--input", help="a file of inputs: .txt (one text per line), .csv / "
                     ".jsonl (the run's text column, or --config.data.text_column=NAME; also "
                     "--config.data.encoding / delimiter) for text runs; .npz (key x) for "
                     "features")
    p.add_argument("--output", help="write predictions here (.csv or .jsonl); default stdout "
                   "as JSON lines")
    p.add_argument("--params", default="best", choices=("best", "last"))
    p.add_argument("--batch_size", type=int, default=256)
    p.add_argument("--data_dir", default=None)
    p.add_argument("--verbose", action="store_true")
    args, extra = _parse(p, argv)
    bad = [a for a in extra if not a.startswith(tuple(f"--config.data.{f}=" for f in PREDICT_DATA))]
    if bad:
        p.error(f"unexpected arguments: {bad} (predict reads --config.data."
                f"{{{','.join(PREDICT_DATA)}}}=... overrides only)")
    return guarded(lambda: _predict(args, extra), args.verbose)


# how predict reads an input file, as training read its files; the run's values by default
PREDICT_DATA = ("text_column", "encoding", "delimiter")


def _predict(args, overrides: Sequence[str] = ()) -> int:
    if args.batch_size < 1:
        raise UsageError(f"--batch_size={args.batch_size} must be >= 1")
    check_output(args.output, [args.input] if args.input else [])
    runs.verify_run_files(args.workdir)  # task, vocabulary, labels as the run wrote them
    run = inference.load_run(args.workdir, args.params)  # the Python API, the same numbers
    if run.spec.input_kind == "tokens":
        data = apply_overrides(run.config, overrides)["data"]
        texts = args.text if args.text else tasks.read_texts(
            args.input, data.get("text_column", "text"), data.get("encoding", "utf-8"),
            data.get("delimiter"))
        inputs = texts
    elif args.text:
        raise UsageError("--text needs a run trained on text; give --input FILE.npz")
    else:
        texts, inputs = None, _read_features(args.input, run.spec)
    rows = run.rows(run.outputs(inputs, batch_size=args.batch_size, progress=True))
    _write(rows, args.output, texts)
    print(f"{len(rows)} predictions with {run.checkpoint} parameters"
          + (f" -> {args.output}" if args.output else ""), file=sys.stderr)
    return 0


def _read_features(path: str, spec) -> np.ndarray:
    """float32 ``[N, T, D]`` from an npz's ``x`` with the run's D and at most its T."""
    try:
        with np.load(path, allow_pickle=False) as f:
            x = np.asarray(f["x"], np.float32)
    except (OSError, KeyError, ValueError) as e:
        raise tasks.DataError(f"{path}: cannot read key 'x' of an .npz ({e})") from None
    if x.ndim != 3 or x.shape[2] != spec.input_dim or x.shape[1] > spec.max_length:
        raise tasks.DataError(f"{path}: x has shape {x.shape}; this run expects [N, T <= "
                              f"{spec.max_length}, {spec.input_dim}]")
    if not np.isfinite(x).all():
        raise tasks.DataError(f"{path}: x holds NaN or Inf")
    return x


def _write(rows: list[dict], path: str | None, texts=None) -> None:
    if texts is not None:
        rows = [{"text": t, **r} for t, r in zip(texts, rows)]
    if path and path.endswith(".csv"):
        buffer = io.StringIO(newline="")
        w = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else ["label"])
        w.writeheader()
        w.writerows(rows)
        runs.write_text(path, buffer.getvalue())  # atomic: a kill leaves no half file
        return
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    if path:
        runs.write_text(path, text)
    else:
        sys.stdout.write(text)


def _parse(p: argparse.ArgumentParser, argv):
    args, rest = p.parse_known_args(None if argv is None else list(argv)[1:])
    return args, rest


COMMANDS = {"train": train_main, "evaluate": evaluate_main, "predict": predict_main}


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m lstmjax <command> ...``"""
    argv = list(sys.argv if argv is None else argv)
    if len(argv) < 2 or argv[1] not in COMMANDS:
        print(f"usage: python -m lstmjax {{{','.join(COMMANDS)}}} --help\n"
              + "exit codes: " + "; ".join(f"{k} {v}" for k, v in EXIT_CODES.items()),
              file=sys.stderr)
        return 2
    return COMMANDS[argv[1]]([f"lstmjax {argv[1]}"] + argv[2:])


def console(command: str) -> Callable[[], None]:
    """A console-script entry point for ``command``."""
    return lambda: sys.exit(COMMANDS[command]([f"lstmjax-{command}"] + sys.argv[1:]))


train_script, evaluate_script, predict_script = (console(c) for c in COMMANDS)
