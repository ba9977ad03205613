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

from lstmjax import errors, inference, runs, schema, train
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
        code = exit_code(e)  # a multi-process job's early exit uses the same table
        if verbose:
            traceback.print_exc()
        message = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        print(f"error: {message}", file=sys.stderr)
        return code


# --------------------------------------------------------------------------- arguments


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


def parse_overrides(items: Sequence[str]) -> dict:
    """``["--config.a.b=value", ...]`` -> ``{"a.b": value}``: the value parsed as JSON when
    it parses (numbers, true/false, null), else taken as a string. Which fields a command
    accepts is :func:`lstmjax.inference.with_overrides`' business."""
    out = {}
    for item in items:
        if not item.startswith("--config.") or "=" not in item:
            raise UsageError(f"unexpected argument {item!r}; overrides look like "
                             "--config.data.test_path=FILE")
        name, text = item[len("--config."):].split("=", 1)
        try:
            out[name] = json.loads(text)
        except json.JSONDecodeError:
            out[name] = text
    return out


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
    if summary.get("process_index", 0) != 0:
        return 0  # one done: line per job, from process 0 (every process has the numbers)
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
    p.add_argument("--params", default="best", choices=inference.WHICH,
                   help="best: the best periodic validation's parameters (else last)")
    p.add_argument("--output", help="also write the metrics as JSON to this file")
    p.add_argument("--data_dir", default=None)
    p.add_argument("--verbose", action="store_true")
    args, overrides = _parse(p, argv)
    return guarded(lambda: _evaluate(args, parse_overrides(overrides)), args.verbose)


def _evaluate(args, overrides: dict) -> int:
    cfg = inference.with_overrides(inference.read_config(args.workdir), overrides)
    check_output(args.output, _data_files(cfg["data"]))
    rec = inference.evaluate(args.workdir, args.split, args.params, overrides=overrides,
                             data_dir=args.data_dir)
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
    p.add_argument("--params", default="best", choices=inference.WHICH)
    p.add_argument("--batch_size", type=int, default=256)
    p.add_argument("--data_dir", default=None)
    p.add_argument("--verbose", action="store_true")
    args, extra = _parse(p, argv)
    fields = tuple(f"--config.data.{f}=" for f in inference.READ_FIELDS)
    bad = [a for a in extra if not a.startswith(fields)]
    if bad:
        p.error(f"unexpected arguments: {bad} (predict reads --config.data."
                f"{{{','.join(inference.READ_FIELDS)}}}=... overrides only)")
    return guarded(lambda: _predict(args, extra), args.verbose)


def _predict(args, overrides: Sequence[str] = ()) -> int:
    if args.batch_size < 1:
        raise UsageError(f"--batch_size={args.batch_size} must be >= 1")
    check_output(args.output, [args.input] if args.input else [])
    run = inference.load_run(args.workdir, args.params)  # the Python API, the same numbers
    tokens = run.spec.input_kind == "tokens"
    if args.text and not tokens:
        raise UsageError("--text needs a run trained on text; give --input FILE.npz")
    fields = {k.split(".")[-1]: v for k, v in parse_overrides(overrides).items()}
    inputs = args.text or run.read(args.input, **fields)
    rows = run.rows(run.outputs(inputs, batch_size=args.batch_size, progress=True),
                    run.encode(inputs)[1])  # per step: each input's own steps only
    _write(rows, args.output, inputs if tokens else None)
    print(f"{len(rows)} predictions with {run.checkpoint} parameters"
          + (f" -> {args.output}" if args.output else ""), file=sys.stderr)
    return 0


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
